"""``metrics.k8s.io/v1beta1``: PodMetrics and NodeMetrics, what ``kubectl top`` reads.

Served directly by the API server (no aggregated API server): the types are in the registry,
hence in discovery, and ``K8sApp`` routes their get/list here. The numbers are the agents'
latest samples (``controllers/metrics``): a pod's task's containers, each with its CPU in
nanocores and its memory working set (what metrics-server reports), over the agent's last
sample interval (``window``). Only running pods with a sample are listed; getting one without
answers 404, as metrics-server does (kubectl says "metrics not available yet").

A node's usage is the sum of what the tasks running on it use (stowage samples containers, not
the host), so system daemons outside tasks are not counted.

Label selectors work as on pods and nodes (``kubectl top pod -l app=web``): the objects are
listed from the store with the selector, then joined with their samples.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import dataclass

from stowage.api.k8s import handlers
from stowage.api.k8s.columns import AGE, NAME
from stowage.api.k8s.context import ApiContext
from stowage.api.k8s.handlers import Reply
from stowage.api.k8s.http import Request
from stowage.api.k8s.registry import Column, ResourceType
from stowage.api.k8s.tables import TABLE_CONTENT_TYPE, table, wants_table
from stowage.controllers.metrics import HostView, Metrics, TaskView
from stowage.model.k8s.errors import K8sError

GROUP = "metrics.k8s.io"
DEFAULT_WINDOW = 10.0
"""Seconds: the agents' default sample interval, for a node that has no sample to measure it."""
VERSION = "v1beta1"
Obj = dict[str, object]


def _usage_cell(resource: str) -> Column:
    def cell(o: Obj, _: float) -> str:
        usage = o.get("usage")
        if not isinstance(usage, dict):  # a pod: sum its containers
            containers = o.get("containers")
            total = 0.0
            for c in containers if isinstance(containers, list) else []:
                total += _parse(str(c["usage"][resource]))
            return _format(resource, total)
        return str(usage.get(resource, ""))

    return Column(resource.upper(), cell)


def _parse(quantity: str) -> float:
    if quantity.endswith("n"):
        return float(quantity[:-1]) / 1e9
    if quantity.endswith("Ki"):
        return float(quantity[:-2]) * 1024
    return float(quantity)


def _format(resource: str, value: float) -> str:
    return f"{round(value * 1e9)}n" if resource == "cpu" else f"{int(value) // 1024}Ki"


_WINDOW = Column("Window", lambda o, _: str(o.get("window", "")))

POD_METRICS = ResourceType(
    group=GROUP,
    version=VERSION,
    plural="pods",
    kind="PodMetrics",
    namespaced=True,
    definition="io.k8s.metrics.pkg.apis.metrics.v1beta1.PodMetrics",
    singular="",
    verbs=("get", "list"),
    columns=(NAME, _usage_cell("cpu"), _usage_cell("memory"), _WINDOW, AGE),
)
NODE_METRICS = ResourceType(
    group=GROUP,
    version=VERSION,
    plural="nodes",
    kind="NodeMetrics",
    namespaced=False,
    definition="io.k8s.metrics.pkg.apis.metrics.v1beta1.NodeMetrics",
    singular="",
    verbs=("get", "list"),
    columns=(NAME, _usage_cell("cpu"), _usage_cell("memory"), _WINDOW, AGE),
)
METRICS = (POD_METRICS, NODE_METRICS)


@dataclass(frozen=True)
class PodMetricsSource:
    """The samples of the pods the API runs: the tasks of one ECS cluster."""

    metrics: Metrics
    account: str
    region: str
    cluster: str

    def pods(self) -> dict[tuple[str, str], TaskView]:
        views = self.metrics.task_views(self.account, self.region, cluster=self.cluster)
        return {v.meta.pod: v for v in views if v.meta.pod is not None and v.sampled}

    def nodes(self) -> dict[str, HostView]:
        hosts = self.metrics.host_views(self.account, self.region, cluster=self.cluster)
        return {h.instance.ec2_instance_id: h for h in hosts}


