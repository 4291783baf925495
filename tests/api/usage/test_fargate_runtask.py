"""Metering of tasks started through the real FARGATE RunTask path: boto3 RunTask (a launch type
and a FARGATE_SPOT strategy), a pool host played by a fake agent on the real agent API (no
Docker), GetUsage over HTTP, and the ledger as it is on disk once the server has stopped."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from stowage.model.fargate import POOL_CLUSTER
from stowage.resources import ecs_keys
from stowage.resources.records import Records
from stowage.store.sqlite import SqliteStore
from tests.api.ecs.task_support import (
    agent_client,
    make_cluster,
    poll,
    register_instance,
    register_td,
    report,
)
from tests.support.server import ACCOUNT_ID, REGION, ServerProcess, start_server
from tests.support.usage_client import usage_client

NETWORK = {"awsvpcConfiguration": {"subnets": ["subnet-a"], "assignPublicIp": "DISABLED"}}


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = start_server(Path(tmp_path_factory.mktemp("fargate-usage")))
    try:
        yield proc
    finally:
        proc.stop()


def _assigned(agent: Any, host: str, want: int) -> list[dict[str, Any]]:
    for _ in range(200):  # the provisioner places asynchronously; a guard, not a timing check
        tasks: list[dict[str, Any]] = poll(agent, POOL_CLUSTER, host)["tasks"]
        if len(tasks) >= want:
            return tasks
        time.sleep(0.05)
    raise AssertionError(f"the pool host was not given {want} tasks")


def test_fargate_tasks_from_run_task_are_metered(own: ServerProcess) -> None:
    ecs = own.boto3_client("ecs")
    agent = agent_client(own)
    usage = usage_client(own.endpoint)
    attributes = [
        {"name": "ecs.cpu-architecture", "value": "x86_64"},
        {"name": "ecs.availability-zone", "value": "us-east-1a"},
    ]
    host = register_instance(ecs, POOL_CLUSTER, cpu=4096, memory=8192, attributes=attributes)
    host_arn = host["containerInstanceArn"]
    cluster = make_cluster(ecs)
    ecs.put_cluster_capacity_providers(
        cluster=cluster, capacityProviders=["FARGATE", "FARGATE_SPOT"], defaultCapacityProviderStrategy=[]
    )
    td = register_td(
        ecs,
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="512",
        memory="1024",
        containerDefinitions=[{"name": "app", "image": "busybox", "essential": True}],
    )
    [plain] = ecs.run_task(
        cluster=cluster, taskDefinition=td["family"], launchType="FARGATE", networkConfiguration=NETWORK
    )["tasks"]
    [spot] = ecs.run_task(
        cluster=cluster,
        taskDefinition=td["family"],
        capacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT", "weight": 1}],
        overrides={"ephemeralStorage": {"sizeInGiB": 50}},
        networkConfiguration=NETWORK,
    )["tasks"]
    _assigned(agent, host_arn, 2)
    # not pulled yet: nothing to bill
    assert usage.get_usage(cluster=cluster)["total"]["tasks"] == 0
    pulled = time.time() - 3600
    for task in (plain, spot):
        report(agent, POOL_CLUSTER, host_arn, task["taskArn"], "PENDING", pullStartedAt=pulled)
        report(
            agent,
            POOL_CLUSTER,
            host_arn,
            task["taskArn"],
            "RUNNING",
            startedAt=pulled + 5,
            containers=[{"name": "app", "lastStatus": "RUNNING", "runtimeId": "cid"}],
        )
    report(agent, POOL_CLUSTER, host_arn, plain["taskArn"], "STOPPED", stoppedReason="done")

    window = usage.get_usage(cluster=cluster, groupBy="TASK", since=pulled, until=pulled + 1800)
    rows = {r["taskArn"]: r for r in window["rows"]}
    assert rows[plain["taskArn"]]["runningTasks"] == 0 and rows[spot["taskArn"]]["runningTasks"] == 1
    assert rows[plain["taskArn"]]["billedSeconds"] == rows[spot["taskArn"]]["billedSeconds"] == "1800"
    [plain_line] = rows[plain["taskArn"]]["lines"]
    [spot_line] = rows[spot["taskArn"]]["lines"]
    assert (plain_line["architecture"], plain_line["capacityProvider"]) == ("X86_64", "FARGATE")
    assert (spot_line["architecture"], spot_line["capacityProvider"]) == ("X86_64", "FARGATE_SPOT")
    hourly = Decimal("0.5") * Decimal("0.04048") + Decimal("0.004445")  # 0.5 vCPU, 1 GB
    assert Decimal(rows[plain["taskArn"]]["cost"]) == hourly / 2
    assert Decimal(rows[spot["taskArn"]]["cost"]) == (hourly * Decimal("0.3") + 30 * Decimal("0.000111")) / 2
    assert rows[spot["taskArn"]]["storageGbSeconds"] == "54000"  # 30 GB beyond 20, for 1800 s

    whole = usage.get_usage(cluster=cluster, groupBy="TASK")["rows"]
    stopped_row = next(r for r in whole if r["taskArn"] == plain["taskArn"])
    billed = int(stopped_row["billedSeconds"])
    assert billed >= 3600  # pull to stop, whole seconds

    own.stop()
    ledger = asyncio.run(_ledger(own.data_dir))
    assert [d["taskArn"] for d in ledger] == [plain["taskArn"]]
    assert ledger[0]["billedSeconds"] == billed and ledger[0]["capacityProviderName"] == "FARGATE"
    assert (ledger[0]["cpu"], ledger[0]["memory"], ledger[0]["ephemeralStorageGiB"]) == (512, 1024, 20)
    own.start()
    assert usage_client(own.endpoint).get_usage(cluster=cluster)["total"]["tasks"] == 2


async def _ledger(data_dir: Path) -> list[dict[str, Any]]:
    store = SqliteStore(data_dir)
    try:
        recs, _more = await Records(store).list(ecs_keys.usage_ledger(ACCOUNT_ID, REGION))
        return [r.doc for r in recs]
    finally:
        await store.close()
