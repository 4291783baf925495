"""The task plane: everything the task, container-instance and agent APIs share, in one object.

``TaskPlane`` owns the ECS informer and its index, the placement applier, agent liveness, the
reaper and the usage samples, and runs their background loops. ``server.py`` builds one per
control plane; API handlers receive it instead of bare ``Records``. Time is injected through
``clock`` (epoch seconds) so tests drive liveness and retention without sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from stowage.controllers.ecs_index import EcsIndex
from stowage.controllers.exec_broker import ExecBroker
from stowage.controllers.fargate import FargateProvisioner
from stowage.controllers.informer import EcsInformer
from stowage.controllers.liveness import Liveness
from stowage.controllers.placement import TaskPlacement
from stowage.controllers.reaper import Reaper
from stowage.controllers.spot import SpotReclaimer
from stowage.controllers.stats import StatsBook, StatsSink
from stowage.resources.records import Records


@dataclass(frozen=True)
class TaskPlaneConfig:
    agent_timeout: float = 60.0
    """Seconds without a PollAssignments before an instance shows ``agentConnected: false``."""
    stopped_retention: float = 3600.0
    """Seconds a STOPPED task (and a deregistered instance) stays describable."""
    liveness_interval: float = 5.0
    reap_interval: float = 60.0
    spot_reclaim_rate: float = 0.0
    """Chaos: FARGATE_SPOT interruptions per RUNNING Spot task per hour (0: only on request)."""
    max_poll_wait: float = 20.0
    """Longest PollAssignments wait the server grants (also the heartbeat interval it asks for)."""


class TaskPlane:
    def __init__(
        self,
        records: Records,
        config: TaskPlaneConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        stats: StatsSink | None = None,
    ) -> None:
        self.records = records
        self.config = config or TaskPlaneConfig()
        self.clock = clock
        self.index = EcsIndex()
        self.informer = EcsInformer(records.store, self.index)
        self.placement = TaskPlacement(records, self.index, rng)
        self.stats: StatsSink = stats if stats is not None else StatsBook()
        self.exec = ExecBroker(self.index)
        self.fargate = FargateProvisioner(records, self.index, self.placement, clock=clock, rng=rng)
        self.spot = SpotReclaimer(
            records, self.index, clock=clock, rate=self.config.spot_reclaim_rate, rng=rng
        )
        self.liveness = Liveness(records, self.index, clock=clock, timeout=self.config.agent_timeout)
        self.reaper = Reaper(
            records, self.index, self.stats, clock=clock, retention=self.config.stopped_retention
        )
        self._loops: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start the informer and wait for its first list; then the periodic controllers."""
        self._loops.append(asyncio.create_task(self.informer.run(), name="ecs-informer"))
        await self.index.ready.wait()
        self._loops.append(asyncio.create_task(self.liveness.run(self.config.liveness_interval)))
        self._loops.append(asyncio.create_task(self.fargate.run(), name="fargate-provisioner"))
        self._loops.append(asyncio.create_task(self.spot.run(), name="spot-reclaimer"))
        self._loops.append(asyncio.create_task(self.reaper.run(self.config.reap_interval)))

    async def stop(self) -> None:
        for loop in self._loops:
            loop.cancel()
        for loop in self._loops:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await loop
        self._loops.clear()

    async def written(self, revision: int) -> None:
        """Read-your-writes: wait until the index reflects a write this process made."""
        await self.index.caught_up(revision)
