"""Cell helpers for table columns: ages as kubectl prints them, and common cells."""

from __future__ import annotations

from typing import Any

from stowage.api.k8s.registry import Column
from stowage.model.k8s.meta import parse_rfc3339

Obj = dict[str, Any]


def human_duration(seconds: float) -> str:
    """apimachinery's ``duration.HumanDuration``: 45s, 2m30s, 5h, 3d4h, 2y10d ..."""
    if seconds < -1:
        return "<invalid>"
    s = int(max(0, seconds))
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    if h < 24 * 8:
        return f"{h // 24}d{h % 24}h" if h % 24 else f"{h // 24}d"
    if h < 24 * 365 * 2:
        return f"{h // 24}d"
    if h < 24 * 365 * 8:
        return f"{h // 24 // 365}y{h // 24 % 365}d"
    return f"{h // 24 // 365}y"


def age_of(timestamp: Any, now: float) -> str:
    if not isinstance(timestamp, str):
        return "<unknown>"
    ts = parse_rfc3339(timestamp)
    return "<unknown>" if ts is None else human_duration(now - ts)


NAME = Column(
    "Name",
    lambda o, _: (o.get("metadata") or {}).get("name", ""),
    format="name",
    description="Name must be unique within a namespace.",
)
AGE = Column(
    "Age",
    lambda o, now: age_of((o.get("metadata") or {}).get("creationTimestamp"), now),
    description="CreationTimestamp is a timestamp representing the server time when this object was created.",
)
