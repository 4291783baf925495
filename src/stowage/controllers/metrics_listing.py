"""Which metrics exist (CloudWatch ``ListMetrics``): the ``AWS/ECS`` and ``ECS/ContainerInsights``
metrics the stored series can answer (``metrics_catalog``), and the custom metrics
(``metrics_custom``), each with the time something was last recorded for it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from stowage.controllers import metrics_catalog as catalog
from stowage.controllers import metrics_series as ms
from stowage.controllers.metrics_custom import CustomMetrics
from stowage.metricstore import MetricStore


@dataclass(frozen=True, slots=True)
class ListedMetric:
    namespace: str
    metric: str
    dimensions: dict[str, str]
    last_active: float


def _tables(layout: str) -> list[tuple[str, Mapping[str, object], tuple[str, ...]]]:
    """(namespace, metrics table, dimension names from labels) for a layout's series."""
    if layout == ms.SERVICE.name:
        dims = ("ClusterName", "ServiceName")
        return [
            (catalog.AWS_ECS, catalog.SERVICE_ECS, dims),
            (catalog.CONTAINER_INSIGHTS, catalog.SERVICE_CI, dims),
        ]
    if layout == ms.CLUSTER.name:
        cluster = ("ClusterName",)
        return [
            (catalog.AWS_ECS, catalog.CLUSTER_ECS, cluster),
            (catalog.CONTAINER_INSIGHTS, catalog.CLUSTER_CI, cluster),
        ]
    if layout == ms.FAMILY.name:
        return [(catalog.CONTAINER_INSIGHTS, catalog.FAMILY_CI, ("ClusterName", "TaskDefinitionFamily"))]
    if layout == ms.CONTAINER.name:
        return [
            (catalog.CONTAINER_INSIGHTS, catalog.TASK_CI, ("ClusterName", "TaskId")),
            (catalog.CONTAINER_INSIGHTS, catalog.CONTAINER_CI, ("ClusterName", "TaskId", "ContainerName")),
        ]
    return []


_LABEL_OF = {
    "ClusterName": "cluster",
    "ServiceName": "service",
    "TaskDefinitionFamily": "family",
    "TaskId": "task",
    "ContainerName": "container",
}


def aws_metrics(store: MetricStore, account: str, region: str) -> Iterator[ListedMetric]:
    seen: set[tuple[str, str, tuple[tuple[str, str], ...]]] = set()
    for info in store.all_series():
        labels = info.labels
        if labels.get("account") != account or labels.get("region") != region:
            continue
        active = max(info.created, info.last)
        for namespace, table, names in _tables(info.layout.name):
            dims = {name: labels.get(_LABEL_OF[name], "") for name in names}
            ident = tuple(sorted(dims.items()))
            for metric in table:
                key = (namespace, metric, ident)
                if key in seen:
                    continue
                seen.add(key)
                yield ListedMetric(namespace, metric, dims, active)


def all_metrics(store: MetricStore, custom: CustomMetrics, account: str, region: str) -> list[ListedMetric]:
    out = list(aws_metrics(store, account, region))
    out.extend(
        ListedMetric(m.namespace, m.metric, m.dimensions, m.last_active) for m in custom.list(account, region)
    )
    return out
