"""Ownership by selector (model/k8s/controller_refs): owned, adopted, released."""

from __future__ import annotations

from typing import Any

from stowage.model.k8s import controller_refs as refs
from stowage.model.k8s.selectors import selector_from_object

OWNER = {"metadata": {"name": "web", "uid": "u1"}}
REF = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "u1", "controller": True}


def _pod(name: str, labels: dict[str, str], owner: str | None = None, **meta: Any) -> dict[str, Any]:
    refs_ = [{"kind": "ReplicaSet", "name": "x", "uid": owner, "controller": True}] if owner else []
    return {"metadata": {"name": name, "labels": labels, "ownerReferences": refs_, **meta}}


def test_claim_sorts_owned_orphans_and_strays() -> None:
    selector = selector_from_object({"matchLabels": {"app": "web"}})
    pods = [
        _pod("mine", {"app": "web"}, "u1"),
        _pod("strayed", {"app": "db"}, "u1"),
        _pod("orphan", {"app": "web"}),
        _pod("orphan-other", {"app": "db"}),
        _pod("someone-elses", {"app": "web"}, "u2"),
        _pod("dying-orphan", {"app": "web"}, deletionTimestamp="2026-01-01T00:00:00Z"),
    ]
    got = refs.claim(OWNER, selector, pods)
    assert [p["metadata"]["name"] for p in got.owned] == ["mine"]
    assert [p["metadata"]["name"] for p in got.adopt] == ["orphan"]
    assert [p["metadata"]["name"] for p in got.release] == ["strayed"]


def test_a_deleting_owner_or_an_empty_selector_adopts_nothing() -> None:
    orphan = _pod("orphan", {"app": "web"})
    deleting = {"metadata": {**OWNER["metadata"], "deletionTimestamp": "2026-01-01T00:00:00Z"}}
    assert refs.claim(deleting, selector_from_object({"matchLabels": {"app": "web"}}), [orphan]).adopt == []
    assert refs.claim(OWNER, selector_from_object({}), [orphan]).adopt == []


def test_adopted_and_released_edit_only_when_needed() -> None:
    orphan = _pod("orphan", {"app": "web"})
    taken = refs.adopted(orphan, REF)
    assert taken is not None and taken["metadata"]["ownerReferences"] == [REF]
    assert refs.adopted(taken, REF) is None  # has a controller now
    freed = refs.released(taken, "u1")
    assert freed is not None and "ownerReferences" not in freed["metadata"]
    assert refs.released(freed, "u1") is None
    assert refs.is_orphan(freed)
