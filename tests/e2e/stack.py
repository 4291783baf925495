"""End-to-end harness: a real `stowage server`, real `stowage agent` processes, real Docker.

`Stack` owns one server (its own data dir), a uniquely named cluster, and the agents a test
starts (`start_agent`, `kill9`, `restart`). At the end it removes every container, task volume
and awsvpc network its agents created: they carry the agent's labels (cluster ARN) so nothing
else on the engine is touched. `Engine` is a small synchronous window on the Docker engine for
assertions, through the runtime's own DockerRuntime.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from stowage.agent import labels as lbl
from stowage.agent.config import AgentConfig
from stowage.agent.eni import awsvpc_network
from stowage.model.fargate import POOL_CLUSTER
from stowage.runtime.base import ContainerState
from stowage.runtime.docker import DockerRuntime
from tests.support.images import TEST_PAUSE_IMAGE
from tests.support.server import (
    ACCESS_KEY_ID,
    ACCOUNT_ID,
    REGION,
    SECRET_ACCESS_KEY,
    ServerProcess,
    start_server,
)

T = TypeVar("T")
ENGINE_URL = os.environ.get("DOCKER_HOST")
_ORDER = [
    "PROVISIONING",
    "PENDING",
    "ACTIVATING",
    "RUNNING",
    "DEACTIVATING",
    "STOPPING",
    "DEPROVISIONING",
    "STOPPED",
]


class Engine:
    """Synchronous helpers over DockerRuntime (one connection per call: tests are not hot)."""

    def _run(self, fn: Callable[[DockerRuntime], Any]) -> Any:
        async def main() -> Any:
            rt = await DockerRuntime.connect(ENGINE_URL)
            try:
                return await fn(rt)
            finally:
                await rt.close()

        return asyncio.run(main())

    def containers(self, **labels: str) -> list[ContainerState]:
        return list(self._run(lambda rt: rt.list(labels)))

    def inspect(self, cid: str) -> ContainerState:
        return self._run(lambda rt: rt.inspect(cid))  # type: ignore[no-any-return]

    def wait(self, cid: str) -> int:
        return int(self._run(lambda rt: rt.wait(cid)).exit_code)

    def logs(self, cid: str) -> list[str]:
        async def read(rt: DockerRuntime) -> list[str]:
            return [line.line async for line in rt.logs(cid)]

        return list(self._run(read))

    def remove(self, cid: str) -> None:
        self._run(lambda rt: rt.remove(cid, force=True))

    def remove_volume(self, name: str) -> None:
        self._run(lambda rt: rt.remove_volume(name))

    def remove_network(self, name: str) -> None:
        self._run(lambda rt: rt.remove_network(name))


@dataclass
class AgentProcess:
    name: str
    state_dir: Path
    args: list[str]
    proc: subprocess.Popen[bytes] | None = None
    cluster: str = ""
    """The cluster it registers in (the Fargate pool's with ``--fargate``)."""

    @property
    def log_path(self) -> Path:
        return self.state_dir.parent / f"{self.name}.log"

    @property
    def instance_arn(self) -> str:
        import orjson

        return str(orjson.loads((self.state_dir / "identity.json").read_bytes())["containerInstanceArn"])

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            AWS_DEFAULT_REGION=REGION,
            AWS_ACCESS_KEY_ID=ACCESS_KEY_ID,
            AWS_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY,
        )
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stowage.cli.main", "agent", *self.args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def tail(self) -> str:
        try:
            return self.log_path.read_text()[-3000:]
        except OSError:
            return ""


