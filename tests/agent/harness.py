"""Test harness for the agent's unit tests: a fake engine, the in-memory control plane, virtual
time, and helpers to run agents and wait for conditions (polling real time briefly: the agent's
own timers run on the virtual clock and only move when a test advances it)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from stowage.agent import labels as lbl
from stowage.agent.agent import Agent
from stowage.agent.clock import ManualClock
from stowage.agent.config import AgentConfig
from stowage.runtime.base import ContainerState
from stowage.runtime.fake import FakeEngine, FakeRuntime
from tests.agent.fakes import FakeControlPlane, FakeTask

T = TypeVar("T")
IMAGE = "stowage-test/busybox:latest"
PAUSE = "stowage-test/pause:1"
BODY_TIMEOUT = 30.0


def run(body: Coroutine[Any, Any, T]) -> T:
    async def main() -> T:
        return await asyncio.wait_for(body, BODY_TIMEOUT)

    return asyncio.run(main())


async def until(check: Callable[[], bool], what: str = "condition", within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


async def until_async(check: Callable[[], Awaitable[bool]], what: str, within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


def container(name: str, *command: str, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": name, "image": IMAGE, "essential": True, "memory": 64}
    if command:
        doc["command"] = list(command)
    doc.update(extra)
    return doc


@dataclass
class Harness:
    tmp: Path
    clock: ManualClock = field(default_factory=ManualClock)
    control: FakeControlPlane = field(default_factory=FakeControlPlane)
    tasks: dict[Agent, asyncio.Task[None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # The engine's clock is the agent's: "exited ten minutes ago" means the same to both.
        self.engine = FakeEngine(
            images={IMAGE: ("sh",)}, clock=lambda: datetime.fromtimestamp(self.clock.now(), UTC)
        )
        self.engine.add_image(PAUSE, ("/pause",))

    def config(self, name: str = "a", **kw: Any) -> AgentConfig:
        base = AgentConfig(
            cluster="default",
            state_dir=self.tmp / f"agent-{name}",
            cpu_units=4096,
            memory_mib=8192,
            pause_image=PAUSE,
            awsvpc_subnet="10.254.0.0/24",
            poll_wait_s=1,
        )
        return replace(base, **kw)

    async def start(self, name: str = "a", **kw: Any) -> Agent:
        agent = Agent(self.config(name, **kw), FakeRuntime(self.engine), self.control, clock=self.clock)
        self.tasks[agent] = asyncio.create_task(agent.run())
        await until(lambda: agent.polls > 0, "the agent's first poll")
        return agent

    async def kill(self, agent: Agent) -> None:
        """The agent process goes away (its containers stay, as with kill -9)."""
        task = self.tasks.pop(agent)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def close(self) -> None:
        for agent in list(self.tasks):
            await self.kill(agent)

    def containers(self, agent: Agent | None = None, **labels: str) -> list[ContainerState]:
        out = []
        for c in self.engine.containers.values():
            state = self.engine._state(c)
            if agent is not None and state.labels.get(lbl.INSTANCE) != agent.instance_arn:
                continue
            if all(state.labels.get(k) == v for k, v in labels.items()):
                out.append(state)
        return out

    def task_containers(self, task: FakeTask, role: str = lbl.ROLE_CONTAINER) -> dict[str, ContainerState]:
        return {
            s.labels[lbl.CONTAINER_NAME]: s
            for s in self.containers()
            if s.labels.get(lbl.TASK_ARN) == task.arn and s.labels.get(lbl.ROLE) == role
        }

    async def reach(self, task: FakeTask, status: str, within: float = 5.0) -> dict[str, Any]:
        await until(lambda: task.last == status, f"{task.arn} {status} (now {task.statuses()})", within)
        return task.state
