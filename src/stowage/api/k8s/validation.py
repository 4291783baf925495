"""Server-side field validation (``fieldValidation=Strict|Warn|Ignore``) against the schemas.

Unknown fields: Strict → 400 ``strict decoding error``; Warn → dropped with a ``Warning``
header; Ignore → dropped. Values of the wrong JSON type are a 400 whatever the setting, as
decoding into the Go types fails on a real API server.
"""

from __future__ import annotations

from typing import Any

from stowage.api.k8s.http import Request
from stowage.api.k8s.registry import ResourceType
from stowage.model.k8s.errors import K8sError, bad_request
from stowage.model.k8s.schema import Schemas

Obj = dict[str, Any]


def validation_mode(request: Request) -> str:
    mode = request.query.get("fieldValidation", "") or "Warn"
    if mode not in ("Strict", "Warn", "Ignore"):
        raise bad_request(f"fieldValidation must be one of Strict, Warn, Ignore; got {mode!r}")
    return mode


def _drop(obj: Any, path: str) -> None:
    """Remove the field at ``a.b[0].c`` from ``obj``."""
    parts: list[str | int] = []
    for piece in path.split("."):
        name, _, rest = piece.partition("[")
        if name:
            parts.append(name)
        while rest:
            index, _, rest = rest.partition("]")
            parts.append(int(index))
            rest = rest.lstrip("[")
    cur = obj
    for p in parts[:-1]:
        cur = cur[p]
    last = parts[-1]
    if isinstance(cur, dict) and isinstance(last, str):
        cur.pop(last, None)


def check_fields(schemas: Schemas, rt: ResourceType, obj: Obj, request: Request) -> None:
    """Validate ``obj`` (served shape) in place; raises or records warnings on ``request``."""
    mode = validation_mode(request)
    problems = schemas.check(obj, rt.definition)
    if problems.mistyped:
        raise K8sError(400, "BadRequest", "; ".join(problems.mistyped[:10]))
    if not problems.unknown:
        return
    if mode == "Strict":
        listed = ", ".join(f'unknown field "{p}"' for p in problems.unknown)
        raise K8sError(400, "BadRequest", f"strict decoding error: {listed}")
    if mode == "Warn":
        request.warnings.extend(f'unknown field "{p}"' for p in problems.unknown)
    for path in sorted(problems.unknown, reverse=True):
        _drop(obj, path)
