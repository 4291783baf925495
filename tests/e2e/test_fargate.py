"""FARGATE on real Docker: a task runs with no container instance of the user's, on a pool host
(`stowage agent --fargate`), in its own network namespace with its own address; its containers
share localhost, other tasks cannot reach it there; a full pool makes tasks wait PROVISIONING;
a Spot interruption stops a service's FARGATE_SPOT task with SpotInterruption and the service
replaces it."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.stack import Stack
from tests.e2e.test_task_lifecycle import awslogs, busybox
from tests.support.server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY
from tests.support.usage_client import usage_client

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
    # The whole task is one cgroup of the task's size.
    attrs = {a["name"]: a.get("value") for a in stack.describe(arn)["attributes"]}
    assert attrs["stowage.isolation.scope"] == "TASK", attrs
    parent = str(attrs["stowage.isolation.cgroup-parent"]).strip("/")
    if Path("/sys/fs/cgroup/cgroup.controllers").exists():  # cgroup v2
        limit = Path("/sys/fs/cgroup", parent, "memory.max").read_text().strip()
    else:
        limit = Path("/sys/fs/cgroup/memory", parent, "memory.limit_in_bytes").read_text().strip()
    assert int(limit) == 512 << 20

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


def test_short_fargate_task_is_billed_one_minute(stack: Stack) -> None:
    assert stack.server is not None
    stack.start_agent("pool", "--fargate", "--cpu-units", "1024", "--memory-mib", "2048")
    td = _fargate(stack, "billed", busybox("app", "sleep", "2"), cpu="512", memory="1024")
    arn = stack.ecs.run_task(
        cluster=stack.cluster, taskDefinition=td, launchType="FARGATE", networkConfiguration=NETWORK
    )["tasks"][0]["taskArn"]
    task = stack.wait_status(arn, "STOPPED")
    ran = task["stoppedAt"] - task["pullStartedAt"]
    assert ran.total_seconds() < 60
    usage = usage_client(stack.server.endpoint)
    [row] = stack.until(
        lambda: usage.get_usage(cluster=stack.cluster, groupBy="TASK")["rows"] or None, "the task's usage"
    )
    assert row["taskArn"] == arn and row["billedSeconds"] == "60"
    hourly = Decimal("0.5") * Decimal("0.04048") + Decimal("1") * Decimal("0.004445")
    assert Decimal(row["cost"]) == (hourly / 60).quantize(Decimal("1e-10"))  # the API's 10 places
    bill = subprocess.run(
        [sys.executable, "-m", "stowage.cli.main", "bill", "--endpoint", stack.server.endpoint,
         "--cluster", stack.cluster, "--by", "task", "--output", "json"],
        capture_output=True, text=True, check=True, env=_aws_env(),
    )  # fmt: skip
    assert arn in bill.stdout and "60" in bill.stdout


def _aws_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY, AWS_DEFAULT_REGION=REGION
    )
    return env


def test_mixed_spot_service_keeps_proportions_and_replaces_an_interrupted_task(stack: Stack) -> None:
    assert stack.server is not None
    stack.start_agent("pool", "--fargate", "--cpu-units", "2048", "--memory-mib", "4096")
    stack.ecs.put_cluster_capacity_providers(
        cluster=stack.cluster,
        capacityProviders=["FARGATE", "FARGATE_SPOT"],
        defaultCapacityProviderStrategy=[],
    )
    td = _fargate(
        stack, "mixed", busybox("app", "sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait", stopTimeout=2)
    )
    stack.ecs.create_service(
        cluster=stack.cluster,
        serviceName="mixed",
        taskDefinition=td,
        desiredCount=4,
        capacityProviderStrategy=[
            {"capacityProvider": "FARGATE", "base": 1, "weight": 1},
            {"capacityProvider": "FARGATE_SPOT", "weight": 2},
        ],
        networkConfiguration=NETWORK,
    )

    def running() -> list[dict[str, Any]] | None:
        arns = stack.ecs.list_tasks(cluster=stack.cluster, serviceName="mixed")["taskArns"]
        tasks = stack.ecs.describe_tasks(cluster=stack.cluster, tasks=arns)["tasks"] if arns else []
        live = [t for t in tasks if t["lastStatus"] == "RUNNING"]
        return live if len(live) == 4 else None

    tasks = stack.until(running, "4 running tasks")
    # base 1 on FARGATE, then 3 split 1:2
    assert Counter(t["capacityProviderName"] for t in tasks) == {"FARGATE": 2, "FARGATE_SPOT": 2}
    admin = usage_client(stack.server.endpoint)
    [victim] = admin.reclaim_spot_capacity(cluster=stack.cluster, count=1)["interruptedTasks"]
    stopped = stack.wait_status(victim, "STOPPED")
    assert stopped["stopCode"] == "SpotInterruption"
    assert stopped["containers"][0]["exitCode"] == 0  # SIGTERM reached it: a clean exit
    replaced = stack.until(
        lambda: (live := running()) is not None and victim not in {t["taskArn"] for t in live} and live,
        "the interrupted task replaced",
    )
    assert Counter(t["capacityProviderName"] for t in replaced) == {"FARGATE": 2, "FARGATE_SPOT": 2}
    stack.ecs.delete_service(cluster=stack.cluster, service="mixed", force=True)
