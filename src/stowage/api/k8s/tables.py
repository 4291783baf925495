"""Table responses (``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``): what
``kubectl get`` prints, computed on the server from each type's declared columns."""

from __future__ import annotations

import time
from typing import Any

from stowage.api.k8s.columns import AGE, NAME
from stowage.api.k8s.registry import Column, ResourceType

Obj = dict[str, Any]

TABLE_CONTENT_TYPE = "application/json;as=Table;v=v1;g=meta.k8s.io"


def wants_table(accept: str) -> str | None:
    """The Table version the client asked for first (``v1`` or ``v1beta1``), if any."""
    for part in accept.split(","):
        params = {k.strip(): v.strip() for k, _, v in (p.partition("=") for p in part.split(";")[1:])}
        if params.get("as") == "Table" and params.get("g") == "meta.k8s.io":
            return params.get("v", "v1")
        if part.split(";")[0].strip() in ("application/json", "*/*") and "as" not in params:
            return None
    return None


def columns_of(rt: ResourceType) -> tuple[Column, ...]:
    return rt.columns or (NAME, AGE)


def _definitions(cols: tuple[Column, ...]) -> list[Obj]:
    return [
        {
            "name": c.name,
            "type": c.type,
            "format": c.format,
            "description": c.description,
            "priority": c.priority,
        }
        for c in cols
    ]


def _partial(obj: Obj, version: str) -> Obj:
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": f"meta.k8s.io/{version}",
        "metadata": obj.get("metadata") or {},
    }


def row(rt: ResourceType, stored: Obj, served: Obj, *, include: str, version: str, now: float) -> Obj:
    out: Obj = {"cells": [c.cell(stored, now) for c in columns_of(rt)]}
    if include == "Object":
        out["object"] = served
    elif include != "None":
        out["object"] = _partial(served, version)
    return out


def table(
    rt: ResourceType,
    items: list[tuple[Obj, Obj]],
    *,
    resource_version: str,
    continue_token: str = "",
    include: str = "Metadata",
    version: str = "v1",
    with_columns: bool = True,
) -> Obj:
    """``items`` are (stored shape, served shape) pairs: columns read the stored shape."""
    now = time.time()
    meta: Obj = {"resourceVersion": resource_version}
    if continue_token:
        meta["continue"] = continue_token
    return {
        "kind": "Table",
        "apiVersion": f"meta.k8s.io/{version}",
        "metadata": meta,
        "columnDefinitions": _definitions(columns_of(rt)) if with_columns else [],
        "rows": [row(rt, s, o, include=include, version=version, now=now) for s, o in items],
    }
