"""OpenAPI documents (``/openapi/v2``, ``/openapi/v3``) and the schema the server validates with.

Source of the schemas: the ``kubernetes-validate`` package on PyPI, which ships the Kubernetes
OpenAPI definitions of every release as JSON Schema (with the ``x-kubernetes-*`` extensions:
group-version-kind, patch strategy and merge key, list types). The official ``kubernetes``
client's models were the alternative, but they keep only field names and Python types: no
patch metadata, no descriptions for ``kubectl explain``. We load the release matching the
version we report (1.32) once at start-up and convert it back into the OpenAPI dialect the API
server publishes (``model/k8s/schema.normalize_definitions``).
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources
from typing import Any

import orjson

from stowage.api.k8s.discovery import KUBE_VERSION
from stowage.api.k8s.registry import Registry, ResourceType
from stowage.model.k8s.schema import Schema, Schemas, normalize_definitions

Obj = dict[str, Any]

SCHEMA_RELEASE = f"v{KUBE_VERSION[0]}.{KUBE_VERSION[1]}.0-local"
V2_REF = "#/definitions/"
V3_REF = "#/components/schemas/"


@cache
def _raw_definitions() -> dict[str, Any]:
    path = (
        resources.files("kubernetes_validate")
        / "kubernetes-json-schema"
        / SCHEMA_RELEASE
        / "_definitions.json"
    )
    doc = orjson.loads(path.read_bytes())
    defs = doc.get("$defs") or doc.get("definitions") or {}
    if not isinstance(defs, dict):
        raise RuntimeError("kubernetes-validate definitions are not a mapping")
    return defs


@cache
def load_schemas() -> Schemas:
    return Schemas(normalize_definitions(_raw_definitions(), V2_REF))


def _refs(node: Any, out: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            out.add(ref.rsplit("/", 1)[-1])
        for v in node.values():
            _refs(v, out)
    elif isinstance(node, list):
        for v in node:
            _refs(v, out)


def closure(schemas: Schemas, roots: list[str]) -> dict[str, Schema]:
    out: dict[str, Schema] = {}
    todo = [r for r in roots if r in schemas.definitions]
    while todo:
        name = todo.pop()
        if name in out:
            continue
        out[name] = schemas.definitions[name]
        found: set[str] = set()
        _refs(out[name], found)
        todo.extend(f for f in found if f not in out and f in schemas.definitions)
    return out


_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
_COMMON_ROOTS = [_META + "Status", _META + "DeleteOptions", _META + "Patch", _META + "WatchEvent"]


def _param(name: str, v3: bool, kind: str = "string", where: str = "query") -> Obj:
    p: Obj = {"name": name, "in": where, "uniqueItems": True}
    if where == "path":
        p["required"] = True
    if v3:
        p["schema"] = {"type": kind}
    else:
        p["type"] = kind
    return p


def _ref(name: str, v3: bool) -> Obj:
    return {"$ref": (V3_REF if v3 else V2_REF) + name}


def _op(
    rt: ResourceType, action: str, op_id: str, *, body: str | None, resp: str, v3: bool, params: list[Obj]
) -> Obj:
    op: Obj = {
        "operationId": op_id,
        "tags": [rt.group.replace(".", "_") or "core_v1"],
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
        "parameters": params,
        "responses": {
            "200": (
                {"description": "OK", "content": {"application/json": {"schema": _ref(resp, v3)}}}
                if v3
                else {"description": "OK", "schema": _ref(resp, v3)}
            ),
            "401": {"description": "Unauthorized"},
        },
    }
    if body is not None:
        if v3:
            op["requestBody"] = {"content": {"*/*": {"schema": _ref(body, v3)}}, "required": True}
        else:
            op["parameters"] = [
                *params,
                {"name": "body", "in": "body", "required": True, "schema": _ref(body, v3)},
            ]
    return op


def _paths(rt: ResourceType, v3: bool) -> dict[str, Obj]:
    base = f"/apis/{rt.group}/{rt.version}" if rt.group else "/api/v1"
    ns_part = "/namespaces/{namespace}" if rt.namespaced else ""
    coll = f"{base}{ns_part}/{rt.plural}"
    item = f"{coll}/{{name}}"
    name = rt.kind
    path_params = [_param("namespace", v3, where="path")] if rt.namespaced else []
    write = [_param("dryRun", v3), _param("fieldManager", v3), _param("fieldValidation", v3)]
    listing = [_param(p, v3) for p in ("labelSelector", "fieldSelector", "continue", "resourceVersion")]
    listing += [_param("limit", v3, "integer"), _param("watch", v3, "boolean")]
    defn = rt.definition
    list_def = defn + "List"
    paths: dict[str, Obj] = {
        coll: {
            "parameters": path_params,
            "get": _op(rt, "list", f"list{name}", body=None, resp=list_def, v3=v3, params=listing),
            "post": _op(rt, "post", f"create{name}", body=defn, resp=defn, v3=v3, params=write),
            "delete": _op(
                rt,
                "deletecollection",
                f"deleteCollection{name}",
                body=None,
                resp=_META + "Status",
                v3=v3,
                params=listing,
            ),
        },
        item: {
            "parameters": [_param("name", v3, where="path"), *path_params],
            "get": _op(rt, "get", f"read{name}", body=None, resp=defn, v3=v3, params=[]),
            "put": _op(rt, "put", f"replace{name}", body=defn, resp=defn, v3=v3, params=write),
            "patch": _op(
                rt,
                "patch",
                f"patch{name}",
                body=_META + "Patch",
                resp=defn,
                v3=v3,
                params=[*write, _param("force", v3, "boolean")],
            ),
            "delete": _op(
                rt,
                "delete",
                f"delete{name}",
                body=_META + "DeleteOptions",
                resp=defn,
                v3=v3,
                params=[
                    _param("gracePeriodSeconds", v3, "integer"),
                    _param("propagationPolicy", v3),
                    _param("dryRun", v3),
                ],
            ),
        },
    }
    if rt.subresource("status"):
        paths[f"{item}/status"] = {
            "parameters": [_param("name", v3, where="path"), *path_params],
            "get": _op(rt, "get", f"read{name}Status", body=None, resp=defn, v3=v3, params=[]),
            "put": _op(rt, "put", f"replace{name}Status", body=defn, resp=defn, v3=v3, params=write),
            "patch": _op(
                rt, "patch", f"patch{name}Status", body=_META + "Patch", resp=defn, v3=v3, params=write
            ),
        }
    return paths


def _to_v3(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: (V3_REF + v.rsplit("/", 1)[-1] if k == "$ref" else _to_v3(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_to_v3(v) for v in node]
    return node


def _hash(body: bytes) -> str:
    """What clients use to cache a group-version document (the API server's is a SHA-512)."""
    return hashlib.sha512(body).hexdigest().upper()


class OpenApi:
    """The documents, built once per registry (they only change when the registry does)."""

    def __init__(self, registry: Registry, schemas: Schemas) -> None:
        self.registry = registry
        self.schemas = schemas
        types = registry.all()
        roots = [*_COMMON_ROOTS, *(t.definition for t in types), *(t.definition + "List" for t in types)]
        paths: dict[str, Obj] = {}
        for rt in types:
            paths.update(_paths(rt, False))
        self.v2 = orjson.dumps(
            {
                "swagger": "2.0",
                "info": {
                    "title": "Kubernetes",
                    "version": f"v{KUBE_VERSION[0]}.{KUBE_VERSION[1]}.{KUBE_VERSION[2]}",
                },
                "paths": paths,
                "definitions": closure(schemas, roots),
            }
        )
        self.v3: dict[str, bytes] = {}
        gvs: dict[str, list[ResourceType]] = {}
        for rt in types:
            gvs.setdefault(f"apis/{rt.group}/{rt.version}" if rt.group else "api/v1", []).append(rt)
        for gv, members in gvs.items():
            v3_paths: dict[str, Obj] = {}
            for rt in members:
                v3_paths.update(_paths(rt, True))
            gv_roots = [
                *_COMMON_ROOTS,
                *(t.definition for t in members),
                *(t.definition + "List" for t in members),
            ]
            doc = {
                "openapi": "3.0.0",
                "info": {
                    "title": "Kubernetes",
                    "version": f"v{KUBE_VERSION[0]}.{KUBE_VERSION[1]}.{KUBE_VERSION[2]}",
                },
                "paths": v3_paths,
                "components": {"schemas": _to_v3(closure(schemas, gv_roots))},
            }
            self.v3[gv] = orjson.dumps(doc)
        self.v3_index = orjson.dumps(
            {
                "paths": {
                    gv: {"serverRelativeURL": f"/openapi/v3/{gv}?hash={_hash(body)}"}
                    for gv, body in self.v3.items()
                }
            }
        )
