"""PodDisruptionBudget counting and the eviction check (``model/k8s/disruption``)."""

from __future__ import annotations

from typing import Any

import pytest

from stowage.model.k8s import disruption as dm
from stowage.model.k8s.errors import K8sError


def _pod(
    name: str, *, ready: bool = True, phase: str = "Running", owner: str | None = "web-1"
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {"app": "web"}}
    if owner:
        meta["ownerReferences"] = [{"kind": "ReplicaSet", "name": owner, "controller": True}]
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    return {"metadata": meta, "status": {"phase": phase, "conditions": conditions}}


def _pdb(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec}}


def scale(kind: str, name: str) -> int | None:
    return 3 if (kind, name) == ("ReplicaSet", "web-1") else None


def test_counts_from_min_available_and_max_unavailable() -> None:
    pods = [_pod("a"), _pod("b"), _pod("c", ready=False)]
    b = dm.budget(_pdb(minAvailable=2), pods, scale)
    assert (b.expected, b.current_healthy, b.desired_healthy, b.allowed) == (3, 2, 2, 0)
    b = dm.budget(_pdb(maxUnavailable=2), pods, scale)
    assert (b.desired_healthy, b.allowed) == (1, 1)
    b = dm.budget(_pdb(minAvailable="50%"), pods, scale)
    assert b.desired_healthy == 2  # 1.5 rounded up
    unowned = dm.budget(_pdb(maxUnavailable=1), [_pod("x", owner=None), _pod("y", owner=None)], scale)
    assert (unowned.expected, unowned.allowed) == (2, 1)
    assert (
        dm.budget({"metadata": {"name": "n"}, "spec": {"minAvailable": 1}}, pods, scale).current_healthy == 0
    )


def test_eviction_is_refused_with_upstreams_message() -> None:
    pods = [_pod("a"), _pod("b"), _pod("c")]
    pdb = _pdb(minAvailable=3)
    budgets = [(pdb, dm.budget(pdb, pods, scale))]
    with pytest.raises(K8sError) as exc:
        dm.check_eviction(pods[0], budgets)
    assert (exc.value.code, exc.value.reason) == (429, "TooManyRequests")
    assert exc.value.message == "Cannot evict pod as it would violate the pod's disruption budget."
    assert exc.value.causes[0].message == "The disruption budget web needs 3 healthy pods and has 3 currently"
    dm.check_eviction(_pod("p", phase="Pending"), budgets)  # pending pods ignore budgets
    relaxed = _pdb(minAvailable=2)
    dm.check_eviction(pods[0], [(relaxed, dm.budget(relaxed, pods, scale))])


def test_unhealthy_pods_go_when_the_budget_is_met() -> None:
    pods = [_pod("a"), _pod("b"), _pod("c", ready=False)]
    met = _pdb(minAvailable=2)
    dm.check_eviction(pods[2], [(met, dm.budget(met, pods, scale))])
    short = _pdb(minAvailable=3)
    with pytest.raises(K8sError):
        dm.check_eviction(pods[2], [(short, dm.budget(short, pods, scale))])
    always = _pdb(minAvailable=3, unhealthyPodEvictionPolicy="AlwaysAllow")
    dm.check_eviction(pods[2], [(always, dm.budget(always, pods, scale))])
    with pytest.raises(K8sError) as exc:
        dm.check_eviction(pods[0], [(met, dm.budget(met, pods, scale))] * 2)
    assert exc.value.code == 500
