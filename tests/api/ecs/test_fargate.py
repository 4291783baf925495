"""FARGATE over real HTTP with boto3: launch types and capacity provider strategies, ECS's
Fargate checks, tasks waiting PROVISIONING for pool capacity and placed when it frees, the
pool hidden from user clusters, services split over FARGATE and FARGATE_SPOT.

The pool's hosts here are fake agents (the real APIs, no Docker); tests/e2e/test_fargate.py
runs the same on real containers. The module has its own server: the pool is per account, and
a pool host left by another test would take these tasks.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from stowage.model.fargate import POOL_CLUSTER
from tests.api.ecs.task_support import (
    agent_client,
    code,
    describe,
    make_cluster,
    poll,
    register_instance,
    register_td,
    report,
    run_to_running,
    unique,
)
from tests.support.server import ServerProcess, start_server
from tests.support.usage_client import usage_client

NETWORK = {"awsvpcConfiguration": {"subnets": ["subnet-a"], "assignPublicIp": "DISABLED"}}


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = start_server(Path(tmp_path_factory.mktemp("fargate")))
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def ecs(own: ServerProcess) -> Any:
    return own.boto3_client("ecs")


@pytest.fixture()
def pool(ecs: Any) -> Iterator[list[str]]:
    """Pool hosts a test registers (their ARNs); deregistered (forced) when it ends."""
    hosts: list[str] = []
    yield hosts
    for arn in hosts:
        ecs.deregister_container_instance(cluster=POOL_CLUSTER, containerInstance=arn, force=True)


def _pool_host(ecs: Any, hosts: list[str], cpu: int = 4096, memory: int = 8192) -> str:
    attributes = [
        {"name": "ecs.cpu-architecture", "value": "x86_64"},
        {"name": "ecs.availability-zone", "value": "us-east-1a"},
    ]
    registered = register_instance(ecs, POOL_CLUSTER, cpu=cpu, memory=memory, attributes=attributes)
    arn = str(registered["containerInstanceArn"])
    hosts.append(arn)
    return arn


def _fargate_td(ecs: Any, cpu: str = "256", memory: str = "512", **kwargs: Any) -> dict[str, Any]:
    return register_td(
        ecs,
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu=cpu,
        memory=memory,
        containerDefinitions=[{"name": "app", "image": "busybox", "essential": True}],
        **kwargs,
    )


def _assigned(agent: Any, host: str, want: int, within: float = 10.0) -> list[dict[str, Any]]:
    """The pool host's assignments once it has ``want`` tasks (the provisioner is async)."""
    deadline = time.monotonic() + within
    while True:
        tasks: list[dict[str, Any]] = poll(agent, POOL_CLUSTER, host)["tasks"]
        if len(tasks) >= want or time.monotonic() > deadline:
            return tasks
        time.sleep(0.05)


def test_fargate_task_runs_on_the_pool_with_no_instance_of_its_own(
    own: ServerProcess, ecs: Any, pool: list[str]
) -> None:
    cluster = make_cluster(ecs)
    td = _fargate_td(ecs)
    task = ecs.run_task(
        cluster=cluster, taskDefinition=td["family"], launchType="FARGATE", networkConfiguration=NETWORK
    )
    assert task["failures"] == []
    [t] = task["tasks"]
    assert t["lastStatus"] == "PROVISIONING" and t["launchType"] == "FARGATE"
    assert t["platformVersion"] == "1.4.0" and t["platformFamily"] == "Linux"
    assert t["ephemeralStorage"] == {"sizeInGiB": 20}
    assert "containerInstanceArn" not in t
    assert t["attachments"][0]["type"] == "ElasticNetworkInterface"
    # no pool host yet: it waits instead of failing
    time.sleep(0.3)
    assert describe(ecs, cluster, t["taskArn"])["lastStatus"] == "PROVISIONING"

    host = _pool_host(ecs, pool)
    agent = agent_client(own)
    [assigned] = _assigned(agent, host, 1)
    assert assigned["taskArn"] == t["taskArn"] and "spec" in assigned
    run_to_running(agent, POOL_CLUSTER, host, t["taskArn"])
    seen = describe(ecs, cluster, t["taskArn"])
    assert seen["lastStatus"] == "RUNNING" and "containerInstanceArn" not in seen
    assert seen["availabilityZone"]
    # the pool is nobody's cluster: not listed, its hosts not in the task's cluster
    assert not any(POOL_CLUSTER in a for a in ecs.list_clusters()["clusterArns"])
    assert ecs.list_container_instances(cluster=cluster)["containerInstanceArns"] == []
    counts = ecs.describe_clusters(clusters=[cluster])["clusters"][0]
    assert counts["runningTasksCount"] == 1
    # EC2 tasks never use pool capacity
    ec2_td = register_td(ecs)
    with pytest.raises(ClientError) as exc:
        ecs.run_task(cluster=cluster, taskDefinition=ec2_td["family"])
    assert "No Container Instances were found" in str(exc.value)
    report(agent, POOL_CLUSTER, host, t["taskArn"], "STOPPED", stoppedReason="done")
    assert describe(ecs, cluster, t["taskArn"])["lastStatus"] == "STOPPED"


