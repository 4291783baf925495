"""The real AWS CLI against Application Auto Scaling, and state surviving a restart."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.api.autoscaling.conftest import Svc
from tests.api.ecs.service_support import FakeHost
from tests.api.ecs.task_support import make_cluster, register_td
from tests.support.server import ServerProcess, start_server


def aws(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "awscli", "application-autoscaling", *args, "--output", "json"],
        capture_output=True,
        text=True,
        env=server.env(),
        timeout=60,
    )


def test_cli(svc: Svc, scaling_server: ServerProcess) -> None:
    rid = svc.resource_id
    common = [
        "--service-namespace",
        "ecs",
        "--resource-id",
        rid,
        "--scalable-dimension",
        "ecs:service:DesiredCount",
    ]
    done = aws(
        scaling_server, "register-scalable-target", *common, "--min-capacity", "1", "--max-capacity", "3"
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ScalableTargetARN"].startswith("arn:aws:application-autoscaling:")
    listed = aws(
        scaling_server, "describe-scalable-targets", "--service-namespace", "ecs", "--resource-ids", rid
    )
    [t] = json.loads(listed.stdout)["ScalableTargets"]
    assert (t["MinCapacity"], t["MaxCapacity"]) == (1, 3)
    missing = aws(scaling_server, "delete-scaling-policy", *common, "--policy-name", "nope")
    assert missing.returncode != 0
    assert (
        "An error occurred (ObjectNotFoundException) when calling the DeleteScalingPolicy operation: "
        f"No scaling policy found for service namespace: ecs, resource ID: {rid}, "
        "scalable dimension: ecs:service:DesiredCount, policy name: nope"
    ) in missing.stderr


def test_records_survive_a_restart(tmp_path: Path) -> None:
    server = start_server(tmp_path / "s", ["--autoscaling-tick", "0.3"])
    try:
        ecs, aas = server.boto3_client("ecs"), server.boto3_client("application-autoscaling")
        cluster = make_cluster(ecs)
        FakeHost(server, ecs, cluster)
        ecs.create_service(
            cluster=cluster,
            serviceName="web",
            taskDefinition=register_td(ecs)["taskDefinitionArn"],
            desiredCount=1,
        )
        target = {
            "ServiceNamespace": "ecs",
            "ResourceId": f"service/{cluster}/web",
            "ScalableDimension": "ecs:service:DesiredCount",
        }
        aas.register_scalable_target(**target, MinCapacity=1, MaxCapacity=2)
        arn = aas.put_scaling_policy(
            **target,
            PolicyName="step",
            PolicyType="StepScaling",
            StepScalingPolicyConfiguration={
                "AdjustmentType": "ChangeInCapacity",
                "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}],
            },
        )["PolicyARN"]
        server.restart()
        aas = server.boto3_client("application-autoscaling")
        [t] = aas.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
        assert (t["ResourceId"], t["MaxCapacity"]) == (target["ResourceId"], 2)
        [p] = aas.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"]
        assert p["PolicyARN"] == arn
    finally:
        server.stop()