def _time(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _window(seconds: float) -> str:
    return f"{max(1, round(seconds))}s"


def _meta(obj: Mapping[str, object], with_namespace: bool) -> Obj:
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    out: Obj = {"name": meta.get("name"), "creationTimestamp": meta.get("creationTimestamp")}
    if with_namespace:
        out["namespace"] = meta.get("namespace")
    if meta.get("labels"):
        out["labels"] = meta["labels"]
    return out


def pod_metrics(pod: Mapping[str, object], view: TaskView) -> Obj:
    samples = view.sampled
    containers = []
    for c in view.containers:
        s = c.sample
        if s is None:
            continue
        containers.append(
            {
                "name": c.name,
                "usage": {"cpu": _format("cpu", s.cores or 0.0), "memory": _format("memory", s.mem)},
            }
        )
    return {
        "kind": "PodMetrics",
        "apiVersion": f"{GROUP}/{VERSION}",
        "metadata": _meta(pod, True),
        "timestamp": _time(max(s.ts for s in samples)),
        "window": _window(max(s.window for s in samples)),
        "containers": containers,
    }


def node_metrics(node: Mapping[str, object], host: HostView, now: float) -> Obj | None:
    """The node's usage: its tasks' sum; a connected node running nothing uses nothing now."""
    samples = [s for v in host.tasks for s in v.sampled]
    if not samples and not host.instance.connected:
        return None
    cores = sum(s.cores or 0.0 for s in samples)
    mem = sum(s.mem for s in samples)
    return {
        "kind": "NodeMetrics",
        "apiVersion": f"{GROUP}/{VERSION}",
        "metadata": _meta(node, False),
        "timestamp": _time(max((s.ts for s in samples), default=now)),
        "window": _window(max((s.window for s in samples), default=DEFAULT_WINDOW)),
        "usage": {"cpu": _format("cpu", cores), "memory": _format("memory", mem)},
    }


def _not_found(rt: ResourceType, name: str) -> K8sError:
    return K8sError(
        404,
        "NotFound",
        f'{rt.plural}.{GROUP} "{name}" not found',
        {"name": name, "group": GROUP, "kind": rt.plural},
    )


async def serve(
    ctx: ApiContext, rt: ResourceType, namespace: str | None, name: str | None, request: Request
) -> Reply:
    if request.method != "GET" or request.flag("watch"):
        raise handlers.method_not_allowed(request.method)
    source = ctx.pod_metrics
    if source is None:
        raise K8sError(503, "ServiceUnavailable", "the metrics API is not available on this API server")
    source_rt = ctx.registry.lookup("", "v1", rt.plural)
    assert source_rt is not None
    pods = rt is POD_METRICS
    if name is not None:
        try:
            found = await ctx.service.get(source_rt, namespace or "", name)
        except K8sError:
            raise _not_found(rt, name) from None
        objects = [found.obj]
    else:
        objects, _rv, _token = await handlers.collect(ctx, source_rt, namespace if pods else None, request)
    items: list[Obj] = []
    if pods:
        views = source.pods()
        for pod in objects:
            meta = pod.get("metadata") or {}
            view = views.get((str(meta.get("namespace")), str(meta.get("name"))))
            if view is not None:
                items.append(pod_metrics(pod, view))
    else:
        hosts = source.nodes()
        for node in objects:
            host = hosts.get(str((node.get("metadata") or {}).get("name")))
            made = None if host is None else node_metrics(node, host, time.time())
            if made is not None:
                items.append(made)
    if name is not None:
        if not items:
            raise _not_found(rt, name)
        return Reply(200, items[0])
    version = wants_table(request.headers.get("accept", ""))
    if version:
        body = table(rt, [(i, i) for i in items], resource_version="0", version=version)
        return Reply(200, body, TABLE_CONTENT_TYPE)
    return Reply(
        200,
        {"kind": f"{rt.kind}List", "apiVersion": f"{GROUP}/{VERSION}", "metadata": {}, "items": items},
    )
