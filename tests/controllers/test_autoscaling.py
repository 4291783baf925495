"""The Application Auto Scaling controller on a memory store: the step scaling ActionSink with
hand-made alarm firings, and target tracking passes over hand-made data points."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import pytest

from stowage.controllers.autoscaling import AutoscalingController
from stowage.model import autoscaling as model
from stowage.model.alarm_actions import AUTOSCALING_ARN_PREFIX, ActionFailed, AlarmFiring
from stowage.resources import autoscaling as keys
from stowage.resources import ecs_keys
from stowage.resources.autoscaling import AutoscalingRecords
from stowage.resources.records import Doc, Records
from stowage.resources.services import ServiceRecords
from stowage.store.memory import MemoryStore

ACCOUNT, REGION, CLUSTER, SERVICE = "123456789012", "us-east-1", "prod", "web"
RID = f"service/{CLUSTER}/{SERVICE}"
TARGET = (ACCOUNT, REGION, model.ECS, RID, model.ECS_DIMENSION)


class Points:
    """A PointSource returning whatever the test sets."""

    def __init__(self) -> None:
        self.values: list[tuple[float, float]] = []

    async def points(
        self, account: str, region: str, cluster: str, service: str, *, config: Mapping[str, Any], now: float
    ) -> list[tuple[float, float]]:
        return list(self.values)


class Clock:
    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


Body = Callable[[AutoscalingController, Records, Points, Clock], Awaitable[None]]


def run(body: Body, desired: int = 2, low: int = 1, high: int = 10) -> None:
    async def main() -> None:
        records = Records(MemoryStore())
        await records.put(
            ecs_keys.cluster(ACCOUNT, REGION, CLUSTER), {"clusterName": CLUSTER, "status": "ACTIVE"}
        )
        await ServiceRecords(records).create(
            ACCOUNT,
            REGION,
            CLUSTER,
            {
                "serviceName": SERVICE,
                "status": "ACTIVE",
                "desiredCount": desired,
                "deployments": [{"status": "PRIMARY", "desiredCount": desired}],
            },
        )
        await records.put(
            keys.target_key(*TARGET[:2], model.ECS, RID, model.ECS_DIMENSION),
            {
                "ServiceNamespace": model.ECS,
                "ResourceId": RID,
                "ScalableDimension": model.ECS_DIMENSION,
                "MinCapacity": low,
                "MaxCapacity": high,
                "SuspendedState": {},
            },
        )
        points, clock = Points(), Clock()
        controller = AutoscalingController(records, points, tick=3600, clock=clock)
        await body(controller, records, points, clock)

    asyncio.run(asyncio.wait_for(main(), 30))


async def desired(records: Records) -> tuple[int, int]:
    rec = await ServiceRecords(records).get(ACCOUNT, REGION, CLUSTER, SERVICE)
    assert rec is not None
    return rec.doc["desiredCount"], rec.doc["deployments"][0]["desiredCount"]


async def activities(records: Records) -> list[Doc]:
    recs = await AutoscalingRecords(records).children(
        ACCOUNT, REGION, keys.ACTIVITIES, model.ECS, rid=RID, dim=model.ECS_DIMENSION
    )
    return [r.doc for r in recs]


async def put_policy(records: Records, name: str, doc: Doc) -> str:
    arn = model.policy_arn(REGION, ACCOUNT, model.ECS, RID, name)
    base = {"PolicyName": name, "PolicyARN": arn, "ServiceNamespace": model.ECS, "ResourceId": RID}
    base["ScalableDimension"] = model.ECS_DIMENSION
    await records.put(keys.child_key(TARGET, keys.POLICIES, name), {**base, **doc})
    return arn


STEP_CONFIG = {
    "AdjustmentType": "ChangeInCapacity",
    "Cooldown": 60,
    "StepAdjustments": [
        {"MetricIntervalLowerBound": 0.0, "MetricIntervalUpperBound": 20.0, "ScalingAdjustment": 1},
        {"MetricIntervalLowerBound": 20.0, "ScalingAdjustment": 3},
    ],
}


def firing(value: float | None, threshold: float = 70.0, state: str = "ALARM") -> AlarmFiring:
    return AlarmFiring(
        ACCOUNT,
        REGION,
        "cpu-high",
        f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:cpu-high",
        state,
        "OK",
        True,
        threshold,
        "GreaterThanOrEqualToThreshold",
        value,
        (value or 0.0,),
        10_000.0,
    )


def test_step_sink_applies_the_matching_step_within_the_cooldown() -> None:
    async def body(c: AutoscalingController, records: Records, _p: Points, clock: Clock) -> None:
        arn = await put_policy(
            records, "step-out", {"PolicyType": "StepScaling", "StepScalingPolicyConfiguration": STEP_CONFIG}
        )
        assert arn.startswith(AUTOSCALING_ARN_PREFIX)
        await c.step_sink(arn, firing(95.0))  # breach 25: +3
        assert await desired(records) == (5, 5)
        [act] = await activities(records)
        assert act["Description"] == "Setting desired count to 5."
        assert act["Cause"] == "monitor alarm cpu-high in state ALARM triggered policy step-out"
        assert act["StatusCode"] == "Successful"
        assert (
            act["StatusMessage"]
            == "Successfully set desired count to 5. Change successfully fulfilled by ecs."
        )
        # still in ALARM 30 s later with the same breach: +3 on the 2 before the cooldown = 5, not more
        clock.now += 30
        await c.step_sink(arn, firing(95.0))
        assert await desired(records) == (5, 5)
        # after the 60 s cooldown, the same breach adds 3 again
        clock.now += 31
        await c.step_sink(arn, firing(95.0))
        assert await desired(records) == (8, 8)
        assert len(await activities(records)) == 2

    run(body)


def test_step_sink_ignores_what_it_cannot_use() -> None:
    async def body(c: AutoscalingController, records: Records, _p: Points, _clock: Clock) -> None:
        arn = await put_policy(
            records, "step-out", {"PolicyType": "StepScaling", "StepScalingPolicyConfiguration": STEP_CONFIG}
        )
        with pytest.raises(ActionFailed, match="No scaling policy found"):  # the alarm's history says so
            await c.step_sink(AUTOSCALING_ARN_PREFIX + "nope", firing(95.0))
        await c.step_sink(arn, firing(None, state="INSUFFICIENT_DATA"))
        await c.step_sink(arn, firing(65.0))  # breach -5: no step covers it
        assert await desired(records) == (2, 2)
        assert await activities(records) == []

    run(body)


def test_step_sink_clamps_to_max_and_scales_in() -> None:
    async def body(c: AutoscalingController, records: Records, _p: Points, _clock: Clock) -> None:
        config = {
            "AdjustmentType": "PercentChangeInCapacity",
            "MinAdjustmentMagnitude": 2,
            "StepAdjustments": [{"MetricIntervalUpperBound": 0.0, "ScalingAdjustment": -10}],
        }
        arn = await put_policy(
            records, "step-in", {"PolicyType": "StepScaling", "StepScalingPolicyConfiguration": config}
        )
        await c.step_sink(arn, firing(10.0, threshold=30.0, state="ALARM"))  # -10 % of 6 = -0.6 -> -1 -> -2
        assert await desired(records) == (4, 4)

    run(body, desired=6, low=1, high=6)


def test_target_tracking_pass_scales_out_then_in_with_fresh_points() -> None:
    async def body(c: AutoscalingController, records: Records, points: Points, clock: Clock) -> None:
        config = {
            "TargetValue": 50.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
            "ScaleOutCooldown": 0,
            "ScaleInCooldown": 0,
        }
        alarms = model.tracking_alarms(REGION, ACCOUNT, RID, True)
        await put_policy(
            records,
            "cpu50",
            {
                "PolicyType": "TargetTrackingScaling",
                "Alarms": alarms,
                "TargetTrackingScalingPolicyConfiguration": config,
            },
        )
        points.values = [(clock.now - 30 + 10 * i, 200.0) for i in range(3)]
        await c.run_once()
        assert await desired(records) == (8, 8)  # ceil(2 * 200 / 50)
        [act] = await activities(records)
        assert act["Cause"] == f"monitor alarm {alarms[0]['AlarmName']} in state ALARM triggered policy cpu50"
        assert "AlarmHigh" in act["Cause"]
        # the same (old) points again: nothing, they were acted on
        clock.now += 5
        await c.run_once()
        assert await desired(records) == (8, 8)
        # 15 fresh low points: scale in to ceil(8 * 10 / 50) = 2
        points.values = [(clock.now + 10 * i, 10.0) for i in range(15)]
        clock.now += 200
        await c.run_once()
        assert await desired(records) == (2, 2)
        newest = (await activities(records))[0]
        assert newest["Description"] == "Setting desired count to 2." and "AlarmLow" in newest["Cause"]

    run(body)


def test_service_gone_deregisters_the_target() -> None:
    async def body(c: AutoscalingController, records: Records, _p: Points, _clock: Clock) -> None:
        await put_policy(
            records, "p", {"PolicyType": "StepScaling", "StepScalingPolicyConfiguration": STEP_CONFIG}
        )
        key = ecs_keys.service(ACCOUNT, REGION, CLUSTER, SERVICE)
        await ServiceRecords(records).change(key, lambda d: {**d, "status": "INACTIVE"})
        await c.run_once()
        store = AutoscalingRecords(records)
        assert await store.target(*TARGET) is None
        assert await store.children(ACCOUNT, REGION, keys.POLICIES, model.ECS) == []

    run(body)
