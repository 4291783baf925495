"""EKS updates: the record an Update* call leaves (DescribeUpdate / ListUpdates) and how it ends.

An update is made ``InProgress`` by the API call (the cluster or node group goes UPDATING);
the EKS controller applies its ``_apply`` member (the change, as plain JSON) and marks it
``Successful``, so the change is visible only once the update has succeeded, as on EKS.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

Doc = dict[str, Any]

IN_PROGRESS, SUCCESSFUL, FAILED, CANCELLED = "InProgress", "Successful", "Failed", "Cancelled"


def new_update(
    kind: str,
    params: list[tuple[str, str]],
    *,
    now: float,
    apply: Mapping[str, Any],
    token: str | None,
    nodegroup: str | None = None,
) -> Doc:
    return {
        "id": str(uuid.uuid4()),
        "status": IN_PROGRESS,
        "type": kind,
        "params": [{"type": t, "value": v} for t, v in params],
        "createdAt": now,
        "errors": [],
        "_apply": dict(apply),
        "_token": token,
        "_nodegroup": nodegroup,
    }


def finished(doc: Mapping[str, Any], status: str = SUCCESSFUL) -> Doc:
    out = {k: v for k, v in doc.items() if k != "_apply"}
    out["status"] = status
    return out


def render(doc: Mapping[str, Any]) -> Doc:
    return {k: v for k, v in doc.items() if not k.startswith("_")}
