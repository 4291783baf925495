"""Task-definition features in real containers: volumes (host path, task scratch shared between
containers, volumesFrom), environment + environment files, user, working directory, ulimits,
read-only root, init, docker labels, dependsOn and health checks."""

from __future__ import annotations

import pytest

from tests.e2e.stack import Stack
from tests.e2e.test_task_lifecycle import awslogs, busybox

pytestmark = pytest.mark.docker


def test_many_features_in_one_task(stack: Stack) -> None:
    stack.start_agent()
    host_dir = stack.tmp / "hostdata"
    env_file = stack.tmp / "app.env"
    env_file.write_text("# comment\nFROM_FILE=file-value\nA=overridden-by-environment\n")
    group = f"/ecs/{stack.cluster}/features"
    writer = busybox(
        "writer",
        "sh",
        "-c",
        "echo shared-data > /shared/x && echo host-data > /host/h && chmod 644 /shared/x",
        essential=False,
        mountPoints=[
            {"sourceVolume": "scratch", "containerPath": "/shared"},
            {"sourceVolume": "host", "containerPath": "/host"},
        ],
    )
    reader_script = (
        'cat /shared/x; echo "A=$A FROM_FILE=$FROM_FILE"; echo "pwd=$(pwd) uid=$(id -u)"; '
        'echo "nofile=$(ulimit -n)"; touch /rootfs-write 2>/dev/null || echo read-only-root; '
        "echo pid1=$(cat /proc/1/comm); sleep 1000"
    )
    reader = busybox(
        "reader",
        "sh",
        "-c",
        reader_script,
        mountPoints=[{"sourceVolume": "scratch", "containerPath": "/shared", "readOnly": True}],
        environment=[{"name": "A", "value": "from-environment"}],
        environmentFiles=[{"type": "s3", "value": str(env_file)}],
        user="65534",
        workingDirectory="/tmp",
        ulimits=[{"name": "nofile", "softLimit": 1234, "hardLimit": 1234}],
        readonlyRootFilesystem=True,
        linuxParameters={"initProcessEnabled": True},
        dockerLabels={"team": "e2e"},
        healthCheck={"command": ["CMD-SHELL", "test -f /shared/x"], "interval": 5, "startPeriod": 0},
        dependsOn=[{"containerName": "writer", "condition": "SUCCESS"}],
        logConfiguration=awslogs(group),
    )
    borrower = busybox(
        "borrower",
        "sh",
        "-c",
        "cat /shared/x; sleep 1000",
        essential=False,
        volumesFrom=[{"sourceContainer": "reader", "readOnly": True}],
        dependsOn=[{"containerName": "reader", "condition": "HEALTHY"}],
        linuxParameters={"initProcessEnabled": True},
        logConfiguration=awslogs(group),
    )
    td = stack.register(
        "features",
        writer,
        reader,
        borrower,
        volumes=[{"name": "scratch"}, {"name": "host", "host": {"sourcePath": str(host_dir)}}],
    )
    arn = stack.run_task(td)
    tid = arn.rsplit("/", 1)[-1]
    stack.until(lambda: stack.describe(arn)["healthStatus"] == "HEALTHY", "task HEALTHY")

    def reader_lines() -> list[str] | None:
        messages = stack.log_messages(group, f"ecs/reader/{tid}")
        return messages if len(messages) >= 6 else None

    lines = stack.until(reader_lines, "reader output")
    assert lines[:6] == [
        "shared-data",
        "A=from-environment FROM_FILE=file-value",
        "pwd=/tmp uid=65534",
        "nofile=1234",
        "read-only-root",
        "pid1=docker-init",
    ]
    assert (host_dir / "h").read_text() == "host-data\n"
    stack.until(lambda: stack.log_messages(group, f"ecs/borrower/{tid}") == ["shared-data"], "volumesFrom")
    task = stack.describe(arn)
    by_name = {c["name"]: c for c in task["containers"]}
    assert by_name["writer"]["exitCode"] == 0 and by_name["reader"]["healthStatus"] == "HEALTHY"
    assert by_name["borrower"]["lastStatus"] == "RUNNING"
    assert stack.task_containers(arn)["reader"].labels["team"] == "e2e"
    stack.ecs.stop_task(cluster=stack.cluster, task=arn)
    stopped = stack.wait_status(arn, "STOPPED")
    assert {c["name"]: c["exitCode"] for c in stopped["containers"]} == {
        "writer": 0,
        "reader": 143,
        "borrower": 143,
    }
