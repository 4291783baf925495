"""Target tracking on real Docker: busybox tasks burning CPU scale their service out, and back
in when the burn stops.

Each task reserves 256 CPU units (a quarter core) and, while ``/ctl/burn`` exists on the host
directory bind-mounted into it, spins a full core: about 400 % of its reservation (on this
2-core machine three tasks share two cores: still ~260 %). The policy tracks 50 % CPU, so one
burning task asks for ceil(1 x 400 / 50) = 8 tasks, clamped to MaxCapacity 3. Removing the file
stops every burn at once; after 15 data points below 45 % the service goes back to
MinCapacity 1. The server runs with ``--autoscaling-tick 1 --autoscaling-metric-period 1``: one
data point per second from the raw task series (agents sample every second here), instead of
AWS's one-minute metrics.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.stack import Stack
from tests.support.images import TEST_IMAGE
from tests.support.server import start_server

BURN = "while true; do while [ -f /ctl/burn ]; do :; done; sleep 0.2; done"


@pytest.fixture()
def scaling_stack(e2e_images: None, tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(tmp_path)
    try:
        stack.server = start_server(
            tmp_path / "server", ["--autoscaling-tick", "1", "--autoscaling-metric-period", "1"]
        )
        stack.ecs = stack.server.boto3_client("ecs")
        stack.logs = stack.server.boto3_client("logs")
        stack.ecs.create_cluster(clusterName=stack.cluster)
        stack.start_agent("a")
        yield stack
    finally:
        stack.close()


def service(stack: Stack, name: str) -> dict[str, Any]:
    return dict(stack.ecs.describe_services(cluster=stack.cluster, services=[name])["services"][0])


def test_cpu_burn_scales_out_and_back_in(scaling_stack: Stack, tmp_path: Path) -> None:
    stack = scaling_stack
    assert stack.server is not None
    ctl = tmp_path / "ctl"
    ctl.mkdir()
    (ctl / "burn").write_text("")
    td = stack.register(
        "burner",
        {
            "name": "burn",
            "image": TEST_IMAGE,
            "command": ["sh", "-c", BURN],
            "cpu": 256,
            "memory": 64,
            "mountPoints": [{"sourceVolume": "ctl", "containerPath": "/ctl"}],
        },
        volumes=[{"name": "ctl", "host": {"sourcePath": str(ctl)}}],
    )
    stack.ecs.create_service(cluster=stack.cluster, serviceName="web", taskDefinition=td, desiredCount=1)
    aas = stack.server.boto3_client("application-autoscaling")
    target = {
        "ServiceNamespace": "ecs",
        "ResourceId": f"service/{stack.cluster}/web",
        "ScalableDimension": "ecs:service:DesiredCount",
    }
    aas.register_scalable_target(**target, MinCapacity=1, MaxCapacity=3)
    policy = aas.put_scaling_policy(
        **target,
        PolicyName="cpu50",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 50.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
            "ScaleOutCooldown": 60,
            "ScaleInCooldown": 60,
        },
    )
    high, low = (a["AlarmName"] for a in policy["Alarms"])

    def running(n: int) -> dict[str, Any] | None:
        s = service(stack, "web")
        return s if s["desiredCount"] == n and s["runningCount"] == n else None

    stack.until(lambda: running(1), "one burning task", within=60)
    stack.until(lambda: running(3), "scaled out to 3 running tasks", within=60)
    out = aas.describe_scaling_activities(ServiceNamespace="ecs", ResourceId=target["ResourceId"])[
        "ScalingActivities"
    ]
    assert [a["Description"] for a in out] == ["Setting desired count to 3."]
    assert out[0]["Cause"] == f"monitor alarm {high} in state ALARM triggered policy cpu50"
    assert out[0]["StatusCode"] == "Successful"

    (ctl / "burn").unlink()
    # scale-in waits for 15 periods below 90% of the target (AWS's conservative rule)
    stack.until(lambda: running(1), "scaled back in to 1 task", within=120)
    acts = aas.describe_scaling_activities(ServiceNamespace="ecs", ResourceId=target["ResourceId"])[
        "ScalingActivities"
    ]
    assert [a["Description"] for a in acts] == ["Setting desired count to 1.", "Setting desired count to 3."]
    assert acts[0]["Cause"] == f"monitor alarm {low} in state ALARM triggered policy cpu50"
    events = [e["message"] for e in service(stack, "web")["events"]]
    assert any(m.startswith("(service web) has started 2 tasks:") for m in events)
    assert any(m.startswith("(service web) has stopped 2 running tasks:") for m in events)
