"""Scalable targets, scaling policies and scheduled actions over real boto3, with AWS's errors."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.api.autoscaling.conftest import Svc
from tests.api.ecs.service_support import drive, steady

DIM = "ecs:service:DesiredCount"


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = exc.value.response["Error"]
    return err["Code"], err["Message"]


def test_register_describe_update_deregister(svc: Svc) -> None:
    arn = svc.aas.register_scalable_target(**svc.target(MinCapacity=1, MaxCapacity=4))["ScalableTargetARN"]
    assert arn.startswith("arn:aws:application-autoscaling:us-east-1:123456789012:scalable-target/")
    [t] = svc.aas.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[svc.resource_id])[
        "ScalableTargets"
    ]
    assert (t["MinCapacity"], t["MaxCapacity"], t["ScalableTargetARN"]) == (1, 4, arn)
    assert t["RoleARN"].endswith("AWSServiceRoleForApplicationAutoScaling_ECSService")
    assert t["SuspendedState"] == {
        "DynamicScalingInSuspended": False,
        "DynamicScalingOutSuspended": False,
        "ScheduledScalingSuspended": False,
    }
    # re-registering updates only what is given, and keeps the ARN
    again = svc.aas.register_scalable_target(
        **svc.target(MaxCapacity=6, SuspendedState={"DynamicScalingInSuspended": True})
    )
    assert again["ScalableTargetARN"] == arn
    [t] = svc.aas.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[svc.resource_id])[
        "ScalableTargets"
    ]
    assert (t["MinCapacity"], t["MaxCapacity"]) == (1, 6)
    assert t["SuspendedState"]["DynamicScalingInSuspended"] is True
    assert t["SuspendedState"]["ScheduledScalingSuspended"] is False
    svc.aas.deregister_scalable_target(**svc.target())
    assert (
        svc.aas.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[svc.resource_id])[
            "ScalableTargets"
        ]
        == []
    )
    with pytest.raises(svc.aas.exceptions.ObjectNotFoundException) as exc:
        svc.aas.deregister_scalable_target(**svc.target())
    assert error(exc)[1] == (
        f"No scalable target registered for service namespace: ecs, resource ID: {svc.resource_id}, "
        f"scalable dimension: {DIM}"
    )


def test_target_errors(svc: Svc) -> None:
    bad = svc.aas.exceptions.ValidationException
    with pytest.raises(bad) as exc:
        svc.aas.register_scalable_target(
            ServiceNamespace="ecs",
            ResourceId=f"service/{svc.cluster}/nope",
            ScalableDimension=DIM,
            MinCapacity=1,
            MaxCapacity=2,
        )
    assert error(exc)[1] == f"ECS service doesn't exist: service/{svc.cluster}/nope"
    with pytest.raises(bad, match="MinCapacity and MaxCapacity must be specified"):
        svc.aas.register_scalable_target(**svc.target(MinCapacity=1))
    with pytest.raises(bad, match="cannot be greater than maximum capacity"):
        svc.aas.register_scalable_target(**svc.target(MinCapacity=5, MaxCapacity=2))
    with pytest.raises(bad, match="Unsupported service namespace"):
        svc.aas.register_scalable_target(
            ServiceNamespace="dynamodb",
            ResourceId="table/t",
            ScalableDimension="dynamodb:table:ReadCapacityUnits",
            MinCapacity=1,
            MaxCapacity=2,
        )
    with pytest.raises(bad, match="failed to satisfy constraint: Member must satisfy enum value set"):
        svc.aas.describe_scalable_targets(ServiceNamespace="nope")
    with pytest.raises(bad, match="Member must have value less than or equal to 50"):
        svc.aas.describe_scalable_targets(ServiceNamespace="ecs", MaxResults=51)
    with pytest.raises(svc.aas.exceptions.InvalidNextTokenException):
        svc.aas.describe_scalable_targets(ServiceNamespace="ecs", NextToken="garbage!")
    with pytest.raises(svc.aas.exceptions.ObjectNotFoundException) as nf:
        svc.aas.put_scaling_policy(
            PolicyName="p",
            PolicyType="TargetTrackingScaling",
            **svc.target(),
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": 50.0,
                "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
            },
        )
    assert error(nf)[1].startswith("No scalable target registered for service namespace: ecs, resource ID:")
    with pytest.raises(svc.aas.exceptions.ObjectNotFoundException):
        svc.aas.put_scheduled_action(
            ScheduledActionName="s",
            Schedule="rate(1 hour)",
            **svc.target(),
            ScalableTargetAction={"MinCapacity": 1},
        )


def test_paging(svc: Svc, scaling_server: Any) -> None:
    for _ in range(2):
        svc.ecs.create_service(
            cluster=svc.cluster,
            serviceName=f"{svc.name}-{_}",
            taskDefinition=svc.ecs.list_task_definitions()["taskDefinitionArns"][0],
            desiredCount=0,
        )
    ids = [svc.resource_id, f"{svc.resource_id}-0", f"{svc.resource_id}-1"]
    for rid in ids:
        svc.aas.register_scalable_target(
            ServiceNamespace="ecs", ResourceId=rid, ScalableDimension=DIM, MinCapacity=0, MaxCapacity=3
        )
    first = svc.aas.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=ids, MaxResults=2)
    assert len(first["ScalableTargets"]) == 2 and first["NextToken"]
    second = svc.aas.describe_scalable_targets(
        ServiceNamespace="ecs", ResourceIds=ids, NextToken=first["NextToken"]
    )
    got = [t["ResourceId"] for t in first["ScalableTargets"] + second["ScalableTargets"]]
    assert sorted(got) == sorted(ids) and "NextToken" not in second
    paginator = svc.aas.get_paginator("describe_scalable_targets")
    pages = list(
        paginator.paginate(ServiceNamespace="ecs", ResourceIds=ids, PaginationConfig={"PageSize": 1})
    )
    assert sum(len(p["ScalableTargets"]) for p in pages) == 3


def test_policies(svc: Svc) -> None:
    svc.aas.register_scalable_target(**svc.target(MinCapacity=1, MaxCapacity=4))
    tracking = {
        "TargetValue": 50.0,
        "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
        "ScaleOutCooldown": 30,
        "ScaleInCooldown": 60,
    }
    put = svc.aas.put_scaling_policy(
        PolicyName="cpu50",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration=tracking,
        **svc.target(),
    )
    assert put["PolicyARN"].startswith("arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:")
    assert put["PolicyARN"].endswith(f":resource/ecs/{svc.resource_id}:policyName/cpu50")
    names = [a["AlarmName"] for a in put["Alarms"]]
    assert [n.split("-Alarm")[0] for n in names] == [f"TargetTracking-{svc.resource_id}"] * 2
    assert "AlarmHigh" in names[0] and "AlarmLow" in names[1]
    # again under the same name, scale-in disabled: same ARN, only the high alarm
    again = svc.aas.put_scaling_policy(
        PolicyName="cpu50",
        PolicyType="TargetTrackingScaling",
        **svc.target(),
        TargetTrackingScalingPolicyConfiguration={**tracking, "DisableScaleIn": True},
    )
    assert again["PolicyARN"] == put["PolicyARN"] and len(again["Alarms"]) == 1
    step = {
        "AdjustmentType": "PercentChangeInCapacity",
        "MinAdjustmentMagnitude": 1,
        "Cooldown": 60,
        "MetricAggregationType": "Average",
        "StepAdjustments": [
            {"MetricIntervalLowerBound": 0.0, "MetricIntervalUpperBound": 15.0, "ScalingAdjustment": 10},
            {"MetricIntervalLowerBound": 15.0, "ScalingAdjustment": 50},
        ],
    }
    svc.aas.put_scaling_policy(
        PolicyName="step", PolicyType="StepScaling", StepScalingPolicyConfiguration=step, **svc.target()
    )
    got = svc.aas.describe_scaling_policies(ServiceNamespace="ecs", ResourceId=svc.resource_id)[
        "ScalingPolicies"
    ]
    by_name = {p["PolicyName"]: p for p in got}
    assert set(by_name) == {"cpu50", "step"}
    assert by_name["cpu50"]["TargetTrackingScalingPolicyConfiguration"]["DisableScaleIn"] is True
    assert by_name["step"]["StepScalingPolicyConfiguration"] == step
    only = svc.aas.describe_scaling_policies(
        ServiceNamespace="ecs", PolicyNames=["step"], ResourceId=svc.resource_id
    )
    assert [p["PolicyName"] for p in only["ScalingPolicies"]] == ["step"]

    bad = svc.aas.exceptions.ValidationException
    overlap = {
        **step,
        "StepAdjustments": [
            {"MetricIntervalLowerBound": 0.0, "MetricIntervalUpperBound": 20.0, "ScalingAdjustment": 1},
            {"MetricIntervalLowerBound": 15.0, "ScalingAdjustment": 2},
        ],
    }
    with pytest.raises(bad, match="must not overlap"):
        svc.aas.put_scaling_policy(
            PolicyName="x", PolicyType="StepScaling", StepScalingPolicyConfiguration=overlap, **svc.target()
        )
    with pytest.raises(bad, match="MinAdjustmentMagnitude is only supported"):
        svc.aas.put_scaling_policy(
            PolicyName="x",
            PolicyType="StepScaling",
            **svc.target(),
            StepScalingPolicyConfiguration={**step, "AdjustmentType": "ChangeInCapacity"},
        )
    with pytest.raises(bad, match="Exactly one of"):
        svc.aas.put_scaling_policy(
            PolicyName="x",
            PolicyType="TargetTrackingScaling",
            **svc.target(),
            TargetTrackingScalingPolicyConfiguration={"TargetValue": 50.0},
        )
    with pytest.raises(bad, match="Unsupported PredefinedMetricType"):
        svc.aas.put_scaling_policy(
            PolicyName="x",
            PolicyType="TargetTrackingScaling",
            **svc.target(),
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": 50.0,
                "PredefinedMetricSpecification": {"PredefinedMetricType": "DynamoDBReadCapacityUtilization"},
            },
        )
    svc.aas.delete_scaling_policy(PolicyName="step", **svc.target())
    with pytest.raises(svc.aas.exceptions.ObjectNotFoundException) as exc:
        svc.aas.delete_scaling_policy(PolicyName="step", **svc.target())
    assert error(exc)[1] == (
        f"No scaling policy found for service namespace: ecs, resource ID: {svc.resource_id}, "
        f"scalable dimension: {DIM}, policy name: step"
    )
    # deregistering the target deletes its policies and scheduled actions
    svc.aas.put_scheduled_action(
        ScheduledActionName="night",
        Schedule="cron(0 22 ? * * *)",
        **svc.target(),
        ScalableTargetAction={"MinCapacity": 1, "MaxCapacity": 2},
    )
    svc.aas.deregister_scalable_target(**svc.target())
    assert (
        svc.aas.describe_scaling_policies(ServiceNamespace="ecs", ResourceId=svc.resource_id)[
            "ScalingPolicies"
        ]
        == []
    )
    assert (
        svc.aas.describe_scheduled_actions(ServiceNamespace="ecs", ResourceId=svc.resource_id)[
            "ScheduledActions"
        ]
        == []
    )


def test_scheduled_action_validation_and_describe(svc: Svc) -> None:
    svc.aas.register_scalable_target(**svc.target(MinCapacity=1, MaxCapacity=4))
    bad = svc.aas.exceptions.ValidationException
    with pytest.raises(bad, match="Invalid cron expression"):
        svc.aas.put_scheduled_action(
            ScheduledActionName="s",
            Schedule="cron(0 8 * * * *)",
            **svc.target(),
            ScalableTargetAction={"MinCapacity": 1},
        )
    with pytest.raises(bad, match="Invalid Timezone"):
        svc.aas.put_scheduled_action(
            ScheduledActionName="s",
            Schedule="cron(0 8 ? * MON *)",
            Timezone="Nowhere/Land",
            **svc.target(),
            ScalableTargetAction={"MinCapacity": 1},
        )
    with pytest.raises(bad) as exc:
        svc.aas.put_scheduled_action(
            ScheduledActionName="s", Schedule="rate(1 hour)", **svc.target(), ScalableTargetAction={}
        )
    assert error(exc)[1] == "At least one of minimum capacity and maximum capacity should be provided"
    svc.aas.put_scheduled_action(
        ScheduledActionName="morning",
        Schedule="cron(0 8 ? * MON-FRI *)",
        Timezone="Europe/Paris",
        **svc.target(),
        ScalableTargetAction={"MinCapacity": 2, "MaxCapacity": 4},
    )
    [a] = svc.aas.describe_scheduled_actions(ServiceNamespace="ecs", ResourceId=svc.resource_id)[
        "ScheduledActions"
    ]
    assert a["Schedule"] == "cron(0 8 ? * MON-FRI *)" and a["Timezone"] == "Europe/Paris"
    assert a["ScalableTargetAction"] == {"MinCapacity": 2, "MaxCapacity": 4}
    assert a["ScheduledActionARN"].endswith(f":resource/ecs/{svc.resource_id}:scheduledActionName/morning")
    svc.aas.delete_scheduled_action(ScheduledActionName="morning", **svc.target())
    with pytest.raises(svc.aas.exceptions.ObjectNotFoundException, match="No scheduled action found"):
        svc.aas.delete_scheduled_action(ScheduledActionName="morning", **svc.target())


def activities(svc: Svc) -> list[dict[str, Any]]:
    return svc.aas.describe_scaling_activities(ServiceNamespace="ecs", ResourceId=svc.resource_id)[  # type: ignore[no-any-return]
        "ScalingActivities"
    ]


def test_raising_min_capacity_scales_the_service(svc: Svc) -> None:
    svc.aas.register_scalable_target(**svc.target(MinCapacity=1, MaxCapacity=5))
    drive([svc.host], lambda: steady(svc.ecs, svc.cluster, svc.name, 1))
    svc.aas.register_scalable_target(**svc.target(MinCapacity=3))
    drive([svc.host], lambda: steady(svc.ecs, svc.cluster, svc.name, 3), within=30)
    [act] = activities(svc)
    assert act["Description"] == "Setting desired count to 3."
    assert act["Cause"] == "minimum capacity was set to 3"
    assert act["StatusCode"] == "Successful"
    assert (
        act["StatusMessage"] == "Successfully set desired count to 3. Change successfully fulfilled by ecs."
    )
    events = [
        e["message"]
        for e in svc.ecs.describe_services(cluster=svc.cluster, services=[svc.name])["services"][0]["events"]
    ]
    assert any(m.startswith(f"(service {svc.name}) has started 2 tasks:") for m in events)


def test_scheduled_action_runs_at_its_time_in_its_zone(svc: Svc) -> None:
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    svc.ecs.update_service(cluster=svc.cluster, service=svc.name, desiredCount=3)
    svc.aas.register_scalable_target(**svc.target(MinCapacity=1, MaxCapacity=5))
    when = (datetime.now(ZoneInfo("Asia/Tokyo")) + timedelta(seconds=3)).strftime("%Y-%m-%dT%H:%M:%S")
    svc.aas.put_scheduled_action(
        ScheduledActionName="shrink",
        Schedule=f"at({when})",
        Timezone="Asia/Tokyo",
        **svc.target(),
        ScalableTargetAction={"MinCapacity": 1, "MaxCapacity": 2},
    )
    drive([svc.host], lambda: steady(svc.ecs, svc.cluster, svc.name, 2), within=30)
    [t] = svc.aas.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[svc.resource_id])[
        "ScalableTargets"
    ]
    assert (t["MinCapacity"], t["MaxCapacity"]) == (1, 2)
    newest, older = activities(svc)[:2]
    assert older["Description"] == "Setting min capacity to 1 and max capacity to 2"
    assert older["Cause"] == "scheduled action name shrink was triggered"
    assert older["StatusMessage"] == "Successfully set min capacity to 1 and max capacity to 2"
    assert newest["Description"] == "Setting desired count to 2."
    assert newest["Cause"] == "maximum capacity was set to 2"
    # it ran once: nothing more happens
    time.sleep(1.0)
    assert len(activities(svc)) == 2


def test_tags(svc: Svc) -> None:
    arn = svc.aas.register_scalable_target(**svc.target(MinCapacity=1, MaxCapacity=2), Tags={"team": "web"})[
        "ScalableTargetARN"
    ]
    assert svc.aas.list_tags_for_resource(ResourceARN=arn)["Tags"] == {"team": "web"}
    svc.aas.tag_resource(ResourceARN=arn, Tags={"env": "prod"})
    svc.aas.untag_resource(ResourceARN=arn, TagKeys=["team"])
    assert svc.aas.list_tags_for_resource(ResourceARN=arn)["Tags"] == {"env": "prod"}
    missing = arn[:-4] + "0000"
    with pytest.raises(svc.aas.exceptions.ResourceNotFoundException):
        svc.aas.list_tags_for_resource(ResourceARN=missing)
