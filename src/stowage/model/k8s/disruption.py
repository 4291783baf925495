"""PodDisruptionBudgets: how many of the pods a budget selects may be disrupted now, as
upstream's disruption controller and eviction subresource count them. Pure.

- *expected*: the pods' controllers' scale (a ReplicaSet's ``spec.replicas``, counted once per
  controller; a pod without a known controller counts itself);
- *current healthy*: selected pods that are Ready and not being deleted;
- *desired healthy*: ``minAvailable`` (an integer, or a percentage of expected rounded up), or
  expected minus ``maxUnavailable`` (the same way);
- disruptions allowed: current healthy minus desired healthy, never below 0.

An eviction is refused (429) when the budget allows no disruption, unless the pod is not
counted as healthy and the budget is met (``unhealthyPodEvictionPolicy`` IfHealthyBudget, the
default; AlwaysAllow always lets an unhealthy pod go). Pods that are Pending, ended, or being
deleted are evicted without looking at budgets.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stowage.model.k8s.errors import Cause, K8sError
from stowage.model.k8s.selectors import selector_from_object

Obj = dict[str, Any]
REFUSED = "Cannot evict pod as it would violate the pod's disruption budget."


@dataclass(frozen=True, slots=True)
class Budget:
    name: str
    expected: int
    current_healthy: int
    desired_healthy: int

    @property
    def allowed(self) -> int:
        return max(0, self.current_healthy - self.desired_healthy)


def selects(pdb: Mapping[str, Any], pod: Mapping[str, Any]) -> bool:
    """Whether a budget's selector picks the pod (an empty selector picks every pod, as in
    policy/v1; a budget without one picks none)."""
    selector = (pdb.get("spec") or {}).get("selector")
    if selector is None:
        return False
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return selector_from_object(selector).matches(labels)


def healthy(pod: Mapping[str, Any]) -> bool:
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def ignores_budgets(pod: Mapping[str, Any]) -> bool:
    """Upstream's ``canIgnorePDB``: ended, pending or already terminating pods."""
    phase = (pod.get("status") or {}).get("phase")
    return bool((pod.get("metadata") or {}).get("deletionTimestamp")) or phase in (
        "Succeeded",
        "Failed",
        "Pending",
    )


def _scaled(value: Any, expected: int) -> int:
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(int(value[:-1]) * expected / 100)
    return int(value)


def budget(
    pdb: Mapping[str, Any], pods: Iterable[Mapping[str, Any]], scale_of: Callable[[str, str], int | None]
) -> Budget:
    """The budget's counts over the namespace's ``pods``; ``scale_of(kind, name)``: a
    controller's desired replicas (None when unknown)."""
    spec = pdb.get("spec") or {}
    selected = [p for p in pods if selects(pdb, p)]
    expected = 0
    controllers: set[tuple[str, str]] = set()
    for pod in selected:
        owner = next(
            (r for r in (pod.get("metadata") or {}).get("ownerReferences") or [] if r.get("controller")), None
        )
        scale = scale_of(str(owner.get("kind")), str(owner.get("name"))) if owner else None
        if owner is None or scale is None:
            expected += 1
        elif (str(owner.get("kind")), str(owner.get("name"))) not in controllers:
            controllers.add((str(owner.get("kind")), str(owner.get("name"))))
            expected += scale
    current = sum(1 for p in selected if healthy(p))
    if spec.get("minAvailable") is not None:
        desired = _scaled(spec["minAvailable"], expected)
    elif spec.get("maxUnavailable") is not None:
        desired = max(0, expected - _scaled(spec["maxUnavailable"], expected))
    else:
        desired = 0
    name = str((pdb.get("metadata") or {}).get("name", ""))
    return Budget(name, expected, current, desired)


def status(pdb: Mapping[str, Any], b: Budget, *, now_text: str) -> Obj:
    """The budget's ``status`` as the disruption controller writes it."""
    old = dict(pdb.get("status") or {})
    allowed = b.allowed
    condition = {
        "type": "DisruptionAllowed",
        "status": "True" if allowed > 0 else "False",
        "reason": "SufficientPods" if allowed > 0 else "InsufficientPods",
        "message": "",
        "observedGeneration": (pdb.get("metadata") or {}).get("generation", 1),
    }
    prev = next((c for c in old.get("conditions") or [] if c.get("type") == "DisruptionAllowed"), None)
    condition["lastTransitionTime"] = (
        prev.get("lastTransitionTime") if prev and prev.get("status") == condition["status"] else now_text
    )
    return {
        "observedGeneration": (pdb.get("metadata") or {}).get("generation", 1),
        "disruptionsAllowed": allowed,
        "currentHealthy": b.current_healthy,
        "desiredHealthy": b.desired_healthy,
        "expectedPods": b.expected,
        "conditions": [condition],
    }


def check_eviction(pod: Mapping[str, Any], budgets: Sequence[tuple[Mapping[str, Any], Budget]]) -> None:
    """Raise the API server's error when evicting ``pod`` would break its budget."""
    if ignores_budgets(pod) or not budgets:
        return
    if len(budgets) > 1:
        raise K8sError(
            500,
            "InternalError",
            "This pod has more than one PodDisruptionBudget, which the eviction subresource does not "
            "support.",
        )
    pdb, b = budgets[0]
    policy = (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy") or "IfHealthyBudget"
    if not healthy(pod) and (policy == "AlwaysAllow" or b.current_healthy >= b.desired_healthy):
        return
    if b.allowed <= 0:
        text = (
            f"The disruption budget {b.name} needs {b.desired_healthy} healthy pods and has "
            f"{b.current_healthy} currently"
        )
        raise K8sError(429, "TooManyRequests", REFUSED, causes=[Cause("DisruptionBudget", text)])
