"""Deployment arithmetic (``model/k8s/deployments``) and ReplicaSet pod ranking, as pure
functions: Kubernetes' rounding of maxSurge (up) and maxUnavailable (down)."""

from __future__ import annotations

from typing import Any

import pytest

from stowage.model.k8s import deployments as dm
from stowage.model.k8s import replicasets as rsm


@pytest.mark.parametrize(
    ("value", "total", "up", "expected"),
    [
        ("25%", 10, True, 3),  # 2.5 rounds up for surge
        ("25%", 10, False, 2),  # 2.5 rounds down for unavailable
        ("30%", 5, True, 2),
        ("30%", 5, False, 1),
        ("100%", 3, True, 3),
        ("0%", 7, True, 0),
        (2, 10, True, 2),
        ("4", 10, False, 4),
        ("25%", 1, True, 1),
        ("25%", 1, False, 0),
    ],
)
def test_scaled_value_rounds_like_kubernetes(value: Any, total: int, up: bool, expected: int) -> None:
    assert dm.scaled_value(value, total, round_up=up, default="25%") == expected


def test_surge_and_unavailable_defaults_and_never_both_zero() -> None:
    assert dm.surge_and_unavailable({"replicas": 10}) == (3, 2)
    assert dm.surge_and_unavailable({"replicas": 3}) == (1, 0)
    zero = {"replicas": 4, "strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": "10%"}}}
    assert dm.surge_and_unavailable(zero) == (0, 1)  # floor(0.4) = 0 and surge 0: bumped to 1
    explicit = {"replicas": 5, "strategy": {"rollingUpdate": {"maxSurge": "50%", "maxUnavailable": 2}}}
    assert dm.surge_and_unavailable(explicit) == (3, 2)


def test_rolling_steps() -> None:
    # 10 replicas, surge 3: 12 pods of which 4 new -> the new set may grow by 1
    assert dm.scale_up_room(10, 3, 12, 4) == 1
    assert dm.scale_up_room(10, 3, 13, 4) == 0
    assert dm.scale_down_room(10, 2, 9) == 1
    # replicas 3, unavailable 0: one new pod available lets one old go
    assert dm.old_scale_down(3, 0, old=[(3, 3)], new_spec=1, new_available=1, all_pods=4) == [2]
    # new pod not available yet: nothing may go
    assert dm.old_scale_down(3, 0, old=[(3, 3)], new_spec=1, new_available=0, all_pods=4) == [3]
    # unhealthy old pods go first, whatever the availability
    assert dm.old_scale_down(3, 1, old=[(2, 0), (2, 2)], new_spec=1, new_available=0, all_pods=5) == [0, 2]


def test_template_hash_is_stable_and_ignores_its_own_label() -> None:
    template = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "a"}]}}
    labelled = {**template, "metadata": {"labels": {"app": "web", dm.HASH_LABEL: "x"}}}
    assert dm.template_hash(template) == dm.template_hash(labelled)
    other = {**template, "spec": {"containers": [{"name": "c", "image": "b"}]}}
    assert dm.template_hash(template) != dm.template_hash(other)
    assert dm.template_hash(template) != dm.template_hash(template, collision_count=1)
    assert set(dm.template_hash(template)) <= set("bcdfghjklmnpqrstvwxz2456789")


def _pod(name: str, created: str, *, node: str = "", ready: bool = False) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": "Pending"}
    if ready:
        status = {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
        }
    return {
        "metadata": {"name": name, "creationTimestamp": created},
        "spec": {"nodeName": node},
        "status": status,
    }


def test_scale_down_prefers_unscheduled_then_not_ready_then_newest() -> None:
    pods = [
        _pod("old-ready", "2026-01-01T00:00:00Z", node="n", ready=True),
        _pod("new-ready", "2026-01-02T00:00:00Z", node="n", ready=True),
        _pod("not-ready", "2026-01-01T00:00:00Z", node="n"),
        _pod("pending", "2026-01-01T00:00:00Z"),
    ]
    order = [p["metadata"]["name"] for p in rsm.deletion_order(pods)]
    assert order == ["pending", "not-ready", "new-ready", "old-ready"]


def test_availability_waits_for_min_ready_seconds() -> None:
    pod = _pod("p", "2026-01-01T00:00:00Z", node="n", ready=True)
    since = rsm.ready_since(pod)
    assert since is not None
    assert rsm.is_available(pod, 0, since)
    assert not rsm.is_available(pod, 10, since + 5)
    assert rsm.is_available(pod, 10, since + 10)
