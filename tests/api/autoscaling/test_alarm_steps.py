"""A CloudWatch alarm drives a step scaling policy: PutMetricData breaches the alarm's
threshold, the alarm goes to ALARM and calls the policy (its ARN in AlarmActions), and the
service's desired count follows the step that matches how far the value is past the threshold."""

from __future__ import annotations

import time

from tests.api.autoscaling.conftest import Svc
from tests.api.ecs.service_support import drive, steady
from tests.support.server import ServerProcess


def test_an_alarm_triggers_a_step_policy(svc: Svc, scaling_server: ServerProcess) -> None:
    cw = scaling_server.boto3_client("cloudwatch")
    svc.aas.register_scalable_target(**svc.target(MinCapacity=1, MaxCapacity=6))
    step = {
        "AdjustmentType": "ChangeInCapacity",
        "Cooldown": 600,
        "MetricAggregationType": "Maximum",
        # value - threshold in [0, 50): +1; [50, ...): +3
        "StepAdjustments": [
            {"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 50, "ScalingAdjustment": 1},
            {"MetricIntervalLowerBound": 50, "ScalingAdjustment": 3},
        ],
    }
    policy = svc.aas.put_scaling_policy(
        PolicyName="queue-depth",
        PolicyType="StepScaling",
        StepScalingPolicyConfiguration=step,
        **svc.target(),
    )
    namespace, metric = "Test/Queue", f"Depth-{svc.name}"
    dims = [{"Name": "Service", "Value": svc.name}]
    cw.put_metric_alarm(
        AlarmName=f"deep-queue-{svc.name}", Namespace=namespace, MetricName=metric, Dimensions=dims,
        Statistic="Maximum", Period=10, EvaluationPeriods=1, Threshold=100.0,
        ComparisonOperator="GreaterThanOrEqualToThreshold", AlarmActions=[policy["PolicyARN"]],
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        # 170 is 70 past the threshold: the second step, +3 (1 -> 4)
        datum = {"MetricName": metric, "Dimensions": dims, "Value": 170.0, "StorageResolution": 1}
        cw.put_metric_data(Namespace=namespace, MetricData=[datum])
        if svc.desired() != 1 or time.monotonic() > deadline:
            break
        time.sleep(1)
    drive([svc.host], lambda: steady(svc.ecs, svc.cluster, svc.name, 4), within=30)
    alarm = cw.describe_alarms(AlarmNames=[f"deep-queue-{svc.name}"])["MetricAlarms"][0]
    assert alarm["StateValue"] == "ALARM"
    acts = svc.aas.describe_scaling_activities(ServiceNamespace="ecs", ResourceId=svc.resource_id)
    [act] = acts["ScalingActivities"]
    assert act["Description"] == "Setting desired count to 4."
    assert f"monitor alarm deep-queue-{svc.name} in state ALARM triggered policy queue-depth" in act["Cause"]
    # the cooldown holds: the alarm stays in ALARM and is re-invoked, but nothing more happens
    time.sleep(12)
    assert svc.desired() == 4
    history = cw.describe_alarm_history(AlarmName=f"deep-queue-{svc.name}", HistoryItemType="Action")
    assert history["AlarmHistoryItems"], "the action invocation is in the alarm's history"