def test_full_pool_keeps_tasks_provisioning_until_capacity_frees(
    own: ServerProcess, ecs: Any, pool: list[str]
) -> None:
    cluster = make_cluster(ecs)
    td = _fargate_td(ecs)
    host = _pool_host(ecs, pool, cpu=256, memory=512)  # room for exactly one task
    agent = agent_client(own)
    first = ecs.run_task(
        cluster=cluster, taskDefinition=td["family"], launchType="FARGATE", networkConfiguration=NETWORK
    )["tasks"][0]
    second = ecs.run_task(
        cluster=cluster, taskDefinition=td["family"], launchType="FARGATE", networkConfiguration=NETWORK
    )["tasks"][0]
    [assigned] = _assigned(agent, host, 1)
    assert assigned["taskArn"] == first["taskArn"]
    time.sleep(0.3)
    assert describe(ecs, cluster, second["taskArn"])["lastStatus"] == "PROVISIONING"
    run_to_running(agent, POOL_CLUSTER, host, first["taskArn"])
    report(agent, POOL_CLUSTER, host, first["taskArn"], "STOPPED")
    arns = [a["taskArn"] for a in _assigned(agent, host, 2)]
    assert second["taskArn"] in arns
    # a waiting task stopped by the user stops at once: no agent has it
    third = ecs.run_task(
        cluster=cluster, taskDefinition=td["family"], launchType="FARGATE", networkConfiguration=NETWORK
    )["tasks"][0]
    stopped = ecs.stop_task(cluster=cluster, task=third["taskArn"], reason="never mind")["task"]
    assert stopped["lastStatus"] == "STOPPED" and stopped["stoppedReason"] == "never mind"


def test_capacity_provider_strategy_splits_by_base_and_weight(ecs: Any, pool: list[str]) -> None:
    cluster = make_cluster(ecs)
    td = _fargate_td(ecs)
    with pytest.raises(ClientError) as exc:  # not associated with the cluster yet
        ecs.run_task(
            cluster=cluster,
            taskDefinition=td["family"],
            capacityProviderStrategy=[{"capacityProvider": "FARGATE"}],
            networkConfiguration=NETWORK,
        )
    assert code(exc) == "InvalidParameterException"
    ecs.put_cluster_capacity_providers(
        cluster=cluster,
        capacityProviders=["FARGATE", "FARGATE_SPOT"],
        defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT", "weight": 1}],
    )
    strategy = [
        {"capacityProvider": "FARGATE", "base": 2, "weight": 1},
        {"capacityProvider": "FARGATE_SPOT", "weight": 3},
    ]
    tasks = ecs.run_task(
        cluster=cluster,
        taskDefinition=td["family"],
        count=10,
        capacityProviderStrategy=strategy,
        networkConfiguration=NETWORK,
    )["tasks"]
    # base 2 on FARGATE, the other 8 split 1:3
    assert Counter(t["capacityProviderName"] for t in tasks) == {"FARGATE": 4, "FARGATE_SPOT": 6}
    # neither a launch type nor a strategy: the cluster's default strategy
    [default] = ecs.run_task(cluster=cluster, taskDefinition=td["family"], networkConfiguration=NETWORK)[
        "tasks"
    ]
    assert default["capacityProviderName"] == "FARGATE_SPOT" and default["launchType"] == "FARGATE"
    for t in [*tasks, default]:
        ecs.stop_task(cluster=cluster, task=t["taskArn"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"overrides": {"cpu": "256", "memory": "4096"}},
            "No Fargate configuration exists for given values: 256 CPU, 4096 memory",
        ),
        ({"networkConfiguration": None}, "Network Configuration must be provided"),
        ({"platformVersion": "9.9.9"}, "platform version (9.9.9) does not exist"),
        ({"placementStrategy": [{"type": "random"}]}, "Placement strategies are not supported"),
        ({"launchType": "EC2", "platformVersion": "1.4.0"}, "platform version must be null"),
        ({"capacityProviderStrategy": [{"capacityProvider": "FARGATE"}]}, "Specifying both a launch type"),
        ({"overrides": {"ephemeralStorage": {"sizeInGiB": 500}}}, "between 21 and 200 GiB"),
    ],
)
def test_fargate_requests_ecs_rejects(ecs: Any, kwargs: dict[str, Any], message: str) -> None:
    cluster = make_cluster(ecs)
    td = _fargate_td(ecs)
    params: dict[str, Any] = {
        "cluster": cluster,
        "taskDefinition": td["family"],
        "launchType": "FARGATE",
        "networkConfiguration": NETWORK,
    }
    for key, value in kwargs.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    if "launchType" in kwargs and kwargs["launchType"] == "EC2":
        params.pop("networkConfiguration")
        td = register_td(ecs)
        params["taskDefinition"] = td["family"]
    with pytest.raises(ClientError) as exc:
        ecs.run_task(**params)
    assert code(exc) == "InvalidParameterException"
    assert message in exc.value.response["Error"]["Message"]


