"""Which objects a controller owns, adopts and releases: upstream's ControllerRefManager, pure.

A ReplicaSet owns the pods whose controlling owner reference names it; a Deployment, its
ReplicaSets. Ownership follows the selector both ways, as in Kubernetes:

- an *orphan* (no controlling owner) that the selector matches is adopted: it gets a
  controller owner reference to the owner, unless the owner or the orphan is being deleted
  (so `kubectl delete rs x --cascade=orphan` followed by re-creating it takes the pods back);
- an owned object the selector no longer matches (its labels were edited) is released: the
  owner reference is removed, and the controller replaces it as if it had gone.

An empty selector selects nothing here: apps/v1 requires one, and adopting every object of a
namespace would be a disaster.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from stowage.model.k8s.selectors import LabelSelector

Obj = dict[str, Any]


@dataclass(slots=True)
class Claim:
    owned: list[Obj] = field(default_factory=list)
    """Controlled by the owner and matched by its selector (adopted ones not included)."""
    adopt: list[Obj] = field(default_factory=list)
    release: list[Obj] = field(default_factory=list)


def _controller_uid(obj: Obj) -> str | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def claim(owner: Obj, selector: LabelSelector, candidates: Iterable[Obj]) -> Claim:
    """Sort ``candidates`` (objects of the owner's namespace) into owned, to adopt, to release."""
    uid = str((owner.get("metadata") or {}).get("uid"))
    owner_deleting = bool((owner.get("metadata") or {}).get("deletionTimestamp"))
    result = Claim()
    for obj in candidates:
        meta = obj.get("metadata") or {}
        controller = _controller_uid(obj)
        matches = bool(selector.requirements) and selector.matches(meta.get("labels"))
        if controller == uid:
            (result.owned if matches else result.release).append(obj)
        elif controller is None and matches and not owner_deleting and not meta.get("deletionTimestamp"):
            result.adopt.append(obj)
    return result


def adopted(obj: Obj, ref: Obj) -> Obj | None:
    """``obj`` with the controller reference ``ref`` added; None if it has a controller now."""
    if _controller_uid(obj) is not None or (obj.get("metadata") or {}).get("deletionTimestamp"):
        return None
    meta = obj.setdefault("metadata", {})
    meta["ownerReferences"] = [*(meta.get("ownerReferences") or []), ref]
    return obj


def released(obj: Obj, owner_uid: str) -> Obj | None:
    """``obj`` without the owner references to ``owner_uid``; None if it has none."""
    meta = obj.setdefault("metadata", {})
    refs = meta.get("ownerReferences") or []
    kept = [r for r in refs if str(r.get("uid")) != owner_uid]
    if len(kept) == len(refs):
        return None
    if kept:
        meta["ownerReferences"] = kept
    else:
        meta.pop("ownerReferences", None)
    return obj


def is_orphan(obj: Obj) -> bool:
    return _controller_uid(obj) is None
