"""The Kubernetes OpenAPI definitions as a queryable schema: field lookup, patch metadata for
strategic merge patch, and server-side field validation (unknown and mistyped fields).

The definitions come from the ``kubernetes-validate`` package (see ``api/k8s/openapi.py``); this
module only sees a ``{name: schema}`` mapping. ``normalize_definitions`` turns that package's
JSON-Schema dialect (nullable ``type`` lists, ``#/$defs/`` refs, ``oneOf`` for int-or-string)
back into the OpenAPI v2 dialect a real API server publishes, which is what kubectl expects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Schema = dict[str, Any]

_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"


def _normalize(node: Any, ref_prefix: str) -> Any:
    if isinstance(node, list):
        return [_normalize(n, ref_prefix) for n in node]
    if not isinstance(node, dict):
        return node
    out: Schema = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            out[key] = ref_prefix + value.rsplit("/", 1)[-1]
        elif key == "type" and isinstance(value, list):
            kinds = [v for v in value if v != "null"]
            out[key] = kinds[0] if kinds else "object"
        elif key == "enum" and isinstance(value, list):
            continue  # added by the schema converter for apiVersion/kind; a real server has none
        elif key == "properties" and isinstance(value, dict):
            out[key] = {k: _normalize(v, ref_prefix) for k, v in value.items()}
        else:
            out[key] = _normalize(value, ref_prefix)
    return out


def normalize_definitions(raw: Mapping[str, Any], ref_prefix: str = "#/definitions/") -> dict[str, Schema]:
    """JSON-Schema ``$defs`` (as kubernetes-validate ships them) → OpenAPI definitions."""
    defs: dict[str, Schema] = {name: _normalize(schema, ref_prefix) for name, schema in raw.items()}
    for name, description in (
        (_INT_OR_STRING, "IntOrString is a type that can hold an int32 or a string."),
        (_QUANTITY, "Quantity is a fixed-point representation of a number."),
    ):
        if name in defs:
            fmt = "int-or-string" if name == _INT_OR_STRING else None
            defs[name] = {"type": "string", "description": description, **({"format": fmt} if fmt else {})}
    return defs


@dataclass(frozen=True, slots=True)
class PatchMeta:
    """How strategic merge patch treats one field."""

    strategy: tuple[str, ...]  # e.g. ("merge",), ("retainKeys",), ("merge", "retainKeys")
    merge_key: str | None
    schema: Schema | None  # the field's own schema (resolved), None if unknown


@dataclass
class Problems:
    unknown: list[str] = field(default_factory=list)
    """Paths of fields the schema does not know (``spec.foo``, ``data[0].x``)."""
    mistyped: list[str] = field(default_factory=list)
    """Messages for values of the wrong JSON type."""
    duplicates: list[str] = field(default_factory=list)


class Schemas:
    """Read access to a set of normalized definitions (refs as ``#/definitions/<name>``)."""

    def __init__(self, definitions: Mapping[str, Schema]) -> None:
        self.definitions = dict(definitions)
        self.by_gvk: dict[tuple[str, str, str], str] = {}
        for name, schema in self.definitions.items():
            for gvk in schema.get("x-kubernetes-group-version-kind") or []:
                self.by_gvk[(gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", ""))] = name

    def resolve(self, node: Schema | None) -> Schema | None:
        seen = 0
        while node is not None and "$ref" in node and seen < 32:
            node = self.definitions.get(str(node["$ref"]).rsplit("/", 1)[-1])
            seen += 1
        if node is not None and "allOf" in node and len(node["allOf"]) == 1:
            return self.resolve(node["allOf"][0])
        return node

    def named(self, name: str) -> Schema | None:
        return self.definitions.get(name)

    def patch_meta(self, node: Schema | None, name: str) -> PatchMeta:
        node = self.resolve(node)
        if node is None:
            return PatchMeta((), None, None)
        prop = (node.get("properties") or {}).get(name)
        if prop is None:
            extra = node.get("additionalProperties")
            return PatchMeta((), None, self.resolve(extra) if isinstance(extra, dict) else None)
        strategy = tuple(s for s in str(prop.get("x-kubernetes-patch-strategy") or "").split(",") if s)
        return PatchMeta(strategy, prop.get("x-kubernetes-patch-merge-key"), self.resolve(prop))

    def items(self, node: Schema | None) -> Schema | None:
        node = self.resolve(node)
        if node is None:
            return None
        items = node.get("items")
        return self.resolve(items) if isinstance(items, dict) else None

    # -- validation --------------------------------------------------------------------------
    def check(self, obj: Any, definition: str) -> Problems:
        problems = Problems()
        self._check(obj, self.named(definition), "", problems)
        return problems

    def _check(self, value: Any, node: Schema | None, path: str, problems: Problems) -> None:
        node = self.resolve(node)
        if node is None or value is None:
            return  # unknown shape (validated elsewhere) or null (Go decodes null as zero)
        kind = node.get("type")
        if kind == "object" or (kind is None and ("properties" in node or "additionalProperties" in node)):
            if not isinstance(value, dict):
                problems.mistyped.append(_type_message(path, "object", value))
                return
            props = node.get("properties")
            extra = node.get("additionalProperties")
            if node.get("x-kubernetes-preserve-unknown-fields") or (props is None and extra is None):
                return
            for key, item in value.items():
                sub = f"{path}.{key}" if path else key
                if props is not None and key in props:
                    self._check(item, props[key], sub, problems)
                elif isinstance(extra, dict):
                    self._check(item, extra, sub, problems)
                elif extra is True:
                    continue
                else:
                    problems.unknown.append(sub)
        elif kind == "array":
            if not isinstance(value, list):
                problems.mistyped.append(_type_message(path, "array", value))
                return
            items = node.get("items")
            for i, item in enumerate(value):
                self._check(item, items, f"{path}[{i}]", problems)
        elif kind == "string":
            if node.get("format") == "int-or-string":
                ok = isinstance(value, (str, int)) and not isinstance(value, bool)
            elif node.get("description", "").startswith("Quantity"):
                ok = isinstance(value, (str, int, float)) and not isinstance(value, bool)
            else:
                ok = isinstance(value, str)
            if not ok:
                problems.mistyped.append(_type_message(path, "string", value))
        elif kind == "integer":
            if isinstance(value, bool) or not (
                isinstance(value, int) or (isinstance(value, float) and value.is_integer())
            ):
                problems.mistyped.append(_type_message(path, "integer", value))
        elif kind == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                problems.mistyped.append(_type_message(path, "number", value))
        elif kind == "boolean" and not isinstance(value, bool):
            problems.mistyped.append(_type_message(path, "boolean", value))


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _type_message(path: str, want: str, value: Any) -> str:
    return f"json: cannot unmarshal {_json_type(value)} into Go struct field .{path} of type {want}"
