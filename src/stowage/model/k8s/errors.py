"""The error every piece of the Kubernetes machinery raises: it becomes a ``Status`` object.

``reason`` and ``code`` follow apimachinery's ``StatusReason`` table (NotFound 404,
AlreadyExists 409, Conflict 409, Invalid 422, BadRequest 400, Expired 410, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Cause:
    reason: str
    message: str
    field: str = ""


@dataclass
class K8sError(Exception):
    code: int
    reason: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    causes: list[Cause] = field(default_factory=list)

    def __str__(self) -> str:
        return self.message


def bad_request(message: str) -> K8sError:
    return K8sError(400, "BadRequest", message)


def not_found(resource: str, name: str, group: str = "") -> K8sError:
    what = f"{resource}.{group}" if group else resource
    return K8sError(
        404,
        "NotFound",
        f'{what} "{name}" not found',
        {"name": name, "group": group, "kind": resource},
    )


def already_exists(resource: str, name: str, group: str = "") -> K8sError:
    what = f"{resource}.{group}" if group else resource
    return K8sError(
        409,
        "AlreadyExists",
        f'{what} "{name}" already exists',
        {"name": name, "group": group, "kind": resource},
    )


def conflict(resource: str, name: str, group: str = "") -> K8sError:
    what = f"{resource}.{group}" if group else resource
    return K8sError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {what} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        {"name": name, "group": group, "kind": resource},
    )


def invalid(kind: str, name: str, causes: list[Cause], group: str = "") -> K8sError:
    text = ", ".join(f"{c.field}: {c.message}" if c.field else c.message for c in causes)
    if len(causes) > 1:
        text = f"[{text}]"  # as apimachinery's aggregate error prints several
    what = f"{kind}.{group}" if group else kind
    return K8sError(
        422,
        "Invalid",
        f'{what} "{name}" is invalid: {text}',
        {"name": name, "group": group, "kind": kind},
        causes,
    )


def expired(message: str) -> K8sError:
    return K8sError(410, "Expired", message)
