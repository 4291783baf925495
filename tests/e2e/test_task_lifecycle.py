"""Tasks really run: RunTask through boto3 → the agent → real Docker containers → DescribeTasks
and the Logs API. Marked `docker`: they need a running engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from tests.e2e.stack import Stack
from tests.support.images import TEST_IMAGE

pytestmark = pytest.mark.docker


def busybox(name: str, *command: str, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": name, "image": TEST_IMAGE, "memory": 64, "essential": True}
    if command:
        doc["command"] = list(command)
    doc.update(extra)
    return doc


def awslogs(group: str, prefix: str = "ecs") -> dict[str, Any]:
    return {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": group,
            "awslogs-region": "us-east-1",
            "awslogs-stream-prefix": prefix,
            "awslogs-create-group": "true",
        },
    }


def test_echo_task_runs_stops_and_its_output_is_in_the_logs_api(stack: Stack) -> None:
    stack.start_agent()
    group = f"/ecs/{stack.cluster}/echo"
    td = stack.register(
        "echo",
        busybox("app", "sh", "-c", "echo hello from a real container", logConfiguration=awslogs(group)),
    )
    arn = stack.run_task(td)
    task = stack.wait_status(arn, "STOPPED")
    app = task["containers"][0]
    assert app["runtimeId"] in {s.id for s in stack.task_containers(arn).values()}
    assert app["exitCode"] == 0
    assert task["stopCode"] == "EssentialContainerExited"
    for key in ("pullStartedAt", "pullStoppedAt", "startedAt", "executionStoppedAt", "stoppedAt"):
        assert key in task, key
    assert task["startedAt"] <= task["executionStoppedAt"]
    stream = f"ecs/app/{arn.rsplit('/', 1)[-1]}"
    stack.until(lambda: stack.log_messages(group, stream) == ["hello from a real container"], "echo in logs")
    # ... and through the AWS CLI (v1 here: no `logs tail`, which wraps FilterLogEvents anyway)
    assert stack.server is not None
    aws = os.path.join(os.path.dirname(sys.executable), "aws")
    out = subprocess.run(
        [aws, "logs", "filter-log-events", "--log-group-name", group, "--output", "json"],
        env=stack.server.env(),
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    events = json.loads(out.stdout)["events"]
    assert [(e["logStreamName"], e["message"]) for e in events] == [(stream, "hello from a real container")]


def test_stop_task_sends_sigterm_then_sigkill_after_stop_timeout(stack: Stack) -> None:
    stack.start_agent()
    group = f"/ecs/{stack.cluster}/stop"
    # The trap reports SIGTERM and carries on: only SIGKILL (after stopTimeout) ends it.
    script = "trap 'echo got SIGTERM' TERM; echo started; while true; do sleep 0.2; done"
    td = stack.register(
        "stopper", busybox("app", "sh", "-c", script, stopTimeout=2, logConfiguration=awslogs(group))
    )
    arn = stack.run_task(td)
    stack.wait_status(arn, "RUNNING")
    stream = f"ecs/app/{arn.rsplit('/', 1)[-1]}"
    stack.until(lambda: "started" in stack.log_messages(group, stream), "the task's first line")
    stack.ecs.stop_task(cluster=stack.cluster, task=arn, reason="e2e says stop")
    task = stack.wait_status(arn, "STOPPED")
    assert task["stopCode"] == "UserInitiated"
    assert task["stoppedReason"] == "e2e says stop"
    assert task["containers"][0]["exitCode"] == 137  # SIGKILL, after the grace period
    stack.until(lambda: "got SIGTERM" in stack.log_messages(group, stream), "the SIGTERM trap's line")


def test_essential_container_exit_stops_its_sibling(stack: Stack) -> None:
    stack.start_agent()
    td = stack.register(
        "essential",
        # main starts only once the sidecar runs, so the sidecar is there to be stopped
        busybox(
            "main",
            "sh",
            "-c",
            "sleep 1; exit 3",
            dependsOn=[{"containerName": "sidecar", "condition": "START"}],
        ),
        busybox("sidecar", "sleep", "1000", essential=False, stopTimeout=1),
    )
    arn = stack.run_task(td)
    task = stack.wait_status(arn, "STOPPED")
    by_name = {c["name"]: c for c in task["containers"]}
    assert by_name["main"]["exitCode"] == 3
    assert by_name["sidecar"]["lastStatus"] == "STOPPED"
    assert by_name["sidecar"]["exitCode"] == 137  # sleep as PID 1 ignores SIGTERM
    assert task["stopCode"] == "EssentialContainerExited"
    assert task["stoppedReason"] == "Essential container in task exited"
    assert all(not s.running for s in stack.task_containers(arn).values())


def test_memory_hog_is_oom_killed_with_the_ecs_reason(stack: Stack) -> None:
    stack.start_agent()
    hog = "x=0123456789abcdef; while true; do x=$x$x; done"
    td = stack.register("hog", busybox("hog", "sh", "-c", hog, memory=16))
    arn = stack.run_task(td)
    task = stack.wait_status(arn, "STOPPED")
    container = task["containers"][0]
    assert container["reason"] == "OutOfMemoryError: Container killed due to memory usage"
    assert container["exitCode"] == 137
    assert task["stopCode"] == "EssentialContainerExited"


def test_missing_image_fails_with_cannot_pull_container_error(stack: Stack) -> None:
    stack.start_agent()
    # A registry address that refuses at once: no network needed to fail fast.
    td = stack.register("missing", busybox("app", "true", image="127.0.0.1:9/stowage/nothing:1"))
    arn = stack.run_task(td)
    task = stack.wait_status(arn, "STOPPED")
    assert task["stopCode"] == "TaskFailedToStart"
    reason = task["containers"][0]["reason"]
    assert reason.startswith("CannotPullContainerError:"), reason
    assert task["stoppedReason"].startswith("CannotPullContainerError:")
    assert "pullStartedAt" in task and "startedAt" not in task
    assert stack.task_containers(arn) == {}
