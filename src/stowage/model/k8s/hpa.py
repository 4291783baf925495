"""The HorizontalPodAutoscaler's replica calculator, pure: from the target's pods and their
latest resource usage, the replica count a Resource (or ContainerResource) metric asks for.

As upstream's ``ReplicaCalculator`` (Kubernetes documents the rule as
``desiredReplicas = ceil(currentReplicas * currentMetricValue / desiredMetricValue)``):

- values are milli-units (CPU millicores, memory milli-bytes), as the controller reads
  ``Quantity.MilliValue()``;
- Utilization: usage over the sum of the pods' container *requests*, as an integer percent
  (``utilization = sum(usage) * 100 // sum(requests)``); the ratio is that percent over the
  target percent. AverageValue: the mean usage per pod over the target value;
- within the tolerance (``|1 - ratio| <= 0.1``) nothing changes;
- pods being deleted or Failed are not counted; Pending pods are *ignored*; pods without a
  sample are *missing*; for CPU, a pod is also ignored while it is not Ready or, during its
  first five minutes (``cpuInitializationPeriod``), until one sample window has passed since
  it became Ready, so start-up bursts do not drive a scale-up;
- missing pods count as 100% of their request (of the target, for AverageValue) on a scale
  down and 0% on a scale up; ignored pods count as 0% on a scale up; if counting them would
  reverse the direction, or bring the ratio within the tolerance, nothing changes.

Worked example: 2 ready pods each requesting 100m and using 90m, target 50%:
utilization = 180 * 100 // 200 = 90%, ratio 90/50 = 1.8, desired = ceil(1.8 * 2) = 4.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stowage.model.k8s.meta import parse_rfc3339
from stowage.model.k8s.quantity import QuantityError, parse_quantity

Obj = dict[str, Any]
TOLERANCE = 0.1
CPU_INITIALIZATION_PERIOD = 300.0
"""Seconds (kube-controller-manager's ``--horizontal-pod-autoscaler-cpu-initialization-period``)."""
INITIAL_READINESS_DELAY = 30.0
"""Seconds (``--horizontal-pod-autoscaler-initial-readiness-delay``)."""


class MetricError(Exception):
    """No replica count can be computed; ``str(exc)`` is upstream's message."""


@dataclass(frozen=True, slots=True)
class ContainerUsage:
    cpu_cores: float | None
    memory_bytes: int


@dataclass(frozen=True, slots=True)
class PodUsage:
    """One pod's latest sample: per container, when it was taken and over what window."""

    containers: Mapping[str, ContainerUsage]
    timestamp: float
    window: float


@dataclass(frozen=True, slots=True)
class PodMetric:
    value: int
    """Milli-units."""
    timestamp: float
    window: float


@dataclass(frozen=True, slots=True)
class Proposal:
    replicas: int
    utilization: int | None
    """The current utilization percent (Utilization targets)."""
    average: int
    """The current mean usage per pod, in milli-units."""
    timestamp: float


def usage_milli(usage: ContainerUsage, resource: str) -> int | None:
    """A container's usage of ``cpu`` (millicores, rounded up as ``MilliValue``) or ``memory``
    (milli-bytes)."""
    if resource == "cpu":
        if usage.cpu_cores is None:
            return None
        return math.ceil(round(usage.cpu_cores * 1e9) / 1e6)
    if resource == "memory":
        return usage.memory_bytes * 1000
    return None


def pod_metrics(
    pods: list[Obj], usage: Mapping[tuple[str, str], PodUsage], resource: str, container: str | None = None
) -> dict[str, PodMetric]:
    """The resource's value per pod name: the sum over its containers (or the one named
    ``container``, for ContainerResource); a pod lacking a container's sample has none."""
    out: dict[str, PodMetric] = {}
    for pod in pods:
        meta = pod.get("metadata") or {}
        sample = usage.get((str(meta.get("namespace") or ""), str(meta.get("name") or "")))
        if sample is None or not sample.containers:
            continue
        chosen = (
            list(sample.containers.values())
            if container is None
            else [sample.containers[container]]
            if container in sample.containers
            else []
        )
        values = [usage_milli(c, resource) for c in chosen]
        if not values or any(v is None for v in values):
            continue
        out[str(meta.get("name"))] = PodMetric(
            sum(v for v in values if v is not None), sample.timestamp, sample.window
        )
    return out


def pod_requests(pods: list[Obj], resource: str, container: str | None = None) -> dict[str, int]:
    """Per pod name, the milli-value its containers request; every container must have one."""
    out: dict[str, int] = {}
    for pod in pods:
        name = str((pod.get("metadata") or {}).get("name"))
        total = 0
        for c in (pod.get("spec") or {}).get("containers") or []:
            if container is not None and c.get("name") != container:
                continue
            request = ((c.get("resources") or {}).get("requests") or {}).get(resource)
            if request is None:
                raise MetricError(
                    f"missing request for {resource} in container {c.get('name')} of Pod {name}"
                )
            try:
                total += math.ceil(parse_quantity(request) * 1000)
            except QuantityError as exc:
                raise MetricError(str(exc)) from None
        out[name] = total
    return out


def _ready_condition(pod: Obj) -> Obj | None:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == "Ready"), None)


