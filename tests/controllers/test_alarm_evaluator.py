"""The alarm evaluator (controllers/alarms) with a scripted metric and recording action sinks:
each alarm is evaluated once per period at aligned boundaries; a transition invokes the new
state's actions with what a step policy needs; Auto Scaling actions are invoked again at every
evaluation while in ALARM (others are not); ActionsEnabled false silences them; a sink that
raises is recorded as a failed action and evaluation goes on; a reconfigured alarm is not
overwritten by a stale evaluation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from stowage.api.aws.context import RequestContext
from stowage.api.cloudwatch.alarm_config import put_metric_alarm
from stowage.controllers.alarms import AlarmEvaluator
from stowage.controllers.metrics_query import MetricPoints, MetricQuery
from stowage.model.alarm_actions import AUTOSCALING_ARN_PREFIX, AlarmFiring
from stowage.resources.alarms import AlarmRecords
from stowage.resources.records import Records
from stowage.store.memory import MemoryStore

T0 = 1_764_150_600.0
ACCOUNT, REGION = "123456789012", "us-east-1"
SCALING = f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:scalingPolicy:1:resource/ecs/service/c/s:policyName/up"
OTHER = f"arn:aws:sns:{REGION}:{ACCOUNT}:topic"
BROKEN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:broken"


class World:
    def __init__(self) -> None:
        self.now = T0
        self.values: dict[float, float] = {}
        self.queries: list[MetricQuery] = []
        self.fired: list[tuple[str, AlarmFiring]] = []
        self.alarms = AlarmRecords(Records(MemoryStore()))

        async def query(q: MetricQuery) -> MetricPoints:
            self.queries.append(q)
            ts = sorted(t for t in self.values if q.start <= t < q.end)
            return MetricPoints(ts, [self.values[t] for t in ts])

        async def record(arn: str, firing: AlarmFiring) -> None:
            self.fired.append((arn, firing))

        async def broken(arn: str, firing: AlarmFiring) -> None:
            raise RuntimeError("boom")

        sinks = {AUTOSCALING_ARN_PREFIX: record, "arn:aws:sns:": record, "arn:aws:lambda:": broken}
        self.evaluator = AlarmEvaluator(self.alarms, query, sinks, tick=1.0, clock=lambda: self.now)

    def ctx(self) -> RequestContext:
        return RequestContext(ACCOUNT, REGION, "req", "AKIA", f"arn:aws:iam::{ACCOUNT}:root", self.now)

    async def put_alarm(self, **over: Any) -> None:
        params = {
            "AlarmName": "a",
            "Namespace": "App",
            "MetricName": "Depth",
            "Statistic": "Average",
            "Period": 60,
            "EvaluationPeriods": 2,
            "DatapointsToAlarm": 2,
            "Threshold": 10.0,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "AlarmActions": [SCALING, OTHER, BROKEN],
            "OKActions": [OTHER],
            **over,
        }
        await put_metric_alarm(self.alarms, self.ctx(), params)

    async def state(self) -> str:
        rec = await self.alarms.get(ACCOUNT, REGION, "a")
        assert rec is not None
        return str(rec.doc["alarm"]["StateValue"])


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_once_per_period_transitions_and_actions() -> None:
    async def go() -> None:
        w = World()
        await w.put_alarm()
        w.values = {T0 - 120: 12.0, T0 - 60: 15.0}
        assert await w.evaluator.run_once() == 1
        q = w.queries[-1]
        assert (q.start, q.end, q.period, q.stat) == (T0 - 120, T0, 60, "Average")
        assert await w.state() == "ALARM"
        arns = [arn for arn, _ in w.fired]
        assert arns == [SCALING, OTHER]  # the broken sink raised: recorded, not fatal
        firing = w.fired[0][1]
        assert (firing.state, firing.previous_state, firing.transition) == (
            "ALARM",
            "INSUFFICIENT_DATA",
            True,
        )
        assert (firing.value, firing.threshold, firing.recent_datapoints) == (15.0, 10.0, (12.0, 15.0))
        # within the same period: not evaluated again
        w.now = T0 + 30
        assert await w.evaluator.run_once() == 0
        # next period, still breaching: only the Auto Scaling action is invoked again
        w.fired.clear()
        w.values[T0] = 11.0
        w.now = T0 + 61
        assert await w.evaluator.run_once() == 1
        assert [(a, f.transition) for a, f in w.fired] == [(SCALING, False)]
        # back under the threshold for one of two periods: 2 of 2 breaching is impossible → OK
        w.fired.clear()
        w.values[T0 + 60] = 1.0
        w.now = T0 + 121
        await w.evaluator.run_once()
        assert await w.state() == "OK"
        assert [(a, f.state) for a, f in w.fired] == [(OTHER, "OK")]
        history = await w.alarms.history(ACCOUNT, REGION, "a")
        kinds = [(h["HistoryItemType"], h["HistorySummary"]) for h in history]
        assert ("StateUpdate", "Alarm updated from INSUFFICIENT_DATA to ALARM") in kinds
        assert ("StateUpdate", "Alarm updated from ALARM to OK") in kinds
        failed = [s for k, s in kinds if k == "Action" and s.startswith("Failed")]
        assert failed == [f"Failed to execute action {BROKEN}. Received error: boom"]

    run(go())


def test_actions_disabled_and_reconfiguration() -> None:
    async def go() -> None:
        w = World()
        await w.put_alarm(ActionsEnabled=False)
        w.values = {T0 - 120: 12.0, T0 - 60: 15.0}
        await w.evaluator.run_once()
        assert await w.state() == "ALARM" and w.fired == []
        # a reconfiguration between the query and the write wins over the stale evaluation
        w.now = T0 + 61
        w.values[T0] = 0.0
        original = w.evaluator.query

        async def slow(q: MetricQuery) -> MetricPoints:
            got = await original(q)
            await w.put_alarm(Threshold=100.0)
            return got

        w.evaluator.query = slow
        await w.evaluator.run_once()
        rec = await w.alarms.get(ACCOUNT, REGION, "a")
        assert rec is not None
        assert rec.doc["alarm"]["Threshold"] == 100.0 and rec.doc["alarm"]["StateValue"] == "ALARM"

    run(go())


@pytest.mark.parametrize(("treat", "want"), [("missing", "INSUFFICIENT_DATA"), ("breaching", "ALARM")])
def test_no_data(treat: str, want: str) -> None:
    async def go() -> None:
        w = World()
        await w.put_alarm(TreatMissingData=treat, OKActions=[])
        assert await w.evaluator.set_state((ACCOUNT, REGION, "a"), "OK", reason="test", reason_data=None)
        await w.evaluator.run_once()
        assert await w.state() == want

    run(go())


def test_alarm_names_with_slashes_and_history_pruning() -> None:
    async def go() -> None:
        alarms = AlarmRecords(Records(MemoryStore()))
        for name in ("a/b", "a", "a/b/c"):
            await alarms.put(ACCOUNT, REGION, name, {"alarm": {"AlarmName": name}})
        assert [r.doc["alarm"]["AlarmName"] for r in await alarms.in_region(ACCOUNT, REGION)] == [
            "a",
            "a/b",
            "a/b/c",
        ]
        for i in range(5):
            await alarms.add_history(ACCOUNT, REGION, "a", {"Timestamp": T0 + i, "HistorySummary": str(i)})
        await alarms.add_history(ACCOUNT, REGION, "a/b", {"Timestamp": T0, "HistorySummary": "other"})
        assert [h["HistorySummary"] for h in await alarms.history(ACCOUNT, REGION, "a")] == [
            "0",
            "1",
            "2",
            "3",
            "4",
        ]
        # 30 days after the third item: the first three are gone, the other alarm's item untouched
        assert await alarms.prune_history(ACCOUNT, REGION, "a", T0 + 2 + 30 * 86400 + 0.5) == 3
        assert [h["HistorySummary"] for h in await alarms.history(ACCOUNT, REGION, "a")] == ["3", "4"]
        assert len(await alarms.history(ACCOUNT, REGION, None)) == 3

    run(go())
