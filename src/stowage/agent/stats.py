"""`StatsCollector`: per-container CPU and memory usage, sampled and reported at a steady interval.

Every ``interval`` it reads one stats sample per running task container from the engine and
sends them in one ReportStats call, in the compact form of ``model/agent_stats`` when the
control plane client offers it (``packedSamples``), else as JSON samples. CPU is reported as
the cumulative counter and, from the previous sample, as a percentage of the whole host (with
the host's CPU count, so the control plane can turn it into cores for a container's first
sample); memory as the working set, its limit, RSS and page cache; network and block I/O as
cumulative byte counters; and the process count. The control plane derives rates from
consecutive samples. Samples are lossy by design: a failed report is not retried (the next one
carries fresh counters), so an outage costs points, not memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from stowage.agent.clock import Clock
from stowage.agent.control import ControlPlane, packed_stats
from stowage.client import ClientError
from stowage.model.agent_stats import from_samples
from stowage.runtime.base import ContainerRuntime, ContainerRuntimeError, ContainerStats, cpu_fraction

JSON = dict[str, Any]
log = logging.getLogger(__name__)

_CONCURRENCY = 16
_MAX_SAMPLES_PER_CALL = 10_000

Target = tuple[str, str, str]
"""(task ARN, container name, runtime id)."""


def sample(task_arn: str, name: str, cur: ContainerStats, prev: ContainerStats | None) -> JSON:
    out: JSON = {
        "task": task_arn,
        "containerName": name,
        "timestamp": cur.read_at.timestamp(),
        "cpuUsageNanos": cur.cpu_usage_ns,
        "memoryUsageBytes": cur.memory_usage_bytes,
        "memoryLimitBytes": cur.memory_limit_bytes,
        "memoryRssBytes": cur.memory_rss_bytes,
        "networkRxBytes": cur.network_rx_bytes,
        "networkTxBytes": cur.network_tx_bytes,
        "blockReadBytes": cur.block_read_bytes,
        "blockWriteBytes": cur.block_write_bytes,
        "memoryCacheBytes": cur.memory_cache_bytes,
        "pids": cur.pids,
    }
    if cur.online_cpus > 0:
        out["onlineCpus"] = cur.online_cpus
    if prev is not None and cur.online_cpus > 0:
        out["cpuPercentOfHost"] = round(cpu_fraction(prev, cur) / cur.online_cpus * 100.0, 4)
    return out


class StatsCollector:
    def __init__(
        self,
        *,
        runtime: ContainerRuntime,
        control: ControlPlane,
        clock: Clock,
        interval_s: float,
        where: Callable[[], tuple[str, str]],
        targets: Callable[[], Iterable[Target]],
    ) -> None:
        self.runtime = runtime
        self.control = control
        self.clock = clock
        self.interval_s = interval_s
        self.where = where
        self.targets = targets
        self._prev: dict[str, ContainerStats] = {}
        self.reports = 0

    async def run(self) -> None:
        while True:
            await self.clock.sleep(self.interval_s)
            try:
                await self.collect_once()
            except Exception:  # a sampling bug must not end sampling
                log.exception("stats collection failed")

    async def collect_once(self) -> int:
        """Sample and report once; returns how many samples were sent."""
        targets = list(self.targets())
        gate = asyncio.Semaphore(_CONCURRENCY)

        async def one(cid: str) -> ContainerStats | None:
            async with gate:
                try:
                    return await self.runtime.stats(cid)
                except ContainerRuntimeError:
                    return None  # exited since, or the engine is busy: skip this round

        results = await asyncio.gather(*(one(cid) for _, _, cid in targets))
        samples: list[JSON] = []
        live: dict[str, ContainerStats] = {}
        for (task_arn, name, cid), stats in zip(targets, results, strict=True):
            if stats is None:
                continue
            samples.append(sample(task_arn, name, stats, self._prev.get(cid)))
            live[cid] = stats
        self._prev = live
        if not samples:
            return 0
        cluster, instance = self.where()
        packed = packed_stats(self.control)
        sent = 0
        for start in range(0, len(samples), _MAX_SAMPLES_PER_CALL):
            chunk = samples[start : start + _MAX_SAMPLES_PER_CALL]
            try:
                if packed is not None:  # the compact form: a fraction of the control plane's work
                    await packed.report_packed_stats(cluster, instance, from_samples(chunk).to_params())
                else:
                    await self.control.report_stats(cluster, instance, chunk)
            except ClientError as exc:
                log.info("stats report not delivered: %s", exc)
                continue
            sent += len(chunk)
        self.reports += 1 if sent else 0
        return sent
