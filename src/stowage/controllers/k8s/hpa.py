"""The HorizontalPodAutoscaler controller: every sync period (15 s, kube-controller-manager's
``--horizontal-pod-autoscaler-sync-period``) each autoscaler reads its target's scale
(``spec.replicas`` and selector of a Deployment, ReplicaSet, StatefulSet or
ReplicationController), the latest usage of the target's pods (the agents' samples, what
``kubectl top`` shows), computes the replica count its metrics ask for
(``model/k8s/hpa.py``), stabilizes and bounds it (``model/k8s/hpa_behavior.py``), writes
the target's ``spec.replicas`` when it changes, and records ``status`` (currentReplicas,
desiredReplicas, currentMetrics, lastScaleTime, the AbleToScale / ScalingActive /
ScalingLimited conditions) and Events (SuccessfulRescale, FailedGetResourceMetric, ...) with
upstream's reasons and messages.

A new or changed autoscaler (its generation moved) is synced at once; status writes do not
re-queue it. Repeated identical events are folded into one with a growing ``count``, as
client-go's event recorder does. Resource and ContainerResource metrics (cpu, memory) are
computed; Pods, Object and External metrics need a custom or external metrics API, which
stowage does not serve: they report that, as a cluster without one does.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Mapping
from typing import Any

from stowage.controllers.k8s.objects import EventSpec
from stowage.controllers.k8s.replicasets import Reconciler
from stowage.controllers.metrics import TaskView
from stowage.model.k8s import hpa as calc
from stowage.model.k8s.errors import K8sError
from stowage.model.k8s.hpa_behavior import History, Recommendation, normalize, record_scale
from stowage.model.k8s.meta import rfc3339
from stowage.model.k8s.quantity import QuantityError, parse_quantity
from stowage.model.k8s.selectors import selector_from_object
from stowage.resources.k8s_objects import K8sObjects, decode, object_key, resource_prefix
from stowage.store.base import Event, EventType

Obj = dict[str, Any]
SYNC_PERIOD = 15.0
COMPONENT = "horizontal-pod-autoscaler"
GROUP, PLURAL = "autoscaling", "horizontalpodautoscalers"
SCALABLE = {
    ("apps", "Deployment"): "deployments",
    ("apps", "ReplicaSet"): "replicasets",
    ("apps", "StatefulSet"): "statefulsets",
    ("", "ReplicationController"): "replicationcontrollers",
}
"""(group, kind) of what serves ``/scale`` → its resource."""
UsageSource = Callable[[], Mapping[tuple[str, str], calc.PodUsage]]


def pod_usage_of(views: Mapping[tuple[str, str], TaskView]) -> dict[tuple[str, str], calc.PodUsage]:
    """The pods' latest samples (``(namespace, name)`` → their task's view) as usage."""
    out: dict[tuple[str, str], calc.PodUsage] = {}
    for pod, view in views.items():
        sampled = [c for c in view.containers if c.sample is not None]
        if not sampled:
            continue
        containers = {
            c.name: calc.ContainerUsage(c.sample.cores, c.sample.mem) for c in sampled if c.sample is not None
        }
        stamp = max(c.sample.ts for c in sampled if c.sample is not None)
        window = max(c.sample.window for c in sampled if c.sample is not None)
        out[pod] = calc.PodUsage(containers, stamp, window)
    return out


class _Failed(Exception):
    """A metric could not be computed: the condition to report and the error's text."""

    def __init__(self, reason: str, error: str, wrapped: str) -> None:
        super().__init__(wrapped)
        self.reason = reason
        self.error = error


class _Conditions:
    """An autoscaler's status conditions being set during one sync."""

    def __init__(self, status: Obj, now: float) -> None:
        self.status = status
        self.now = now

    def set(self, kind: str, value: str, reason: str, message: str) -> None:
        """Set a condition, its lastTransitionTime moving only when its status does."""
        conditions = [dict(c) for c in self.status.get("conditions") or []]
        existing = next((c for c in conditions if c.get("type") == kind), None)
        if existing is None:
            existing = {"type": kind}
            conditions.append(existing)
        if existing.get("status") != value:
            existing["lastTransitionTime"] = rfc3339(self.now)
        existing.update(status=value, reason=reason, message=message)
        self.status["conditions"] = conditions