def group_pods(
    pods: list[Obj], metrics: Mapping[str, PodMetric], resource: str, now: float
) -> tuple[int, set[str], set[str]]:
    """(ready pod count, ignored pod names, missing pod names), as upstream's ``groupPods``."""
    ready = 0
    ignored: set[str] = set()
    missing: set[str] = set()
    for pod in pods:
        meta = pod.get("metadata") or {}
        status = pod.get("status") or {}
        name = str(meta.get("name"))
        if meta.get("deletionTimestamp") or status.get("phase") == "Failed":
            continue
        if status.get("phase", "Pending") == "Pending":
            ignored.add(name)
            continue
        metric = metrics.get(name)
        if metric is None:
            missing.add(name)
            continue
        if resource == "cpu" and _cpu_sample_ignored(pod, metric, now):
            ignored.add(name)
            continue
        ready += 1
    return ready, ignored, missing


def _cpu_sample_ignored(pod: Obj, metric: PodMetric, now: float) -> bool:
    condition = _ready_condition(pod)
    start = parse_rfc3339(str((pod.get("status") or {}).get("startTime") or ""))
    if condition is None or start is None:
        return True
    since = parse_rfc3339(str(condition.get("lastTransitionTime") or "")) or start
    unready = condition.get("status") != "True"
    if start + CPU_INITIALIZATION_PERIOD > now:
        # still starting: ignore it unready, or until a whole sample window follows readiness
        return unready or metric.timestamp < since + metric.window
    # unready and never ready since it started
    return unready and start + INITIAL_READINESS_DELAY > since


def utilization_ratio(
    metrics: Mapping[str, PodMetric], requests: Mapping[str, int], target: int
) -> tuple[float, int, int]:
    """(usage ratio, current utilization percent, mean raw value per pod)."""
    used = requested = entries = 0
    for name, metric in metrics.items():
        if name not in requests:
            continue
        used += metric.value
        requested += requests[name]
        entries += 1
    if requested == 0:
        raise MetricError("no metrics returned matched known pods")
    utilization = used * 100 // requested
    return utilization / target, utilization, used // entries


def _value_ratio(metrics: Mapping[str, PodMetric], target: int) -> tuple[float, int]:
    total = sum(m.value for m in metrics.values())
    return total / (target * len(metrics)), total // len(metrics)


def _live(pods: list[Obj]) -> list[Obj]:
    if not pods:
        raise MetricError("no pods returned by selector while calculating replica count")
    return pods