@dataclass
class Stack:
    tmp: Path
    engine: Engine = field(default_factory=Engine)
    server: ServerProcess | None = None
    cluster: str = field(default_factory=lambda: f"e2e-{uuid.uuid4().hex[:10]}")
    agents: list[AgentProcess] = field(default_factory=list)
    subnet: str = field(default_factory=lambda: f"10.253.{random.randrange(256)}.0/24")

    @property
    def cluster_arn(self) -> str:
        return f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:cluster/{self.cluster}"

    def start(self) -> None:
        self.server = start_server(self.tmp / "server")
        self.ecs = self.server.boto3_client("ecs")
        self.logs = self.server.boto3_client("logs")
        self.ecs.create_cluster(clusterName=self.cluster)

    def start_agent(self, name: str = "a", *extra: str) -> AgentProcess:
        assert self.server is not None
        state_dir = self.tmp / f"agent-{name}"
        args = [
            "--endpoint", self.server.endpoint, "--cluster", self.cluster, "--state-dir", str(state_dir),
            "--pause-image", TEST_PAUSE_IMAGE, "--awsvpc-subnet", self.subnet, "--poll-wait", "10",
            "--stats-interval", "1", *extra,
        ]  # fmt: skip
        cluster = POOL_CLUSTER if "--fargate" in extra else self.cluster
        agent = AgentProcess(name, state_dir, args, cluster=cluster)
        agent.start()
        self.agents.append(agent)
        self.until((state_dir / "identity.json").exists, f"agent {name} registered", agent=agent)
        self.until(lambda: self._connected(agent), f"agent {name} connected", agent=agent)
        return agent

    def _connected(self, agent: AgentProcess) -> bool:
        found = self.ecs.describe_container_instances(
            cluster=agent.cluster or self.cluster, containerInstances=[agent.instance_arn]
        )
        return bool(found["containerInstances"]) and bool(found["containerInstances"][0]["agentConnected"])

    def until(
        self,
        check: Callable[[], T | None],
        what: str,
        within: float = 60.0,
        agent: AgentProcess | None = None,
    ) -> T:
        deadline = time.monotonic() + within
        while True:
            value = check()
            if value:
                return value
            if agent is not None and not agent.alive():
                raise AssertionError(f"agent exited while waiting for {what}:\n{agent.tail()}")
            if time.monotonic() > deadline:
                logs = "\n".join(a.tail() for a in self.agents)
                raise AssertionError(f"timed out waiting for {what}\n--- agent logs ---\n{logs}")
            time.sleep(0.1)

    def register(self, family: str, *containers: dict[str, Any], **extra: Any) -> str:
        td = self.ecs.register_task_definition(family=family, containerDefinitions=list(containers), **extra)
        return str(td["taskDefinition"]["taskDefinitionArn"])

    def run_task(self, td: str, **kw: Any) -> str:
        answer = self.ecs.run_task(cluster=self.cluster, taskDefinition=td, **kw)
        assert not answer["failures"], answer["failures"]
        return str(answer["tasks"][0]["taskArn"])

    def describe(self, arn: str) -> dict[str, Any]:
        return dict(self.ecs.describe_tasks(cluster=self.cluster, tasks=[arn])["tasks"][0])

    def wait_status(self, arn: str, status: str, within: float = 60.0) -> dict[str, Any]:
        """Wait until the task's lastStatus reached ``status`` (or went past it: a task that
        exits at once may be STOPPED before a poll sees RUNNING)."""
        want = _ORDER.index(status)

        def check() -> dict[str, Any] | None:
            task = self.describe(arn)
            return task if _ORDER.index(task["lastStatus"]) >= want else None

        return self.until(check, f"task {arn.rsplit('/', 1)[-1]} {status}", within)

    def task_containers(self, arn: str) -> dict[str, ContainerState]:
        return {
            s.labels[lbl.CONTAINER_NAME]: s
            for s in self.engine.containers(**{lbl.TASK_ARN: arn, lbl.ROLE: lbl.ROLE_CONTAINER})
        }

    def log_messages(self, group: str, stream: str) -> list[str]:
        try:
            events = self.logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)
        except self.logs.exceptions.ResourceNotFoundException:
            return []
        return [e["message"] for e in events["events"]]

    def close(self) -> None:
        for agent in self.agents:
            agent.stop()
        volumes: set[str] = set()
        for state in self.engine.containers(**{lbl.CLUSTER: self.cluster_arn}):
            volumes.update(lbl.task_volumes_of(state.labels))
            self.engine.remove(state.id)
        for name in volumes:
            self.engine.remove_volume(name)
        self.engine.remove_network(awsvpc_network(AgentConfig(awsvpc_subnet=self.subnet)).name)
        if self.server is not None:
            # Its data dir is thrown away: no need to wait for a graceful shutdown.
            self.server.kill9()
