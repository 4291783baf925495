"""Object metadata rules: names, labels and annotations validation, server-set fields, and the
``generation`` rule (bumped when anything but ``metadata`` and ``status`` changes)."""

from __future__ import annotations

import re
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from stowage.model.k8s.errors import Cause

_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

Obj = dict[str, Any]


def rfc3339(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def parse_rfc3339(text: str) -> float | None:
    """Seconds since the epoch of a Kubernetes timestamp (``2026-01-02T03:04:05Z``; fractions and
    the zone suffix are ignored: Kubernetes writes UTC). ~1 µs, ten times faster than strptime,
    and right in any local time zone."""
    try:
        if len(text) < 19 or text[4] != "-" or text[7] != "-" or text[10] not in "Tt" or text[13] != ":":
            return None
        moment = datetime(
            int(text[0:4]), int(text[5:7]), int(text[8:10]),
            int(text[11:13]), int(text[14:16]), int(text[17:19]), tzinfo=UTC,
        )  # fmt: skip
        return moment.timestamp()
    except (ValueError, TypeError):
        return None


def new_uid() -> str:
    h = secrets.token_hex(16)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def generated_suffix() -> str:
    alphabet = "bcdfghjklmnpqrstvwxz2456789"  # apimachinery's: no vowels, no look-alikes
    return "".join(secrets.choice(alphabet) for _ in range(5))


def check_name(name: str, *, label: bool = False, field: str = "metadata.name") -> list[Cause]:
    pattern, limit = (_DNS1123_LABEL, 63) if label else (_DNS1123_SUBDOMAIN, 253)
    if not name:
        return [Cause("FieldValueRequired", "Required value: name or generateName is required", field)]
    if len(name) > limit or not pattern.match(name):
        kind = "RFC 1123 label" if label else "RFC 1123 subdomain"
        return [
            Cause(
                "FieldValueInvalid",
                f'Invalid value: "{name}": a lowercase {kind} must consist of lower case alphanumeric '
                "characters, '-' or '.', and must start and end with an alphanumeric character",
                field,
            )
        ]
    return []


def _check_qualified(key: str, field: str) -> list[Cause]:
    prefix, _, name = key.rpartition("/")
    if (prefix and (len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix))) or (
        len(name) > 63 or not _LABEL_NAME.match(name)
    ):
        return [
            Cause("FieldValueInvalid", f'Invalid value: "{key}": name part must be a qualified name', field)
        ]
    return []


def check_meta(meta: Obj) -> list[Cause]:
    causes: list[Cause] = []
    labels = meta.get("labels") or {}
    for key, value in labels.items():
        causes += _check_qualified(key, "metadata.labels")
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            causes.append(
                Cause(
                    "FieldValueInvalid", f'Invalid value: "{value}": a valid label value', "metadata.labels"
                )
            )
    for key in meta.get("annotations") or {}:
        causes += _check_qualified(key, "metadata.annotations")
    return causes


def spec_changed(old: Obj, new: Obj) -> bool:
    """Does the change from ``old`` to ``new`` bump ``metadata.generation``?"""
    skip = ("metadata", "status", "apiVersion", "kind")
    keys = (set(old) | set(new)) - set(skip)
    return any(old.get(k) != new.get(k) for k in keys)
