"""``GET /metrics``: the Prometheus text exposition (format 0.0.4) of tasks, containers and the
control plane itself.

Per container (labels ``account``, ``cluster``, ``service``, ``family``, ``task``,
``container``): CPU seconds used (counter) and cores in use, memory in use / RSS / limit,
reserved CPU units and memory, network and block I/O byte counters, the sample's time. Per task:
cores and memory in use against the reservation and limit. The control plane: API request
latency histograms and request counts per service and operation, placements, tasks by state per
cluster, container instances, queue depths, store watches and revision, the metrics pipeline's
own figures, and the process (CPU, memory, file descriptors).

``?cluster=``, ``?service=`` and ``?account=`` narrow the task and container series (Prometheus
scrape configs can pass them as ``params``), for installations with many thousands of tasks.

Who may scrape: the endpoint is not signed (Prometheus does not sign requests), so by default it
answers only clients on the loopback interface (127.0.0.0/8, ::1) and refuses others with 403;
``stowage server --metrics-public`` serves it to everyone (put it behind your own network
policy). The rendering runs on a worker thread so a large scrape never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import os
import resource
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from stowage.controllers.ecs_index import EcsIndex
from stowage.controllers.metrics import Metrics, TaskView
from stowage.controllers.telemetry import Histogram, RequestStats

CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
MIB = 1024 * 1024


@dataclass
class Sources:
    """What the exposition reads, wired by ``server.py``."""

    requests: RequestStats
    metrics: Metrics | None = None
    index: EcsIndex | None = None
    queues: Mapping[str, Callable[[], int]] = field(default_factory=dict)
    """Queue name → its depth now."""
    watches: Callable[[], int] | None = None
    """Open watches on the state store (the informers' and every Kubernetes watch)."""
    started_at: float = field(default_factory=time.time)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _num(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


class Text:
    """Lines of the exposition; one ``family`` header, then its samples."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")

    def sample(self, name: str, labels: str, value: float) -> None:
        self.lines.append(f"{name}{{{labels}}} {_num(value)}" if labels else f"{name} {_num(value)}")

    def histogram(self, name: str, labels: str, hist: Histogram) -> None:
        sep = "," if labels else ""
        for le, count in hist.cumulative():
            self.lines.append(f'{name}_bucket{{{labels}{sep}le="{le}"}} {count}')
        self.sample(f"{name}_sum", labels, hist.total)
        self.sample(f"{name}_count", labels, hist.n)

    def body(self) -> bytes:
        return ("\n".join(self.lines) + "\n").encode()


def labels(**pairs: str) -> str:
    return ",".join(f'{k}="{_escape(v)}"' for k, v in pairs.items())


# -- tasks and containers ------------------------------------------------------------------------
_CONTAINER_FAMILIES = (
    ("stowage_container_cpu_usage_seconds_total", "counter", "CPU time the container used, in seconds."),
    ("stowage_container_cpu_usage_cores", "gauge", "CPU in use over the last sample interval, in cores."),
    (
        "stowage_container_cpu_reserved_units",
        "gauge",
        "The container's cpu in the task definition (1024 = 1 core).",
    ),
    (
        "stowage_container_memory_usage_bytes",
        "gauge",
        "Memory in use (working set: usage minus inactive cache).",
    ),
    ("stowage_container_memory_rss_bytes", "gauge", "Resident anonymous memory."),
    (
        "stowage_container_memory_limit_bytes",
        "gauge",
        "The container's memory limit (the host's memory if none).",
    ),
    (
        "stowage_container_memory_reserved_bytes",
        "gauge",
        "memoryReservation, else memory, of the definition.",
    ),
    (
        "stowage_container_network_receive_bytes_total",
        "counter",
        "Bytes received by the container's network.",
    ),
    ("stowage_container_network_transmit_bytes_total", "counter", "Bytes sent by the container's network."),
    ("stowage_container_blkio_read_bytes_total", "counter", "Bytes read from block devices."),
    ("stowage_container_blkio_write_bytes_total", "counter", "Bytes written to block devices."),
    ("stowage_container_last_sample_timestamp_seconds", "gauge", "When the agent read the latest sample."),
)
_TASK_FAMILIES = (
    ("stowage_task_cpu_usage_cores", "gauge", "CPU in use by all the task's containers, in cores."),
    ("stowage_task_cpu_reserved_units", "gauge", "The task's CPU reservation in CPU units (1024 = 1 core)."),
    ("stowage_task_memory_usage_bytes", "gauge", "Memory in use by all the task's containers."),
    ("stowage_task_memory_reserved_bytes", "gauge", "The task's memory reservation."),
    ("stowage_task_memory_limit_bytes", "gauge", "The task's memory ceiling (hard limits)."),
)


def _task_label(view: TaskView) -> str:
    m = view.meta
    return labels(
        account=m.account, cluster=m.cluster, service=m.service or "", family=m.family, task=m.task_id
    )


def render_tasks(out: Text, views: list[TaskView]) -> None:
    rows: dict[str, list[tuple[str, str]]] = {
        name: [] for name, _, _ in (*_CONTAINER_FAMILIES, *_TASK_FAMILIES)
    }
    for view in views:
        base = _task_label(view)
        for c in view.containers:
            lab = f'{base},container="{_escape(c.name)}"'
            if c.reserved is not None:
                rows["stowage_container_cpu_reserved_units"].append((lab, str(c.reserved.cpu_units)))
                rows["stowage_container_memory_reserved_bytes"].append(
                    (lab, str(c.reserved.memory_reserved_mib * MIB))
                )
            s = c.sample
            if s is None:
                continue
            rows["stowage_container_cpu_usage_seconds_total"].append((lab, _num(s.cpu_ns / 1e9)))
            if s.cores is not None:
                rows["stowage_container_cpu_usage_cores"].append((lab, _num(s.cores)))
            rows["stowage_container_memory_usage_bytes"].append((lab, str(s.mem)))
            rows["stowage_container_memory_rss_bytes"].append((lab, str(s.rss)))
            rows["stowage_container_memory_limit_bytes"].append((lab, str(s.mem_limit)))
            rows["stowage_container_network_receive_bytes_total"].append((lab, str(s.net_rx)))
            rows["stowage_container_network_transmit_bytes_total"].append((lab, str(s.net_tx)))
            rows["stowage_container_blkio_read_bytes_total"].append((lab, str(s.block_read)))
            rows["stowage_container_blkio_write_bytes_total"].append((lab, str(s.block_write)))
            rows["stowage_container_last_sample_timestamp_seconds"].append((lab, _num(s.ts)))
        cores = view.cores
        if cores is not None:
            rows["stowage_task_cpu_usage_cores"].append((base, _num(cores)))
        mem = view.memory_bytes
        if mem is not None:
            rows["stowage_task_memory_usage_bytes"].append((base, str(mem)))
        rows["stowage_task_cpu_reserved_units"].append((base, str(view.meta.cpu_units)))
        rows["stowage_task_memory_reserved_bytes"].append((base, str(view.meta.memory_reserved_mib * MIB)))
        rows["stowage_task_memory_limit_bytes"].append((base, str(view.memory_limit_bytes)))
    for name, kind, help_text in (*_CONTAINER_FAMILIES, *_TASK_FAMILIES):
        out.family(name, kind, help_text)
        out.lines.extend(f"{name}{{{lab}}} {value}" for lab, value in rows[name])


# -- the control plane ---------------------------------------------------------------------------
def render_control_plane(out: Text, src: Sources) -> None:
    out.family("stowage_api_request_duration_seconds", "histogram", "AWS API request latency by operation.")
    for (service, op), hist in sorted(src.requests.latency.items()):
        out.histogram("stowage_api_request_duration_seconds", labels(service=service, operation=op), hist)
    out.family("stowage_api_requests_total", "counter", "AWS API requests by operation and HTTP status.")
    for (service, op, status), n in sorted(src.requests.requests.items()):
        out.sample("stowage_api_requests_total", labels(service=service, operation=op, code=str(status)), n)
    if src.index is not None:
        out.family("stowage_store_revision", "gauge", "The state store revision the control plane has seen.")
        out.sample("stowage_store_revision", "", src.index.revision)
        _render_fleet(out, src.index)
    if src.watches is not None:
        out.family("stowage_store_watches", "gauge", "Open watches on the state store.")
        out.sample("stowage_store_watches", "", src.watches())
    out.family("stowage_queue_depth", "gauge", "Work waiting in the control plane's queues.")
    for name, depth in sorted(src.queues.items()):
        out.sample("stowage_queue_depth", labels(queue=name), depth())
    if src.metrics is not None:
        _render_pipeline(out, src.metrics)
    _render_process(out, src.started_at)


def _render_fleet(out: Text, index: EcsIndex) -> None:
    tasks: dict[tuple[str, str, str, str], int] = {}
    for rec in index.tasks():
        parts = rec.key.split("/")
        state = str(rec.doc.get("lastStatus") or "UNKNOWN")
        key = (parts[2], parts[3], parts[5], state)
        tasks[key] = tasks.get(key, 0) + 1
    out.family("stowage_tasks", "gauge", "Tasks by cluster and last status.")
    for (account, region, cluster, state), n in sorted(tasks.items()):
        out.sample("stowage_tasks", labels(account=account, region=region, cluster=cluster, status=state), n)
    hosts: dict[tuple[str, str, str, str, str], int] = {}
    for rec in index.instances():
        parts = rec.key.split("/")
        host = (
            parts[2],
            parts[3],
            parts[5],
            str(rec.doc.get("status") or ""),
            "true" if rec.doc.get("agentConnected") else "false",
        )
        hosts[host] = hosts.get(host, 0) + 1
    out.family(
        "stowage_container_instances", "gauge", "Container instances by cluster, status and agent connection."
    )
    for (account, region, cluster, status, connected), n in sorted(hosts.items()):
        lab = labels(account=account, region=region, cluster=cluster, status=status, connected=connected)
        out.sample("stowage_container_instances", lab, n)


def _render_pipeline(out: Text, metrics: Metrics) -> None:
    meta = metrics.meta
    if meta is not None:
        out.family("stowage_scheduler_placements_total", "counter", "Tasks given a host since start-up.")
        out.sample("stowage_scheduler_placements_total", "", meta.placements)
        out.family("stowage_tasks_stopped_total", "counter", "Tasks that reached STOPPED since start-up.")
        out.sample("stowage_tasks_stopped_total", "", meta.stopped)
    health = metrics.health()
    gauges = (
        ("series", "stowage_metrics_series", "gauge", "Series in the metrics store."),
        ("store_bytes", "stowage_metrics_store_bytes", "gauge", "Size of the metrics store on disk."),
        ("samples", "stowage_metrics_samples_total", "counter", "Container samples ingested."),
        ("dropped", "stowage_metrics_samples_dropped_total", "counter", "Samples not newer than the last."),
        ("batches", "stowage_metrics_batches_total", "counter", "ReportStats batches ingested."),
        ("points_appended", "stowage_metrics_points_total", "counter", "Points written to the store."),
        (
            "busy_seconds",
            "stowage_metrics_ingest_cpu_seconds_total",
            "counter",
            "CPU time of the ingest thread.",
        ),
        ("last_flush_seconds", "stowage_metrics_last_flush_seconds", "gauge", "Duration of the last flush."),
    )
    for key, name, kind, help_text in gauges:
        if key in health:
            out.family(name, kind, help_text)
            out.sample(name, "", health[key])
    if metrics.ingestor is not None:
        out.family(
            "stowage_metrics_ingest_latency_seconds",
            "histogram",
            "From a batch's arrival to its points queued.",
        )
        out.histogram("stowage_metrics_ingest_latency_seconds", "", metrics.ingestor.latency)


def _render_process(out: Text, started_at: float) -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out.family("process_cpu_seconds_total", "counter", "User and system CPU time of the control plane.")
    out.sample("process_cpu_seconds_total", "", usage.ru_utime + usage.ru_stime)
    rss = 0
    try:
        with open("/proc/self/statm") as f:
            rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        rss = usage.ru_maxrss * 1024
    out.family("process_resident_memory_bytes", "gauge", "Resident memory of the control plane.")
    out.sample("process_resident_memory_bytes", "", rss)
    try:
        fds = len(os.listdir("/proc/self/fd"))
        out.family("process_open_fds", "gauge", "Open file descriptors.")
        out.sample("process_open_fds", "", fds)
    except OSError:
        pass
    out.family("process_start_time_seconds", "gauge", "When the control plane started (epoch seconds).")
    out.sample("process_start_time_seconds", "", started_at)


def render(src: Sources, query: Mapping[str, str]) -> bytes:
    out = Text()
    if src.metrics is not None:
        views = src.metrics.task_views(
            query.get("account"), cluster=query.get("cluster"), service=query.get("service")
        )
        render_tasks(out, views)
    render_control_plane(out, src)
    return out.body()


# -- the endpoint --------------------------------------------------------------------------------
def _loopback(scope: Scope) -> bool:
    client = scope.get("client")
    if not client:
        return False
    try:
        return ipaddress.ip_address(str(client[0])).is_loopback
    except ValueError:
        return False


async def _reply(
    send: Send, status: int, body: bytes, content_type: bytes = b"text/plain; charset=utf-8"
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    if status == 405:
        headers.append((b"allow", b"GET"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def serve_metrics(scope: Scope, send: Send, src: Sources, *, public: bool) -> None:
    if scope["method"] not in ("GET", "HEAD"):
        await _reply(send, 405, b"405 Method Not Allowed: /metrics answers GET\n")
        return
    if not public and not _loopback(scope):
        await _reply(
            send,
            403,
            b"403 Forbidden: /metrics answers loopback clients only; "
            b"start the server with --metrics-public to serve it to others\n",
        )
        return
    raw = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    query = {k: v[-1] for k, v in raw.items() if v}
    body = await asyncio.to_thread(render, src, query)
    await _reply(send, 200, b"" if scope["method"] == "HEAD" else body, CONTENT_TYPE)
