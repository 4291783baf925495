"""The agent on the real Docker engine, told what to run by the in-memory control plane.

`DockerAgentHarness` starts real `Agent`s over `DockerRuntime` (real time, real containers from
the locally built test images, an awsvpc subnet of its own), and at the end removes everything
they made: their containers (found by the agent's instance labels), the task cgroups named in
those labels, and the awsvpc network. Helpers read container output and host cgroup files.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from collections.abc import Coroutine
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from stowage.agent import labels as lbl
from stowage.agent.agent import Agent
from stowage.agent.config import AgentConfig
from stowage.agent.eni import awsvpc_network
from stowage.runtime.base import ContainerState
from stowage.runtime.docker import DockerRuntime
from tests.agent.fakes import FakeControlPlane, FakeTask
from tests.agent.harness import until
from tests.support.images import TEST_IMAGE, TEST_PAUSE_IMAGE

T = TypeVar("T")
ENGINE_URL = os.environ.get("DOCKER_HOST")
BODY_TIMEOUT = 180.0
CGROUP_ROOT = Path("/sys/fs/cgroup")
SUBNET_DOC = "subnet-0fargate0test0"


def run(body: Coroutine[Any, Any, T]) -> T:
    """Run a test body on real Docker (images, containers and cgroups take real time)."""

    async def main() -> T:
        return await asyncio.wait_for(body, BODY_TIMEOUT)

    return asyncio.run(main())


def busybox(name: str, *command: str, **extra: Any) -> dict[str, Any]:
    """A container definition of the test image that stops fast (its PID 1 ignores SIGTERM)."""
    doc: dict[str, Any] = {"name": name, "image": TEST_IMAGE, "essential": True, "stopTimeout": 1}
    if command:
        doc["command"] = list(command)
    doc.update(extra)
    return doc


def fargate_td(
    *containers: dict[str, Any], cpu: str = "256", memory: str = "512", **extra: Any
) -> dict[str, Any]:
    return {
        "family": "fg",
        "revision": 1,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": cpu,
        "memory": memory,
        "containerDefinitions": list(containers),
        **extra,
    }


@dataclass
class DockerAgentHarness:
    tmp: Path
    control: FakeControlPlane = field(default_factory=FakeControlPlane)
    subnet: str = field(default_factory=lambda: f"10.250.{random.randrange(256)}.0/24")
    agents: dict[Agent, asyncio.Task[None]] = field(default_factory=dict)
    runtime: DockerRuntime | None = None

    async def rt(self) -> DockerRuntime:
        if self.runtime is None:
            self.runtime = await DockerRuntime.connect(ENGINE_URL)
        return self.runtime

    def config(self, name: str = "a", **kw: Any) -> AgentConfig:
        base = AgentConfig(
            cluster="default",
            state_dir=self.tmp / f"agent-{name}",
            cpu_units=4096,
            memory_mib=8192,
            pause_image=TEST_PAUSE_IMAGE,
            awsvpc_subnet=self.subnet,
            poll_wait_s=1,
            resync_interval_s=1.0,
            stop_timeout_s=1.0,
            stats_interval_s=3600.0,
        )
        return replace(base, **kw)

    async def start(self, name: str = "a", **kw: Any) -> Agent:
        agent = Agent(self.config(name, **kw), await DockerRuntime.connect(ENGINE_URL), self.control)
        self.agents[agent] = asyncio.create_task(agent.run())
        await until(lambda: agent.polls > 0, "the agent's first poll", within=30)
        return agent

    async def fargate(self, agent: Agent, td: dict[str, Any], **kw: Any) -> FakeTask:
        return await self.control.assign(
            agent.instance_arn,
            td,
            launch_type="FARGATE",
            capacity_provider="FARGATE",
            subnets=[SUBNET_DOC],
            **kw,
        )

    async def reach(self, task: FakeTask, status: str, within: float = 60.0) -> dict[str, Any]:
        await until(lambda: task.last == status, f"{task.arn} {status} (now {task.statuses()})", within)
        return task.state

    async def containers(self, task: FakeTask) -> dict[str, ContainerState]:
        """The task's containers on the engine by ECS container name (the pause one as "~pause")."""
        rt = await self.rt()
        out = {}
        for state in await rt.list({lbl.TASK_ARN: task.arn}):
            role = state.labels.get(lbl.ROLE)
            out["~pause" if role == lbl.ROLE_PAUSE else state.labels[lbl.CONTAINER_NAME]] = state
        return out

    async def output(self, container_id: str) -> str:
        rt = await self.rt()
        return "\n".join([line.line async for line in rt.logs(container_id)])

    async def wait_output(self, container_id: str, text: str, within: float = 30.0) -> str:
        deadline = asyncio.get_running_loop().time() + within
        while True:
            out = await self.output(container_id)
            if text in out:
                return out
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{text!r} never appeared in the output of {container_id[:12]}: {out!r}")
            await asyncio.sleep(0.1)

    async def close(self) -> None:
        for task in list(self.agents.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        rt = await self.rt()
        try:
            cgroups: set[str] = set()
            for agent in self.agents:
                for state in await rt.list(lbl.instance_selector(agent.instance_arn)):
                    if parent := state.labels.get(lbl.TASK_CGROUP):
                        cgroups.add(parent)
                    await rt.remove(state.id, force=True)
            for parent in cgroups:
                await rt.remove_task_cgroup(parent)
            for agent in self.agents:
                await rt.remove_network(awsvpc_network(agent.config).name)
                await agent.runtime.close()
        finally:
            await rt.close()


def cgroup_version() -> int:
    return 2 if (CGROUP_ROOT / "cgroup.controllers").exists() else 1


def cgroup_dir(parent: str, controller: str) -> Path:
    """The host directory of a task cgroup parent for ``controller``: ``/stowage/<id>`` with the
    cgroupfs driver, ``stowage.slice/stowage-<id>.slice`` for systemd's ``stowage-<id>.slice``."""
    rel = f"stowage.slice/{parent}" if parent.endswith(".slice") else parent.lstrip("/")
    return CGROUP_ROOT / rel if cgroup_version() == 2 else CGROUP_ROOT / controller / rel


def read_host_limits(parent: str) -> tuple[int, int, int]:
    """(memory limit bytes, cpu quota µs, cpu period µs) of a task cgroup, read from the host."""
    if cgroup_version() == 2:
        directory = cgroup_dir(parent, "")
        memory = int((directory / "memory.max").read_text())
        quota, period = (directory / "cpu.max").read_text().split()
        return memory, int(quota), int(period)
    memory = int((cgroup_dir(parent, "memory") / "memory.limit_in_bytes").read_text())
    cpu = cgroup_dir(parent, "cpu")
    return memory, int((cpu / "cpu.cfs_quota_us").read_text()), int((cpu / "cpu.cfs_period_us").read_text())


def _oom_kill_count(text: str) -> int:
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill":
            return int(value)
    raise AssertionError(f"no oom_kill counter in {text!r}")


def oom_kills(parent: str) -> int:
    """How many processes the kernel OOM-killed in this cgroup and below (v2 counts
    hierarchically; v1 counts in the victim's own cgroup, so its children are added up)."""
    if cgroup_version() == 2:
        return _oom_kill_count((cgroup_dir(parent, "") / "memory.events").read_text())
    directory = cgroup_dir(parent, "memory")
    cgroups = [directory, *(p for p in directory.iterdir() if p.is_dir())]
    return sum(_oom_kill_count((c / "memory.oom_control").read_text()) for c in cgroups)


def memory_peak(parent: str, container_id: str | None = None) -> int:
    """The highest memory use of the task cgroup (or of one container in it) so far."""
    directory = cgroup_dir(parent, "memory")
    if container_id is not None:
        [directory] = [p for p in directory.iterdir() if p.is_dir() and container_id in p.name]
    name = "memory.peak" if cgroup_version() == 2 else "memory.max_usage_in_bytes"
    return int((directory / name).read_text())


def container_memory_limit(parent: str, container_id: str) -> int:
    """A container's own memory limit, from its cgroup under the task's (host side)."""
    directory = cgroup_dir(parent, "memory")
    [child] = [p for p in directory.iterdir() if p.is_dir() and container_id in p.name]
    name = "memory.max" if cgroup_version() == 2 else "memory.limit_in_bytes"
    return int((child / name).read_text())
