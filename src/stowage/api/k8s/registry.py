"""Resource types: what the API server serves, declared, not coded.

A ``ResourceType`` names a resource (group/version/plural/kind, scope, short names), its
OpenAPI definition (validation, strategic-merge metadata, ``kubectl explain``), its table
columns, the fields its ``fieldSelector`` supports, its subresources, and optional hooks
(``prepare`` normalizes an object before it is stored, ``validate`` returns causes for a 422).
The machinery reads nothing else: adding Pod or Deployment is one more declaration.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stowage.model.k8s.errors import Cause
from stowage.model.k8s.selectors import FieldGetter

Obj = dict[str, Any]

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Column:
    """One table column. ``cell`` gets the object and 'now' (seconds since the epoch)."""

    name: str
    cell: Callable[[Obj, float], Any]
    type: str = "string"
    format: str = ""
    description: str = ""
    priority: int = 0  # 1: shown only with -o wide


@dataclass(frozen=True)
class Subresource:
    name: str  # "status", "scale", "log", ...
    kind: str  # the kind it answers with (Scale for /scale; the parent kind for /status)
    group: str = ""
    version: str = "v1"
    verbs: tuple[str, ...] = ("get", "patch", "update")


def _meta(obj: Mapping[str, Any], name: str) -> str | None:
    value = (obj.get("metadata") or {}).get(name)
    return None if value is None else str(value)


BASE_FIELDS: dict[str, FieldGetter] = {
    "metadata.name": lambda o: _meta(o, "name"),
    "metadata.namespace": lambda o: _meta(o, "namespace"),
}


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    definition: str
    """The OpenAPI definition name, e.g. ``io.k8s.api.core.v1.ConfigMap``."""
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    columns: tuple[Column, ...] = ()
    fields: Mapping[str, FieldGetter] = field(default_factory=dict)
    """Extra ``fieldSelector`` fields beyond metadata.name/namespace."""
    subresources: tuple[Subresource, ...] = ()
    generation: bool = False
    """Keep ``metadata.generation`` (bumped on spec changes): kinds with a spec/status split."""
    prepare: Callable[[Obj], None] | None = None
    """Normalize an object before it is written (defaults, folding ``stringData``)."""
    validate: Callable[[Obj], list[Cause]] | None = None
    validate_update: Callable[[Obj, Obj], list[Cause]] | None = None
    """On update, (old, new) → causes for a 422: the fields that are immutable once created."""
    storage_group: str | None = None
    """Store objects under another group's keys (one resource served in two groups)."""
    to_storage: Callable[[Obj], Obj] | None = None
    from_storage: Callable[[Obj], Obj] | None = None
    graceful_delete: Callable[[Obj], int] | None = None
    """For kinds a controller must finish deleting (pods): the grace period (seconds) a DELETE
    without ``gracePeriodSeconds`` gets; 0 deletes at once. A graceful DELETE only sets
    ``deletionTimestamp``; the controller removes the object when it is done."""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def field_getters(self) -> dict[str, FieldGetter]:
        return {**BASE_FIELDS, **self.fields}

    @property
    def store_group(self) -> str:
        return self.group if self.storage_group is None else self.storage_group

    def subresource(self, name: str) -> Subresource | None:
        return next((s for s in self.subresources if s.name == name), None)


class Registry:
    """Every served resource type, indexed for routing and discovery."""

    def __init__(self, types: Iterable[ResourceType] = ()) -> None:
        self._by_path: dict[tuple[str, str, str], ResourceType] = {}
        self._types: list[ResourceType] = []
        for t in types:
            self.add(t)

    def add(self, rt: ResourceType) -> None:
        self._by_path[(rt.group, rt.version, rt.plural)] = rt
        self._types.append(rt)

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_path.get((group, version, plural))

    def all(self) -> list[ResourceType]:
        return list(self._types)

    def groups(self) -> dict[str, list[str]]:
        """Non-core groups and their versions, in declaration order (preferred first)."""
        out: dict[str, list[str]] = {}
        for t in self._types:
            if t.group and t.version not in out.setdefault(t.group, []):
                out[t.group].append(t.version)
        return out

    def in_version(self, group: str, version: str) -> list[ResourceType]:
        return [t for t in self._types if t.group == group and t.version == version]

    def namespaced(self) -> list[ResourceType]:
        """One type per stored resource (so a namespace sweep deletes each object once)."""
        seen: set[tuple[str, str]] = set()
        out: list[ResourceType] = []
        for t in self._types:
            if t.namespaced and (t.store_group, t.plural) not in seen:
                seen.add((t.store_group, t.plural))
                out.append(t)
        return out