def resource_replicas(
    current: int,
    target_utilization: int,
    pods: list[Obj],
    metrics: dict[str, PodMetric],
    *,
    resource: str,
    now: float,
    container: str | None = None,
    tolerance: float = TOLERANCE,
) -> Proposal:
    """Replicas for a Utilization target (percent of request)."""
    if not metrics:
        raise MetricError(
            f"unable to get metrics for resource {resource}: no metrics returned from resource metrics API"
        )
    pods = _live(pods)
    ready, ignored, missing = group_pods(pods, metrics, resource, now)
    for name in ignored:
        metrics.pop(name, None)
    requests = pod_requests(pods, resource, container)
    if not metrics:
        raise MetricError("did not receive metrics for targeted pods (pods might be unready)")
    stamp = max(m.timestamp for m in metrics.values())
    ratio, utilization, raw = utilization_ratio(metrics, requests, target_utilization)
    rebalance = bool(ignored) and ratio > 1.0
    if not rebalance and not missing:
        if abs(1.0 - ratio) <= tolerance:
            return Proposal(current, utilization, raw, stamp)
        return Proposal(math.ceil(ratio * ready), utilization, raw, stamp)
    if missing:
        for name in missing:
            if ratio < 1.0:  # scaling down: a pod without a sample counts as using its request
                metrics[name] = PodMetric(requests[name], stamp, 0.0)
            elif ratio > 1.0:  # scaling up: as using nothing
                metrics[name] = PodMetric(0, stamp, 0.0)
    if rebalance:
        for name in ignored:
            metrics[name] = PodMetric(0, stamp, 0.0)
    new_ratio, _, _ = utilization_ratio(metrics, requests, target_utilization)
    if abs(1.0 - new_ratio) <= tolerance or (ratio < 1.0 < new_ratio) or (new_ratio < 1.0 < ratio):
        return Proposal(current, utilization, raw, stamp)
    replicas = math.ceil(new_ratio * len(metrics))
    if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
        return Proposal(current, utilization, raw, stamp)
    return Proposal(replicas, utilization, raw, stamp)


def value_replicas(
    current: int,
    target_milli: int,
    pods: list[Obj],
    metrics: dict[str, PodMetric],
    *,
    resource: str,
    now: float,
    tolerance: float = TOLERANCE,
) -> Proposal:
    """Replicas for an AverageValue target (mean usage per pod, milli-units)."""
    if not metrics:
        raise MetricError(
            f"unable to get metrics for resource {resource}: no metrics returned from resource metrics API"
        )
    pods = _live(pods)
    ready, ignored, missing = group_pods(pods, metrics, resource, now)
    for name in ignored:
        metrics.pop(name, None)
    if not metrics:
        raise MetricError("did not receive metrics for targeted pods (pods might be unready)")
    stamp = max(m.timestamp for m in metrics.values())
    ratio, average = _value_ratio(metrics, target_milli)
    rebalance = bool(ignored) and ratio > 1.0
    if not rebalance and not missing:
        if abs(1.0 - ratio) <= tolerance:
            return Proposal(current, None, average, stamp)
        return Proposal(math.ceil(ratio * ready), None, average, stamp)
    for name in missing:
        metrics[name] = PodMetric(target_milli if ratio < 1.0 else 0, stamp, 0.0)
    if rebalance:
        for name in ignored:
            metrics[name] = PodMetric(0, stamp, 0.0)
    new_ratio, _ = _value_ratio(metrics, target_milli)
    if abs(1.0 - new_ratio) <= tolerance or (ratio < 1.0 < new_ratio) or (new_ratio < 1.0 < ratio):
        return Proposal(current, None, average, stamp)
    return Proposal(math.ceil(new_ratio * len(metrics)), None, average, stamp)


def milli_quantity(milli: int) -> str:
    """A milli-value as the API server prints ``NewMilliQuantity(v, DecimalSI)``: ``250m``,
    ``2``, ``12M``, ``10485760``."""
    if milli % 1000:
        return f"{milli}m"
    value = milli // 1000
    for suffix in ("", "k", "M", "G", "T", "P", "E"):
        if value == 0 or value % 1000 or suffix == "E":
            return f"{value}{suffix}"
        value //= 1000
    return str(value)  # pragma: no cover - the loop always returns