def test_definition_that_cannot_run_on_fargate_is_refused(ecs: Any) -> None:
    cluster = make_cluster(ecs)
    td = register_td(ecs, family=unique("bridge"))
    with pytest.raises(ClientError) as exc:
        ecs.run_task(cluster=cluster, taskDefinition=td["family"], launchType="FARGATE")
    assert exc.value.response["Error"]["Message"] == "Task definition does not support launch_type FARGATE."


def test_service_on_a_mixed_strategy_keeps_its_proportions(
    own: ServerProcess, ecs: Any, pool: list[str]
) -> None:
    cluster = make_cluster(ecs)
    ecs.put_cluster_capacity_providers(
        cluster=cluster, capacityProviders=["FARGATE", "FARGATE_SPOT"], defaultCapacityProviderStrategy=[]
    )
    td = _fargate_td(ecs)
    host = _pool_host(ecs, pool)
    name = unique("svc")
    service = ecs.create_service(
        cluster=cluster,
        serviceName=name,
        taskDefinition=td["family"],
        desiredCount=5,
        capacityProviderStrategy=[
            {"capacityProvider": "FARGATE", "base": 1, "weight": 1},
            {"capacityProvider": "FARGATE_SPOT", "weight": 1},
        ],
        networkConfiguration=NETWORK,
    )["service"]
    assert service["capacityProviderStrategy"][0]["base"] == 1
    assert service["platformVersion"] == "LATEST"
    agent = agent_client(own)
    assigned = _assigned(agent, host, 5)
    assert len(assigned) == 5
    arns = ecs.list_tasks(cluster=cluster, serviceName=name)["taskArns"]
    tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"]
    assert Counter(t["capacityProviderName"] for t in tasks) == {"FARGATE": 3, "FARGATE_SPOT": 2}
    with pytest.raises(ClientError) as exc:
        ecs.create_service(
            cluster=cluster,
            serviceName=unique("daemon"),
            taskDefinition=td["family"],
            schedulingStrategy="DAEMON",
            launchType="FARGATE",
            networkConfiguration=NETWORK,
        )
    assert code(exc) == "InvalidParameterException"
    ecs.delete_service(cluster=cluster, service=name, force=True)


def test_spot_reclaim_interrupts_a_spot_task_and_its_service_replaces_it(
    own: ServerProcess, ecs: Any, pool: list[str]
) -> None:
    cluster = make_cluster(ecs)
    ecs.put_cluster_capacity_providers(
        cluster=cluster,
        capacityProviders=["FARGATE", "FARGATE_SPOT"],
        defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT", "weight": 1}],
    )
    td = _fargate_td(ecs)
    host = _pool_host(ecs, pool)
    agent = agent_client(own)
    name = unique("spot")
    ecs.create_service(
        cluster=cluster,
        serviceName=name,
        taskDefinition=td["family"],
        desiredCount=2,
        networkConfiguration=NETWORK,
    )
    first = _assigned(agent, host, 2)
    for a in first:
        run_to_running(agent, POOL_CLUSTER, host, a["taskArn"])
    admin = usage_client(own.endpoint)
    with pytest.raises(ClientError) as exc:
        admin.reclaim_spot_capacity(cluster="no such cluster!")
    assert code(exc) == "InvalidParameterException"
    [victim] = admin.reclaim_spot_capacity(cluster=cluster, count=1)["interruptedTasks"]
    task = describe(ecs, cluster, victim)
    assert task["desiredStatus"] == "STOPPED" and task["stopCode"] == "SpotInterruption"
    assert task["stoppedReason"] == "Your Spot Task was interrupted." and "stoppingAt" in task
    # the agent is told to stop it (SIGTERM, then SIGKILL after the stop timeout), and reports it
    assert any(a["taskArn"] == victim and a["desiredStatus"] == "STOPPED" for a in _assigned(agent, host, 2))
    report(agent, POOL_CLUSTER, host, victim, "STOPPED")
    deadline = time.monotonic() + 10
    while (
        len(ecs.list_tasks(cluster=cluster, serviceName=name)["taskArns"]) < 2 and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    live = set(ecs.list_tasks(cluster=cluster, serviceName=name)["taskArns"])
    assert len(live) == 2 and victim not in live
    events = [
        e["message"] for e in ecs.describe_services(cluster=cluster, services=[name])["services"][0]["events"]
    ]
    assert any("two-minute warning" in m and victim.rsplit("/", 1)[-1] in m for m in events)
    ecs.delete_service(cluster=cluster, service=name, force=True)
