"""Helpers for task and container-instance tests: a fake agent speaking the real APIs.

A "fake agent" here is what a host agent does on the wire, minus Docker: it registers a
container instance through the ECS API and drives task state through the stowage-agent API
(a botocore client built from stowage's own model).
"""

from __future__ import annotations

import uuid
from typing import Any

import botocore.config
import botocore.session

from stowage.model.agent_tasks import TaskSpec
from stowage.model.aws_models import MODELS_DIR
from tests.support.server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, ServerProcess


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def agent_client(server: ServerProcess, read_timeout: float = 90) -> Any:
    session = botocore.session.get_session()
    session.get_component("data_loader").search_paths.append(str(MODELS_DIR))
    return session.create_client(
        "stowage-agent",
        endpoint_url=server.endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        config=botocore.config.Config(retries={"max_attempts": 1}, read_timeout=read_timeout),
    )


def resources(cpu: int = 2048, memory: int = 4096, ports: list[str] | None = None) -> list[dict[str, Any]]:
    return [
        {"name": "CPU", "type": "INTEGER", "integerValue": cpu},
        {"name": "MEMORY", "type": "INTEGER", "integerValue": memory},
        {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ports or ["22"]},
        {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []},
    ]


def register_instance(
    ecs: Any, cluster: str, cpu: int = 2048, memory: int = 4096, **kwargs: Any
) -> dict[str, Any]:
    ci: dict[str, Any] = ecs.register_container_instance(
        cluster=cluster,
        totalResources=resources(cpu, memory),
        versionInfo={"agentVersion": "0.1.0", "agentHash": "abc", "dockerVersion": "24.0"},
        **kwargs,
    )["containerInstance"]
    return ci


def register_td(ecs: Any, family: str | None = None, **kwargs: Any) -> dict[str, Any]:
    containers = kwargs.pop(
        "containerDefinitions",
        [{"name": "app", "image": "busybox", "cpu": 256, "memory": 512, "essential": True}],
    )
    td: dict[str, Any] = ecs.register_task_definition(
        family=family or unique("fam"), containerDefinitions=containers, **kwargs
    )["taskDefinition"]
    return td


def make_cluster(ecs: Any) -> str:
    name = unique("cl")
    ecs.create_cluster(clusterName=name)
    return name


def poll(agent: Any, cluster: str, instance_arn: str, **kwargs: Any) -> dict[str, Any]:
    answer: dict[str, Any] = agent.poll_assignments(cluster=cluster, containerInstance=instance_arn, **kwargs)
    return answer


def spec_of(assignment: dict[str, Any]) -> TaskSpec:
    return TaskSpec.decode(assignment["spec"])


def report(agent: Any, cluster: str, instance_arn: str, task_arn: str, status: str, **kwargs: Any) -> None:
    agent.submit_task_state(
        cluster=cluster, containerInstance=instance_arn, task=task_arn, lastStatus=status, **kwargs
    )


def run_to_running(
    agent: Any, cluster: str, instance_arn: str, task_arn: str, container: str = "app"
) -> None:
    """What an agent reports while starting a one-container task."""
    report(agent, cluster, instance_arn, task_arn, "PENDING", pullStartedAt=1.0, pullStoppedAt=2.0)
    report(
        agent,
        cluster,
        instance_arn,
        task_arn,
        "RUNNING",
        startedAt=3.0,
        containers=[{"name": container, "lastStatus": "RUNNING", "runtimeId": "cid-" + container}],
    )


def describe(ecs: Any, cluster: str, task_arn: str, **kwargs: Any) -> dict[str, Any]:
    task: dict[str, Any] = ecs.describe_tasks(cluster=cluster, tasks=[task_arn], **kwargs)["tasks"][0]
    return task


def code(exc: Any) -> str:
    return str(exc.value.response["Error"]["Code"])
