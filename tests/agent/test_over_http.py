"""The agent (fake engine) against a real `stowage server` subprocess over HTTP: registration,
RunTask to STOPPED with logs, StopTask. Real-Docker versions of these live in tests/e2e."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from botocore.credentials import Credentials

from stowage.agent.agent import Agent
from stowage.agent.config import AgentConfig
from stowage.agent.control import HttpControlPlane
from stowage.client import ControlPlaneClients
from stowage.runtime.fake import FakeEngine, FakeRuntime
from tests.agent.harness import IMAGE, run
from tests.support.server import ACCESS_KEY_ID, SECRET_ACCESS_KEY, ServerProcess


async def _until_status(ecs: Any, cluster: str, arn: str, status: str) -> dict[str, Any]:
    for _ in range(300):
        task = (await asyncio.to_thread(ecs.describe_tasks, cluster=cluster, tasks=[arn]))["tasks"][0]
        if task["lastStatus"] == status:
            return dict(task)
        await asyncio.sleep(0.05)
    raise AssertionError(f"task never reached {status}: {task['lastStatus']}")


def test_agent_runs_tasks_for_the_real_control_plane(server: ServerProcess, tmp_path: Path) -> None:
    cluster = f"http-{uuid.uuid4().hex[:8]}"
    ecs = server.boto3_client("ecs")
    logs = server.boto3_client("logs")
    ecs.create_cluster(clusterName=cluster)
    log = {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": f"/{cluster}",
            "awslogs-stream-prefix": "p",
            "awslogs-create-group": "true",
        },
    }
    echo = ecs.register_task_definition(
        family=f"{cluster}-echo",
        containerDefinitions=[
            {
                "name": "app",
                "image": IMAGE,
                "memory": 32,
                "command": ["echo", "over http"],
                "logConfiguration": log,
            }
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    sleeper = ecs.register_task_definition(
        family=f"{cluster}-sleep",
        containerDefinitions=[{"name": "app", "image": IMAGE, "memory": 32, "command": ["sleep", "1000"]}],
    )["taskDefinition"]["taskDefinitionArn"]

    async def body() -> None:
        engine = FakeEngine(images={IMAGE: ("sh",)})
        creds = Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY)
        async with ControlPlaneClients(server.endpoint, creds, "us-east-1") as clients:
            config = AgentConfig(
                cluster=cluster, state_dir=tmp_path / "agent", poll_wait_s=5, memory_mib=2048
            )
            agent = Agent(config, FakeRuntime(engine), HttpControlPlane(clients))
            main = asyncio.create_task(agent.run())
            try:
                await asyncio.wait_for(agent.registered.wait(), 10)
                described = await asyncio.to_thread(
                    ecs.describe_container_instances, cluster=cluster, containerInstances=[agent.instance_arn]
                )
                instance = described["containerInstances"][0]
                registered = {r["name"]: r for r in instance["registeredResources"]}
                assert registered["MEMORY"]["integerValue"] == 2048
                assert {"name": "ecs.capability.task-eni"} in instance["attributes"]

                arn = (await asyncio.to_thread(ecs.run_task, cluster=cluster, taskDefinition=echo))["tasks"][
                    0
                ]["taskArn"]
                task = await _until_status(ecs, cluster, arn, "STOPPED")
                assert task["containers"][0]["exitCode"] == 0 and "startedAt" in task
                stream = f"p/app/{arn.rsplit('/', 1)[-1]}"
                events = await asyncio.to_thread(
                    logs.get_log_events, logGroupName=f"/{cluster}", logStreamName=stream, startFromHead=True
                )
                assert [e["message"] for e in events["events"]] == ["over http"]

                arn = (await asyncio.to_thread(ecs.run_task, cluster=cluster, taskDefinition=sleeper))[
                    "tasks"
                ][0]["taskArn"]
                await _until_status(ecs, cluster, arn, "RUNNING")
                await asyncio.to_thread(ecs.stop_task, cluster=cluster, task=arn)
                task = await _until_status(ecs, cluster, arn, "STOPPED")
                assert task["stopCode"] == "UserInitiated"
                assert task["containers"][0]["exitCode"] == 137
            finally:
                main.cancel()
                await asyncio.gather(main, return_exceptions=True)

    run(body())
