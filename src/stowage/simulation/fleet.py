"""`Fleet`: N simulated hosts, each a real `Agent` over a `SimulatedRuntime`, in one event loop.

What makes thousands of agents cheap in one process:

- one HTTP connection pool (`ControlPlaneClients`) shared by every agent, sized for one
  connection per host (its WebSocket channel, or its long-poll over HTTP) plus headroom;
- registrations gated to a few at a time (`register_concurrency`), so a thousand agents do not
  stampede the control plane at start; each agent starts polling as soon as it is registered,
  which also spreads the heartbeats out;
- jitter: each host's long-poll wait and stats interval are drawn around the configured ones,
  so the heartbeats of hosts that registered together drift apart instead of arriving in waves.

Host ``i`` advertises ``ecs.availability-zone`` = ``<region><letter>``, round-robin over
``zones`` letters (a, b, c, ...), and keeps its identity in ``<state_dir>/host-<i>``: a fleet
restarted on the same state directory re-registers the same container instances.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stowage.agent.agent import Agent
from stowage.agent.config import AgentConfig
from stowage.agent.control import HttpControlPlane
from stowage.client import ClientError, ControlPlaneClients
from stowage.model.fargate import POOL_CLUSTER
from stowage.simulation.runtime import SimulatedRuntime

JSON = dict[str, Any]
log = logging.getLogger(__name__)

POOL_HEADROOM = 64
"""Connections beyond one long-poll per host: state reports, stats, registrations."""


def zone_of(region: str, index: int, zones: int) -> str:
    """The availability zone of host ``index``: ``us-east-1a``, ``us-east-1b``, ... round-robin."""
    letters = string.ascii_lowercase
    return f"{region}{letters[index % max(1, min(zones, len(letters)))]}"


@dataclass(frozen=True, slots=True)
class FleetSpec:
    cluster: str
    hosts: int
    state_dir: Path
    cpu: int = 4096
    memory: int = 16384
    zones: int = 3
    region: str = "us-east-1"
    attributes: dict[str, str] = field(default_factory=dict)
    instance_type: str = ""
    poll_wait_s: int = 20
    stats_interval_s: float = 20.0
    register_concurrency: int = 16
    report_linger_s: float = 0.05
    """Simulated containers start at once: after an assignment the agent waits this long
    before polling again, and a task's PENDING and RUNNING (and those of other tasks placed
    together) ride on that poll instead of a SubmitTaskStates call of their own."""
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class Progress:
    hosts: int
    registered: int
    connected: int
    failed: int
    tasks: int
    """Tasks the hosts' agents are running (or still stopping)."""
    containers: int
    """Containers running on the simulated engines."""


class _GatedControlPlane(HttpControlPlane):
    """The real HTTP control plane, with registrations let through a few at a time."""

    def __init__(self, clients: ControlPlaneClients, gate: asyncio.Semaphore) -> None:
        super().__init__(clients)
        self._gate = gate

    async def register(self, request: JSON) -> JSON:
        async with self._gate:
            return await super().register(request)


class Fleet:
    def __init__(self, spec: FleetSpec, clients: ControlPlaneClients) -> None:
        self.spec = spec
        self.clients = clients
        rng = random.Random(spec.seed)
        gate = asyncio.Semaphore(max(1, spec.register_concurrency))
        self.agents: list[Agent] = []
        self.runtimes: list[SimulatedRuntime] = []
        for i in range(spec.hosts):
            low = max(1, spec.poll_wait_s - spec.poll_wait_s // 4)
            config = AgentConfig(
                cluster=spec.cluster,
                state_dir=spec.state_dir / f"host-{i:05d}",
                region=spec.region,
                availability_zone=zone_of(spec.region, i, spec.zones),
                instance_type=spec.instance_type,
                attributes=dict(spec.attributes),
                cpu_units=spec.cpu,
                memory_mib=spec.memory,
                engine_version="simulated",
                poll_wait_s=rng.randint(low, max(low, spec.poll_wait_s)),
                stats_interval_s=spec.stats_interval_s * rng.uniform(0.75, 1.25),
                stop_timeout_s=2.0,
                cleanup_wait_s=60.0,
                report_linger_s=spec.report_linger_s,
            )
            runtime = SimulatedRuntime(cpus=max(1, spec.cpu // 1024), memory_mib=spec.memory)
            self.runtimes.append(runtime)
            # One control plane per agent: each host keeps its own channel, as a real one does.
            self.agents.append(Agent(config, runtime, _GatedControlPlane(clients, gate)))
        self._tasks: list[asyncio.Task[None]] = []
        self.errors: list[BaseException] = []

    async def ensure_cluster(self) -> None:
        """CreateCluster is idempotent in ECS: it returns the cluster when it exists. The Fargate
        pool (``stowage.fargate-pool``) is no user's cluster: its hosts' registration makes it."""
        if self.spec.cluster == POOL_CLUSTER:
            return
        await self.clients.ecs.call("CreateCluster", {"clusterName": self.spec.cluster})

    def start(self) -> None:
        for i, agent in enumerate(self.agents):
            task = asyncio.create_task(agent.run(), name=f"sim-host-{i}")
            task.add_done_callback(self._ended)
            self._tasks.append(task)

    def _ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self.errors.append(exc)
            log.warning("simulated host %s stopped: %s", task.get_name(), exc)

    def progress(self) -> Progress:
        registered = connected = tasks = containers = 0
        for agent, runtime in zip(self.agents, self.runtimes, strict=True):
            registered += agent.registered.is_set()
            connected += agent.connected
            tasks += len(agent.runners)
            containers += runtime.running()
        return Progress(
            hosts=len(self.agents),
            registered=registered,
            connected=connected,
            failed=len(self.errors),
            tasks=tasks,
            containers=containers,
        )

    async def wait_registered(self, poll_s: float = 0.2) -> Progress:
        """Until every host registered and polled once (or failed)."""
        while True:
            p = self.progress()
            if p.connected + p.failed >= p.hosts:
                return p
            await asyncio.sleep(poll_s)

    def instance_arns(self) -> list[str]:
        return [a.instance_arn for a in self.agents if a.instance_arn]

    async def stop(self, *, deregister: bool = False) -> None:
        """Stop every agent (their containers stay, as a stopped ECS agent leaves them).
        ``deregister``: also DeregisterContainerInstance (force) each registered host."""
        arns = self.instance_arns()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if deregister:
            await self._deregister(arns)

    async def _deregister(self, arns: Sequence[str]) -> None:
        gate = asyncio.Semaphore(max(1, self.spec.register_concurrency))

        async def one(arn: str) -> None:
            async with gate:
                with contextlib.suppress(ClientError):
                    await self.clients.ecs.call(
                        "DeregisterContainerInstance",
                        {"cluster": self.spec.cluster, "containerInstance": arn, "force": True},
                    )

        await asyncio.gather(*(one(arn) for arn in arns))


def pool_size(hosts: int) -> int:
    return hosts + POOL_HEADROOM
