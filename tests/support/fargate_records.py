"""Fargate-shaped task records written as placement and the agent's reports would write them.

The FARGATE RunTask path is built separately; until a test can run a real Fargate task, these
helpers create the record a placed Fargate task has (through the resources layer) and move it
through the lifecycle with ``model.tasks.apply_report``, the function every agent report goes
through, so ``pullStartedAt``/``stoppedAt`` are set exactly as in production.
"""

from __future__ import annotations

from typing import Any

from stowage.model import tasks as task_model
from stowage.model.agent_tasks import TaskNetwork, TaskSpec
from stowage.model.arns import cluster_arn, task_arn
from stowage.resources import ecs_keys
from stowage.resources.records import Record, Records
from stowage.resources.tasks import TaskRecords

ACCOUNT = "123456789012"
REGION = "us-east-1"
POOL = "stowage.fargate-pool"


def fargate_task(
    cluster: str,
    task_id: str,
    *,
    cpu: int = 1024,
    memory: int = 2048,
    storage: int | None = None,
    arch: str | None = "x86_64",
    td_arch: str | None = None,
    provider: str | None = None,
    group: str | None = None,
    created_at: float = 1_800_000_000.0,
    account: str = ACCOUNT,
    region: str = REGION,
    launch_type: str = "FARGATE",
) -> tuple[str, dict[str, Any]]:
    """(store key, record) of a Fargate task placed on a pool host, still PROVISIONING."""
    td: dict[str, Any] = {
        "taskDefinitionArn": f"arn:aws:ecs:{region}:{account}:task-definition/fam:1",
        "family": "fam",
        "revision": 1,
        "networkMode": "awsvpc",
        "containerDefinitions": [{"name": "app", "image": "busybox"}],
    }
    if td_arch is not None:
        td["runtimePlatform"] = {"cpuArchitecture": td_arch, "operatingSystemFamily": "LINUX"}
    arn = task_arn(region, account, cluster, task_id)
    spec = TaskSpec(
        task_arn=arn,
        cluster_arn=cluster_arn(region, account, cluster),
        container_instance_arn=f"arn:aws:ecs:{region}:{account}:container-instance/{POOL}/host1",
        task_definition_arn=td["taskDefinitionArn"],
        family="fam",
        revision=1,
        task_definition=td,
        overrides={},
        launch_type=launch_type,
        network=TaskNetwork(mode="awsvpc"),
        group=group,
    )
    doc: dict[str, Any] = {
        "taskArn": arn,
        "clusterArn": cluster_arn(region, account, cluster),
        "taskDefinitionArn": td["taskDefinitionArn"],
        "lastStatus": "PROVISIONING",
        "desiredStatus": "RUNNING",
        "cpu": str(cpu),
        "memory": str(memory),
        "containers": [{"name": "app", "lastStatus": "PENDING", "taskArn": arn}],
        "version": 1,
        "createdAt": created_at,
        "group": group or "family:fam",
        "launchType": launch_type,
        "platformVersion": "1.4.0",
        "platformFamily": "Linux",
        "attachments": [],
        "tags": [],
        "_instance": "host1",
        "_hostCluster": POOL,
        "_needs": {"cpu": cpu, "memory": memory, "tcp": [], "udp": []},
        "_spec": spec.encode(),
        "_released": False,
        "_acked": False,
        "_capacityProvider": provider or "FARGATE",
    }
    if storage is not None:
        doc["ephemeralStorage"] = {"sizeInGiB": storage}
    if arch is not None:
        doc["attributes"] = [{"name": "ecs.cpu-architecture", "value": arch}]
    if provider is not None:
        doc["capacityProviderName"] = provider
    return ecs_keys.task(account, region, cluster, task_id), doc


async def create(records: Records, key: str, doc: dict[str, Any]) -> Record:
    return await records.create(key, doc)


async def report(records: Records, key: str, now: float, **fields: Any) -> Record | None:
    """Apply one agent report (``model.tasks.Report`` fields) at time ``now``."""
    rep = task_model.Report(**fields)
    return await TaskRecords(records).change(key, lambda d: task_model.apply_report(d, rep, now))


async def run(records: Records, key: str, pulled: float, started: float) -> None:
    """PENDING with the pull started at ``pulled``, then RUNNING at ``started``."""
    await report(records, key, pulled, last_status="PENDING", pull_started_at=pulled)
    await report(records, key, started, last_status="RUNNING", pull_stopped_at=started, started_at=started)


async def stop(records: Records, key: str, at: float) -> None:
    await report(records, key, at, last_status="STOPPED", stop_code="EssentialContainerExited")


async def lifecycle(
    records: Records, key: str, doc: dict[str, Any], pulled: float, stopped: float | None
) -> None:
    """Create the task, start it with its pull at ``pulled``, and stop it at ``stopped``."""
    await create(records, key, doc)
    await run(records, key, pulled, pulled + 1)
    if stopped is not None:
        await stop(records, key, stopped)