class HorizontalPodAutoscalerController(Reconciler):
    name = "horizontalpodautoscalers"
    workers = 1

    def __init__(
        self,
        objects: K8sObjects,
        space: str,
        usage: UsageSource,
        *,
        sync_period: float = SYNC_PERIOD,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(objects, space, **({"clock": clock} if clock else {}))
        self.usage = usage
        self.sync_period = sync_period
        self._history: dict[str, History] = {}
        self._generations: dict[str, int] = {}
        self._events: dict[tuple[str, str, str, str], str] = {}
        """(hpa uid, type, reason, message) → the Event's key, to count repeats."""

    def prefixes(self) -> list[str]:
        return [resource_prefix(self.space, GROUP, PLURAL)]

    def keys_for(self, ev: Event) -> list[str]:
        key = ev.kv.key
        if ev.type is not EventType.PUT:
            self.keys.discard(key)
            self._history.pop(key, None)
            self._generations.pop(key, None)
            return []
        self.keys.add(key)
        generation = int((decode(ev.kv).get("metadata") or {}).get("generation") or 0)
        if self._generations.get(key) == generation:
            return []  # a status write: the next period syncs it
        self._generations[key] = generation
        return [key]

    async def start(self) -> None:
        await super().start()
        self._loops.append(asyncio.create_task(self._periodic(), name="k8s-hpa-period"))

    async def _periodic(self) -> None:
        while True:
            await asyncio.sleep(self.sync_period)
            for key in list(self.keys):
                self.queue.add(key)

    # -- one sync -------------------------------------------------------------------------------
    async def sync(self, key: str) -> None:
        found = await self.objects.get(key)
        if found is None or (found.obj.get("metadata") or {}).get("deletionTimestamp"):
            self._history.pop(key, None)
            return
        hpa = found.obj
        namespace = str((hpa.get("metadata") or {}).get("namespace") or "")
        spec = hpa.get("spec") or {}
        old_status = hpa.get("status") or {}
        status: Obj = {k: v for k, v in old_status.items() if k in ("lastScaleTime", "conditions")}
        status["currentReplicas"] = int(old_status.get("currentReplicas") or 0)
        status["desiredReplicas"] = int(old_status.get("desiredReplicas") or 0)
        if old_status.get("currentMetrics"):
            status["currentMetrics"] = old_status["currentMetrics"]
        now = self.clock()
        conds = _Conditions(status, now)
        target = await self._target(hpa, namespace, spec.get("scaleTargetRef") or {}, conds)
        if target is None:
            await self._write_status(key, status)
            return
        target_key, target_obj = target
        conds.set(
            "AbleToScale",
            "True",
            "SucceededGetScale",
            "the HPA controller was able to get the target's current scale",
        )
        current = int((target_obj.get("spec") or {}).get("replicas", 1))
        history = self._history.setdefault(key, History())
        if not history.recommendations:
            # start from the current count, so a restart does not scale down before a window passes
            history.recommendations.append(Recommendation(current, now))
        minimum = int(spec.get("minReplicas") or 1)
        maximum = int(spec.get("maxReplicas") or 1)
        behavior = spec.get("behavior")
        rescale = True
        reason = ""
        if current == 0 and minimum != 0:
            desired, rescale = 0, False
            conds.set(
                "ScalingActive",
                "False",
                "ScalingDisabled",
                "scaling is disabled since the replica count of the target is zero",
            )
        elif current > maximum:
            desired, reason = maximum, "Current number of replicas above Spec.MaxReplicas"
        elif current < minimum:
            desired, reason = minimum, "Current number of replicas below Spec.MinReplicas"
        else:
            computed = await self._compute(hpa, target_obj, current, conds)
            if computed is None:
                status["currentReplicas"] = current
                await self._write_status(key, status)
                return
            proposed, metric_name, statuses = computed
            status["currentMetrics"] = statuses
            desired = max(proposed, 0)
            if desired > current:
                reason = f"{metric_name} above target"
            elif desired < current:
                reason = "All metrics below target"
            result = normalize(
                history, behavior, current=current, desired=desired, minimum=minimum, maximum=maximum, now=now
            )
            conds.set("AbleToScale", "True", *result.able)
            conds.set("ScalingLimited", "True" if result.limited else "False", *result.limit)
            desired = result.replicas
            rescale = desired != current
        if rescale:
            error = await self._rescale(target_key, desired)
            if error is not None:
                await self._event(
                    hpa, "Warning", "FailedRescale", f"New size: {desired}; reason: {reason}; error: {error}"
                )
                conds.set(
                    "AbleToScale",
                    "False",
                    "FailedUpdateScale",
                    f"the HPA controller was unable to update the target scale: {error}",
                )
                status["currentReplicas"] = current
                await self._write_status(key, status)
                return
            conds.set(
                "AbleToScale",
                "True",
                "SucceededRescale",
                f"the HPA controller was able to update the target scale to {desired}",
            )
            await self._event(hpa, "Normal", "SuccessfulRescale", f"New size: {desired}; reason: {reason}")
            record_scale(history, behavior, current, desired, now)
            status["lastScaleTime"] = rfc3339(now)
        else:
            desired = current
        status["currentReplicas"] = current
        status["desiredReplicas"] = desired
        await self._write_status(key, status)

    async def _target(self, hpa: Obj, namespace: str, ref: Obj, conds: _Conditions) -> tuple[str, Obj] | None:
        """The scale target (its key and object), or None having reported why not."""
        api_version = str(ref.get("apiVersion") or "")
        group = api_version.split("/", 1)[0] if "/" in api_version else ""
        kind, name = str(ref.get("kind") or ""), str(ref.get("name") or "")
        plural = SCALABLE.get((group, kind))
        if plural is None:
            error = f'no matches for kind "{kind}" in group "{group}"'
        else:
            target_key = object_key(self.space, group, plural, namespace, name)
            found = await self.objects.get(target_key)
            if found is not None:
                return target_key, found.obj
            error = f'{plural}.{group} "{name}" not found' if group else f'{plural} "{name}" not found'
        await self._event(hpa, "Warning", "FailedGetScale", error)
        conds.set(
            "AbleToScale",
            "False",
            "FailedGetScale",
            f"the HPA controller was unable to get the target's current scale: {error}",
        )
        return None

    async def _compute(
        self, hpa: Obj, target: Obj, current: int, conds: _Conditions
    ) -> tuple[int, str, list[Obj]] | None:
        """(proposed replicas, the metric that proposed them, metric statuses), or None having
        reported why no count could be computed."""
        selector_obj = (target.get("spec") or {}).get("selector")
        if not selector_obj:
            await self._event(hpa, "Warning", "SelectorRequired", "selector is required")
            conds.set(
                "ScalingActive", "False", "InvalidSelector", "the HPA target's scale is missing a selector"
            )
            return None
        try:
            selector = selector_from_object(selector_obj)
        except K8sError as exc:
            conds.set(
                "ScalingActive",
                "False",
                "InvalidSelector",
                f"the HPA was unable to compute the replica count: {exc}",
            )
            return None
        namespace = str((hpa.get("metadata") or {}).get("namespace") or "")
        page, _more, _rev = await self.objects.list(resource_prefix(self.space, "", "pods", namespace))
        pods = [s.obj for s in page if selector.matches((s.obj.get("metadata") or {}).get("labels") or {})]
        usage = self.usage()
        metrics = (hpa.get("spec") or {}).get("metrics") or []
        statuses: list[Obj] = []
        best, best_name = -1, ""
        invalid: list[_Failed] = []
        for metric in metrics:
            try:
                replicas, name, metric_status = self._one(metric, current, pods, usage, conds.now)
            except _Failed as failed:
                invalid.append(failed)
                statuses.append({"type": ""})
                await self._event(hpa, "Warning", failed.reason, failed.error)
                continue
            statuses.append(metric_status)
            if replicas > best:
                best, best_name = replicas, name
        if invalid and (len(invalid) >= len(metrics) or best < current):
            first = invalid[0]
            conds.set(
                "ScalingActive",
                "False",
                first.reason,
                f"the HPA was unable to compute the replica count: {first.error}",
            )
            await self._event(
                hpa,
                "Warning",
                "FailedComputeMetricsReplicas",
                f"invalid metrics ({len(invalid)} invalid out of {len(metrics)}), first error is: {first}",
            )
            return None
        conds.set(
            "ScalingActive",
            "True",
            "ValidMetricFound",
            f"the HPA was able to successfully calculate a replica count from {best_name}",
        )
        return best, best_name, statuses

    def _one(
        self,
        metric: Obj,
        current: int,
        pods: list[Obj],
        usage: Mapping[tuple[str, str], calc.PodUsage],
        now: float,
    ) -> tuple[int, str, Obj]:
        kind = str(metric.get("type") or "")
        if kind not in ("Resource", "ContainerResource"):
            return _unsupported(metric, kind)
        container_kind = kind == "ContainerResource"
        member = "containerResource" if container_kind else "resource"
        source = metric.get(member) or {}
        resource = str(source.get("name") or "")
        container = str(source.get("container") or "") if container_kind else None
        target = source.get("target") or {}
        reason = "FailedGetContainerResourceMetric" if container_kind else "FailedGetResourceMetric"
        label = f"{resource} container" if container_kind else f"{resource} resource"
        values = calc.pod_metrics(pods, usage, resource, container)
        averaged = target.get("averageValue") is not None
        try:
            if averaged:
                milli = math.ceil(parse_quantity(target["averageValue"]) * 1000)
                proposal = calc.value_replicas(current, milli, pods, values, resource=resource, now=now)
                name = label
            else:
                proposal = calc.resource_replicas(
                    current,
                    int(target.get("averageUtilization") or 0),
                    pods,
                    values,
                    resource=resource,
                    now=now,
                    container=container,
                )
                name = f"{label} utilization (percentage of request)"
        except (calc.MetricError, QuantityError, ZeroDivisionError) as exc:
            raise _Failed(
                reason,
                str(exc),
                f"failed to get {resource} {'container' if container_kind else 'resource'} metric value: "
                f"failed to get {resource} {'usage' if averaged else 'utilization'}: {exc}",
            ) from None
        current_value: Obj = {"averageValue": calc.milli_quantity(proposal.average)}
        if proposal.utilization is not None:
            current_value = {"averageUtilization": proposal.utilization, **current_value}
        metric_status: Obj = {"name": resource, "current": current_value}
        if container_kind:
            metric_status = {"container": container, **metric_status}
        return proposal.replicas, name, {"type": kind, member: metric_status}

    # -- writes -----------------------------------------------------------------------------------
    async def _rescale(self, target_key: str, replicas: int) -> str | None:
        def change(obj: Obj) -> Obj | None:
            spec = obj.setdefault("spec", {})
            if spec.get("replicas") == replicas:
                return None
            spec["replicas"] = replicas
            meta = obj.setdefault("metadata", {})
            meta["generation"] = (
                int(meta.get("generation") or 1) + 1
            )  # a spec change, as the API server counts
            return obj

        try:
            await self.writer.update(target_key, change)
        except RuntimeError as exc:
            return str(exc)
        return None

    async def _write_status(self, key: str, status: Obj) -> None:
        def change(obj: Obj) -> Obj | None:
            if obj.get("status") == status:
                return None
            obj["status"] = status
            return obj

        await self.writer.update(key, change)

    async def _event(self, hpa: Obj, kind: str, reason: str, message: str) -> None:
        uid = str((hpa.get("metadata") or {}).get("uid") or "")
        dedupe = (uid, kind, reason, message)
        when = rfc3339(self.clock())
        known = self._events.get(dedupe)
        if known is not None:

            def bump(ev: Obj) -> Obj:
                ev["count"] = int(ev.get("count") or 1) + 1
                ev["lastTimestamp"] = when
                return ev

            if await self.writer.update(known, bump) is not None:
                return
        involved = {**hpa, "apiVersion": f"{GROUP}/v2", "kind": "HorizontalPodAutoscaler"}
        spec = EventSpec(reason, message, type=kind, component=COMPONENT)
        self._events[dedupe] = await self.writer.event(involved, spec)
        if len(self._events) > 10_000:  # forget the oldest keys; their events still count on
            for stale in list(self._events)[:1000]:
                del self._events[stale]


def _unsupported(metric: Obj, kind: str) -> tuple[int, str, Obj]:
    member = {"Pods": "pods", "Object": "object", "External": "external"}.get(kind, "")
    name = str((((metric.get(member) or {}) if member else {}).get("metric") or {}).get("name") or "")
    if kind == "External":
        error = f"unable to get external metric {name}: no external metrics API (external.metrics.k8s.io)"
    elif member:
        error = f"unable to get metric {name}: no custom metrics API (custom.metrics.k8s.io) is served"
    else:
        error = f"unknown metric source type {kind!r}"
    reason = {
        "Pods": "FailedGetPodsMetric",
        "Object": "FailedGetObjectMetric",
        "External": "FailedGetExternalMetric",
    }
    raise _Failed(
        reason.get(kind, "InvalidMetricSourceType"),
        error,
        f"failed to get {member or kind} metric value: {error}",
    )
