"""Deployment arithmetic, pure: ``maxSurge``/``maxUnavailable`` from an int or a percent with
Kubernetes' rounding, the pod-template hash, and the rolling-update step sizes.

Worked examples (replicas = 10):
- maxSurge "25%" -> 10 * 25 / 100 = 2.5, rounded *up* -> 3 (at most 13 pods during a rollout);
- maxUnavailable "25%" -> 2.5, rounded *down* -> 2 (at least 8 pods available);
- replicas = 1 with 25%/25%: surge ceil(0.25) = 1, unavailable floor(0.25) = 0;
- both resolving to 0 would never make progress, so unavailable becomes 1 (as upstream).
"""

from __future__ import annotations

import json
import math
from typing import Any

from stowage.model.k8s.defaults import default_pod_template

Obj = dict[str, Any]
DEFAULT_SURGE = "25%"
DEFAULT_UNAVAILABLE = "25%"
REVISION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"
# the alphabet upstream's rand.SafeEncodeString uses (no vowels, no look-alikes)
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def scaled_value(value: int | str | None, total: int, *, round_up: bool, default: str) -> int:
    """An IntOrString against ``total``: ``3`` -> 3; ``"30%"`` of 5 -> 1.5 -> 2 (up) / 1 (down)."""
    if value is None:
        value = default
    if isinstance(value, int):
        return max(value, 0)
    text = str(value).strip()
    if not text.endswith("%"):
        return max(int(text), 0)
    percent = int(text[:-1])
    exact = total * percent / 100
    return max(math.ceil(exact) if round_up else math.floor(exact), 0)


def surge_and_unavailable(spec: Obj) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) of a RollingUpdate deployment spec, resolved against
    ``spec.replicas``; never both zero (unavailable is bumped to 1)."""
    replicas = int(spec.get("replicas", 1))
    rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}
    surge = scaled_value(rolling.get("maxSurge"), replicas, round_up=True, default=DEFAULT_SURGE)
    unavailable = scaled_value(
        rolling.get("maxUnavailable"), replicas, round_up=False, default=DEFAULT_UNAVAILABLE
    )
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, min(unavailable, replicas) if replicas else unavailable


def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for byte in data:
        h ^= byte
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def _prune(value: Any) -> Any:
    if isinstance(value, dict):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def normalized_template(template: Obj) -> Obj:
    """A pod template as compared and hashed: defaulted (so a template stored before a
    default existed, or one that spells out the defaults, is the same template: no rollout),
    without the hash label, and without null or empty members (``creationTimestamp: null``,
    ``resources: {}``), which clients add or drop when they copy a template around (``kubectl
    rollout undo`` does) but mean nothing."""
    copied: Obj = json.loads(json.dumps(template))
    if isinstance(copied, dict):
        default_pod_template(copied)
    clean: Obj = _prune(copied)
    labels = (clean.get("metadata") or {}).get("labels") or {}
    labels.pop(HASH_LABEL, None)
    return _prune(clean)  # type: ignore[no-any-return]


def template_hash(template: Obj, collision_count: int = 0) -> str:
    """A stable short hash of a pod template (the ``pod-template-hash`` label): FNV-1a of its
    normalized canonical JSON, safe-encoded like upstream's."""
    data = json.dumps(normalized_template(template), sort_keys=True, separators=(",", ":")).encode()
    if collision_count:
        data += str(collision_count).encode()
    digits = str(fnv32a(data))
    return "".join(_ALPHABET[int(d) % len(_ALPHABET)] for d in digits)[:10]


def scale_up_room(replicas: int, surge: int, total_pods: int, new_rs: int) -> int:
    """How far the new ReplicaSet may grow now: up to ``replicas + surge`` pods in all.
    10 replicas, surge 3, 12 pods of which 4 new -> min(13 - 12, 10 - 4) = 1."""
    return max(0, min(replicas + surge - total_pods, replicas - new_rs))


def scale_down_room(replicas: int, unavailable: int, available: int) -> int:
    """How many old pods may go now without dropping below ``replicas - unavailable``
    available. 10 replicas, unavailable 2, 9 available -> 9 - 8 = 1."""
    return max(0, available - (replicas - unavailable))


def revision_of(obj: Obj) -> int:
    text = ((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION, "0")
    try:
        return int(text)
    except ValueError:
        return 0


def old_scale_down(
    replicas: int,
    unavailable: int,
    *,
    old: list[tuple[int, int]],
    new_spec: int,
    new_available: int,
    all_pods: int,
) -> list[int]:
    """New ``spec.replicas`` for the old ReplicaSets (oldest first; each given as (spec
    replicas, available)) in one rolling-update step, as upstream's reconcileOldReplicaSets:
    first the unhealthy old pods go (they count for nothing), then healthy ones, never taking
    availability below ``replicas - unavailable``.

    Example: replicas 3, unavailable 0, surge 1; old (3 spec, 3 available), new 1 spec, 1
    available, 4 pods -> max scaled down = 4 - 3 - 0 = 1; no unhealthy; available 4 - 3 = 1
    -> old becomes 2.
    """
    min_available = replicas - unavailable
    new_unavailable = max(new_spec - new_available, 0)
    budget = all_pods - min_available - new_unavailable
    result = [spec for spec, _ in old]
    if budget <= 0:
        return result
    for i, (spec, available) in enumerate(old):
        cut = min(budget, max(spec - available, 0))
        result[i] -= cut
        budget -= cut
    total_available = sum(min(a, s) for (_, a), s in zip(old, result, strict=True)) + new_available
    room = total_available - min_available
    for i in range(len(old)):
        if room <= 0:
            break
        cut = min(result[i], room)
        result[i] -= cut
        room -= cut
    return result
