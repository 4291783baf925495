"""The resource types served today: Namespace, ConfigMap, Secret, ServiceAccount, and Event in
core/v1 and events.k8s.io/v1 (one stored resource, two served shapes).

Table columns are the API server's own (``kubectl get`` output matches a real cluster).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from stowage.api.k8s.columns import AGE, NAME, age_of
from stowage.api.k8s.registry import Column, ResourceType, Subresource
from stowage.model.k8s.errors import Cause

Obj = dict[str, Any]


def _data_count(o: Obj, _: float) -> int:
    return len(o.get("data") or {}) + len(o.get("binaryData") or {})


def _prepare_secret(obj: Obj) -> None:
    """Fold ``stringData`` into base64 ``data`` (write-only field, as the API server does)."""
    string_data = obj.pop("stringData", None) or {}
    if string_data:
        data = dict(obj.get("data") or {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        obj["data"] = data


def _validate_secret(obj: Obj) -> list[Cause]:
    causes: list[Cause] = []
    for key, value in (obj.get("data") or {}).items():
        try:
            base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            causes.append(Cause("FieldValueInvalid", "illegal base64 data", f"data[{key}]"))
    return causes


def _prepare_namespace(obj: Obj) -> None:
    """The namespace strategy's ``kubernetes`` finalizer (the phase and the
    ``kubernetes.io/metadata.name`` label are defaults: ``model/k8s/defaults``)."""
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])


def _involved(part: str) -> Any:
    return lambda o: (
        None if (o.get("involvedObject") or {}).get(part) is None else str(o["involvedObject"][part])
    )


def _event_object(o: Obj, _: float) -> str:
    inv = o.get("involvedObject") or {}
    return f"{str(inv.get('kind', '')).lower()}/{inv.get('name', '')}"


def _event_last_seen(o: Obj, now: float) -> str:
    return age_of(
        o.get("lastTimestamp") or o.get("eventTime") or (o.get("metadata") or {}).get("creationTimestamp"),
        now,
    )


def _event_source(o: Obj, _: float) -> str:
    src = o.get("source") or {}
    parts = [p for p in (src.get("component"), src.get("host")) if p]
    return ", ".join(parts) if parts else str(o.get("reportingComponent") or "")


_CORE_TO_EVENTS = {
    "involvedObject": "regarding",
    "message": "note",
    "reportingComponent": "reportingController",
    "source": "deprecatedSource",
    "firstTimestamp": "deprecatedFirstTimestamp",
    "lastTimestamp": "deprecatedLastTimestamp",
    "count": "deprecatedCount",
}
_EVENTS_TO_CORE = {v: k for k, v in _CORE_TO_EVENTS.items()}


def _rename(obj: Obj, names: dict[str, str], api_version: str) -> Obj:
    out = {names.get(k, k): v for k, v in obj.items()}
    out["apiVersion"] = api_version
    return out


def _to_events_v1(obj: Obj) -> Obj:
    out = _rename(obj, _CORE_TO_EVENTS, "events.k8s.io/v1")
    if not out.get("eventTime"):
        # required in events.k8s.io/v1; core events often have only the deprecated timestamps
        when = out.get("deprecatedFirstTimestamp") or (out.get("metadata") or {}).get("creationTimestamp")
        if isinstance(when, str) and when.endswith("Z"):
            out["eventTime"] = when[:-1] + ".000000Z"
    return out


NAMESPACE = ResourceType(
    "", "v1", "namespaces", "Namespace", False, "io.k8s.api.core.v1.Namespace",
    short_names=("ns",),
    verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
    columns=(
        NAME,
        Column("Status", lambda o, _: (o.get("status") or {}).get("phase", ""),
               description="The status of the namespace"),
        AGE,
    ),
    fields={"status.phase": lambda o: (o.get("status") or {}).get("phase")},
    subresources=(Subresource("status", "Namespace"),),
    prepare=_prepare_namespace,
)  # fmt: skip

CONFIGMAP = ResourceType(
    "", "v1", "configmaps", "ConfigMap", True, "io.k8s.api.core.v1.ConfigMap",
    short_names=("cm",),
    columns=(NAME, Column("Data", _data_count, type="integer"), AGE),
)  # fmt: skip

SECRET = ResourceType(
    "", "v1", "secrets", "Secret", True, "io.k8s.api.core.v1.Secret",
    columns=(
        NAME,
        Column("Type", lambda o, _: o.get("type", "")),
        Column("Data", _data_count, type="integer"),
        AGE,
    ),
    fields={"type": lambda o: o.get("type")},
    prepare=_prepare_secret,
    validate=_validate_secret,
)  # fmt: skip

SERVICE_ACCOUNT = ResourceType(
    "", "v1", "serviceaccounts", "ServiceAccount", True, "io.k8s.api.core.v1.ServiceAccount",
    short_names=("sa",),
    columns=(NAME, Column("Secrets", lambda o, _: len(o.get("secrets") or []), type="integer"), AGE),
)  # fmt: skip

EVENT = ResourceType(
    "", "v1", "events", "Event", True, "io.k8s.api.core.v1.Event",
    short_names=("ev",),
    columns=(
        Column("Last Seen", _event_last_seen),
        Column("Type", lambda o, _: o.get("type", "")),
        Column("Reason", lambda o, _: o.get("reason", "")),
        Column("Object", _event_object),
        Column("Subobject", lambda o, _: (o.get("involvedObject") or {}).get("fieldPath", ""), priority=1),
        Column("Source", _event_source, priority=1),
        Column("Message", lambda o, _: o.get("message", "")),
        Column("First Seen", lambda o, now: age_of(o.get("firstTimestamp"), now), priority=1),
        Column("Count", lambda o, _: o.get("count", 1), type="integer", priority=1),
        Column("Name", lambda o, _: (o.get("metadata") or {}).get("name", ""), format="name", priority=1),
    ),
    fields={
        **{f"involvedObject.{p}": _involved(p) for p in (
            "kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")},
        "reason": lambda o: o.get("reason"),
        "reportingComponent": lambda o: o.get("reportingComponent"),
        "source": lambda o: (o.get("source") or {}).get("component"),
        "type": lambda o: o.get("type"),
    },
)  # fmt: skip

EVENT_V1 = ResourceType(
    "events.k8s.io", "v1", "events", "Event", True, "io.k8s.api.events.v1.Event",
    short_names=("ev",),
    columns=EVENT.columns,
    fields={
        **{f"regarding.{p}": _involved(p) for p in ("kind", "namespace", "name", "uid")},
        "reason": lambda o: o.get("reason"),
        "type": lambda o: o.get("type"),
    },
    storage_group="",
    to_storage=lambda o: _rename(o, _EVENTS_TO_CORE, "v1"),
    from_storage=_to_events_v1,
)  # fmt: skip

BUILTIN = (NAMESPACE, CONFIGMAP, SECRET, SERVICE_ACCOUNT, EVENT, EVENT_V1)
