"""The metrics pipeline, assembled: the sink of agents' samples and what every reader asks.

``Metrics`` owns the time-series store (``metricstore``, ``metrics.db`` in the data dir), the
task/host metadata (``metrics_meta``, fed by the ECS index), the ingest thread
(``metrics_ingest``) and the query function (``metrics_query``). It is the task plane's
``StatsSink``: ``record`` only queues the batch.

Readers:

- ``query`` — a CloudWatch-style statistic over time (``MetricQuery``), for the CloudWatch API;
- ``task_views`` / ``host_views`` — the latest sample of every running task's containers with
  their reservations and limits, for ``stowage top`` (GetTaskMetrics), the Prometheus
  exposition and the Kubernetes metrics API.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stowage.controllers.ecs_index import EcsIndex
from stowage.controllers.metrics_aggregate import ServiceState
from stowage.controllers.metrics_custom import CustomMetrics
from stowage.controllers.metrics_ingest import IngestConfig, Ingestor, Latest
from stowage.controllers.metrics_meta import ContainerMeta, InstanceMeta, MetricsMeta, TaskMeta
from stowage.controllers.metrics_query import MetricPoints, MetricQueries, MetricQuery
from stowage.controllers.metrics_series import LAYOUTS
from stowage.controllers.services.controller import ServiceController
from stowage.metricstore import MetricStore, StoreConfig
from stowage.model import tasks as task_model
from stowage.model.agent_stats import PackedBatch
from stowage.resources import ecs_keys

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    store: StoreConfig = field(default_factory=StoreConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)


@dataclass(frozen=True, slots=True)
class ContainerView:
    name: str
    reserved: ContainerMeta | None
    sample: Latest | None


@dataclass(frozen=True, slots=True)
class TaskView:
    meta: TaskMeta
    containers: list[ContainerView]

    @property
    def sampled(self) -> list[Latest]:
        return [c.sample for c in self.containers if c.sample is not None]

    @property
    def cores(self) -> float | None:
        values = [s.cores for s in self.sampled if s.cores is not None]
        return sum(values) if values else None

    @property
    def memory_bytes(self) -> int | None:
        samples = self.sampled
        return sum(s.mem for s in samples) if samples else None

    @property
    def memory_limit_bytes(self) -> int:
        """The task's memory ceiling: its hard limits (task-level size or containers'), in bytes."""
        limits = [c.reserved.memory_limit_mib for c in self.containers if c.reserved is not None]
        if limits and all(limits):
            return sum(limits) * MIB
        return self.meta.memory_reserved_mib * MIB

    @property
    def last_sample_at(self) -> float | None:
        samples = self.sampled
        return max(s.ts for s in samples) if samples else None

    def rates(self) -> tuple[float, float, float, float]:
        out = [0.0, 0.0, 0.0, 0.0]
        for s in self.sampled:
            for i, r in enumerate(s.rates):
                out[i] += r
        return out[0], out[1], out[2], out[3]


@dataclass(frozen=True, slots=True)
class HostView:
    instance: InstanceMeta
    tasks: list[TaskView]


def service_states(controller: ServiceController) -> Callable[[], list[ServiceState]]:
    """What the aggregates need of the services: their desired, running and pending counts and
    deployments, as the service controller keeps them."""

    def states() -> list[ServiceState]:
        out: list[ServiceState] = []
        for rec in list(controller.services.values()):
            parsed = ecs_keys.parse_service(rec.key)
            doc = rec.doc
            if parsed is None or doc.get("status") not in (None, "ACTIVE", "DRAINING"):
                continue
            account, region, cluster, name = parsed
            out.append(
                ServiceState(
                    account,
                    region,
                    cluster,
                    name,
                    desired=int(doc.get("desiredCount") or 0),
                    deployments=len(doc.get("deployments") or []),
                    running=int(doc.get("runningCount") or 0),
                    pending=int(doc.get("pendingCount") or 0),
                )
            )
        return out

    return states


class Metrics:
    def __init__(
        self,
        data_dir: Path,
        config: MetricsConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config or MetricsConfig()
        self.clock = clock
        self.store = MetricStore.open_in(data_dir, LAYOUTS, self.config.store, clock=clock)
        self.queries = MetricQueries(self.store, clock=clock)
        self.custom = CustomMetrics(self.store, clock=clock)
        """Custom metrics (CloudWatch PutMetricData), in the same store."""
        self.meta: MetricsMeta | None = None
        self.ingestor: Ingestor | None = None
        self._services: Callable[[], Iterable[ServiceState]] = list
        self._pending: list[tuple[str, Sequence[Mapping[str, Any]] | PackedBatch]] = []

    # -- life --------------------------------------------------------------------------------
    def start(self, index: EcsIndex, services: Callable[[], Iterable[ServiceState]] | None = None) -> None:
        """Bind to the ECS index (loaded) and start ingesting."""
        self.meta = MetricsMeta(index)
        self.meta.load()
        index.subscribe(self.meta)
        if services is not None:
            self._services = services
        self.ingestor = Ingestor(self.store, self.meta, self._services, self.config.ingest, clock=self.clock)
        for instance_arn, samples in self._pending:
            self.ingestor.submit(instance_arn, samples)
        self._pending.clear()
        self.ingestor.start()

    async def stop(self) -> None:
        """Stop ingesting, flush and close the store (off the event loop: it writes)."""
        if self.ingestor is not None:
            await asyncio.to_thread(self.ingestor.stop)
        await asyncio.to_thread(self.store.close)

    # -- StatsSink ---------------------------------------------------------------------------
    def record(self, instance_arn: str, samples: Sequence[Mapping[str, Any]] | PackedBatch) -> int:
        if self.ingestor is None:
            self._pending.append((instance_arn, samples))
        else:
            self.ingestor.submit(instance_arn, samples)
        return len(samples.rows) if isinstance(samples, PackedBatch) else len(samples)

    def forget(self, task_arn: str) -> None:
        if self.ingestor is not None:
            self.ingestor.forget(task_arn)

    # -- reading -----------------------------------------------------------------------------
    async def query(self, q: MetricQuery) -> MetricPoints:
        return await self.queries.query(q)

    def task_views(
        self,
        account: str | None = None,
        region: str | None = None,
        *,
        cluster: str | None = None,
        service: str | None = None,
        include_pods: bool = True,
    ) -> list[TaskView]:
        """Every task not yet STOPPED in the scope, with its containers' latest samples."""
        if self.meta is None or self.ingestor is None:
            return []
        latest = self.ingestor.latest
        out: list[TaskView] = []
        for meta in list(self.meta.tasks.values()):
            if meta.status == task_model.STOPPED:
                continue
            if (account is not None and meta.account != account) or (
                region is not None and meta.region != region
            ):
                continue
            if (cluster is not None and meta.cluster != cluster) or (
                service is not None and meta.service != service
            ):
                continue
            if not include_pods and meta.pod is not None:
                continue
            samples = latest.get(meta.arn) or {}
            names = list(meta.containers) or list(samples)
            views = [ContainerView(n, meta.containers.get(n), samples.get(n)) for n in names]
            out.append(TaskView(meta, views))
        return out

    def task_view(self, task_arn: str) -> TaskView | None:
        if self.meta is None or self.ingestor is None:
            return None
        meta = self.meta.tasks.get(task_arn)
        if meta is None:
            return None
        samples = self.ingestor.latest.get(task_arn) or {}
        names = list(meta.containers) or list(samples)
        return TaskView(meta, [ContainerView(n, meta.containers.get(n), samples.get(n)) for n in names])

    def host_views(
        self, account: str | None = None, region: str | None = None, *, cluster: str | None = None
    ) -> list[HostView]:
        """Every registered container instance in the scope with the tasks running on it."""
        if self.meta is None:
            return []
        tasks: dict[str, list[TaskView]] = {}
        for view in self.task_views(account, region):
            if view.meta.instance_key is not None:
                tasks.setdefault(view.meta.instance_key, []).append(view)
        out: list[HostView] = []
        for inst in list(self.meta.instances.values()):
            if (account is not None and inst.account != account) or (
                region is not None and inst.region != region
            ):
                continue
            if cluster is not None and inst.cluster != cluster:
                continue
            out.append(HostView(inst, tasks.get(inst.key, [])))
        return out

    def health(self) -> dict[str, float]:
        """Numbers about the pipeline itself, for ``/metrics``."""
        store = self.store
        out: dict[str, float] = {
            "series": float(store.series_count),
            "points_appended": float(store.appended),
            "flushes": float(store.flushes),
            "last_flush_seconds": store.last_flush_s,
            "store_bytes": float(store.size_bytes()),
        }
        ing = self.ingestor
        if ing is not None:
            out.update(
                samples=float(ing.samples),
                batches=float(ing.batches),
                dropped=float(ing.dropped),
                queue_depth=float(ing.queue_depth),
                busy_seconds=ing.busy_s,
            )
        return out


def _in_scope(account: str, region: str, want_account: str | None, want_region: str | None) -> bool:
    return (want_account is None or account == want_account) and (
        want_region is None or region == want_region
    )
