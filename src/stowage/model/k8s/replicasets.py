"""ReplicaSet arithmetic, pure: which pods a ReplicaSet counts, which are ready and available,
which to delete first, and the pod it creates from its template."""

from __future__ import annotations

import copy
from typing import Any

from stowage.model.k8s.meta import parse_rfc3339

Obj = dict[str, Any]


def controller_uid(obj: Obj) -> str | None:
    """The uid of the object's controlling owner (``ownerReferences[].controller``)."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def owner_ref(owner: Obj, kind: str, api_version: str) -> Obj:
    meta = owner.get("metadata") or {}
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": meta.get("name"),
        "uid": meta.get("uid"),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def ready_since(pod: Obj) -> float | None:
    """When the pod became Ready (its Ready condition's transition), None if not ready."""
    status = pod.get("status") or {}
    if status.get("phase") != "Running":
        return None
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Ready" and cond.get("status") == "True":
            return parse_rfc3339(str(cond.get("lastTransitionTime") or "")) or 0.0
    return None


def is_available(pod: Obj, min_ready_seconds: int, now: float) -> bool:
    """Ready for at least ``minReadySeconds`` (0: ready is available)."""
    since = ready_since(pod)
    return since is not None and (min_ready_seconds <= 0 or since + min_ready_seconds <= now)


def deletion_order(pods: list[Obj]) -> list[Obj]:
    """Pods in the order a scale-down removes them: unscheduled, then not ready, then the
    newest first (the ReplicaSet controller's ActivePods ranking, simplified)."""

    def created(pod: Obj) -> str:
        return str((pod.get("metadata") or {}).get("creationTimestamp") or "")

    def rank(pod: Obj) -> tuple[int, int]:
        scheduled = 1 if (pod.get("spec") or {}).get("nodeName") else 0
        return (scheduled, 1 if ready_since(pod) is not None else 0)

    # two stable sorts: newest first within each (scheduled, ready) rank
    return sorted(sorted(pods, key=created, reverse=True), key=rank)


def pod_from_template(rs: Obj, name: str) -> Obj:
    """A new pod of ``rs``: the template's metadata and spec, owned by the ReplicaSet."""
    meta = rs.get("metadata") or {}
    template = copy.deepcopy((rs.get("spec") or {}).get("template") or {})
    tmeta = template.get("metadata") or {}
    pod_meta: Obj = {
        "name": name,
        "namespace": meta.get("namespace"),
        "labels": dict(tmeta.get("labels") or {}),
        "ownerReferences": [owner_ref(rs, "ReplicaSet", "apps/v1")],
    }
    if tmeta.get("annotations"):
        pod_meta["annotations"] = dict(tmeta["annotations"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": template.get("spec") or {}}
