"""Strategic merge patch (``application/strategic-merge-patch+json``), applied on the server.

Like a JSON merge patch, except that lists declared with ``x-kubernetes-patch-strategy: merge``
merge element by element: by their ``x-kubernetes-patch-merge-key`` (containers by ``name``,
ports by ``containerPort``...) or, for lists of scalars, as a set union. Directives:

- ``$patch: replace`` in a map replaces the map instead of merging; in a list of maps it
  replaces the whole list with the patch's other elements;
- ``$patch: delete`` in a map deletes the map; in a list element, the element with that key;
- ``$retainKeys: [..]`` keeps only the listed keys of the map (fields whose strategy includes
  ``retainKeys``, e.g. volumes and the deployment strategy);
- ``$setElementOrder/<field>: [..]`` orders a merged list (what kubectl apply sends);
- ``$deleteFromPrimitiveList/<field>: [..]`` removes scalars from a merged scalar list.

The schema walk uses ``schema.Schemas.patch_meta``; a field the schema does not know merges
as in a JSON merge patch, which is what the Go implementation does for unstructured maps.
"""

from __future__ import annotations

import copy
from typing import Any

from stowage.model.k8s.errors import bad_request
from stowage.model.k8s.schema import Schema, Schemas

_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"
_SET_ORDER = "$setElementOrder/"


def strategic_merge(original: Any, patch: Any, schemas: Schemas, node: Schema | None) -> Any:
    """``original`` with ``patch`` applied; neither argument is modified."""
    if not isinstance(patch, dict):
        raise bad_request("strategic merge patch must be a JSON object")
    result = _merge_map(copy.deepcopy(original) if isinstance(original, dict) else {}, patch, schemas, node)
    return {} if result is None else result


def _merge_map(orig: dict[str, Any], patch: dict[str, Any], schemas: Schemas, node: Schema | None) -> Any:
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive not in (None, "merge"):
        raise bad_request(f"unknown patch directive {directive!r}")
    retain = patch.get("$retainKeys")
    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys"):
            continue
        if key.startswith(_SET_ORDER):
            if not isinstance(value, list):
                raise bad_request(f"{key} must be a list")
            orders[key[len(_SET_ORDER) :]] = value
            continue
        if key.startswith(_DELETE_PRIMITIVE):
            name = key[len(_DELETE_PRIMITIVE) :]
            if isinstance(orig.get(name), list) and isinstance(value, list):
                orig[name] = [v for v in orig[name] if v not in value]
            continue
        if value is None:
            orig.pop(key, None)
            continue
        meta = schemas.patch_meta(node, key)
        current = orig.get(key)
        if isinstance(value, dict):
            if "replace" in meta.strategy:
                orig[key] = _strip_directives(value)
                continue
            merged = _merge_map(current if isinstance(current, dict) else {}, value, schemas, meta.schema)
            if merged is None:
                orig.pop(key, None)
            else:
                orig[key] = merged
        elif isinstance(value, list) and "merge" in meta.strategy:
            orig[key] = _merge_list(
                current if isinstance(current, list) else [], value, meta.merge_key, schemas, meta.schema
            )
        else:
            orig[key] = _strip_directives(value)
    for name, order in orders.items():
        if isinstance(orig.get(name), list):
            meta = schemas.patch_meta(node, name)
            orig[name] = _apply_order(orig[name], order, meta.merge_key)
    if isinstance(retain, list):
        keep = set(retain)
        for key in list(orig):
            if key not in keep and key not in patch:
                del orig[key]
    return orig


def _merge_list(
    orig: list[Any], patch: list[Any], merge_key: str | None, schemas: Schemas, node: Schema | None
) -> list[Any]:
    item_schema = schemas.items(node)
    if merge_key is None:
        # a set of scalars: union, original order first
        out = list(orig)
        for value in patch:
            if isinstance(value, dict) and value.get("$patch") == "replace":
                return [v for v in patch if not (isinstance(v, dict) and "$patch" in v)]
            if value not in out:
                out.append(value)
        return out
    if any(isinstance(v, dict) and v.get("$patch") == "replace" for v in patch):
        return [_strip_directives(v) for v in patch if not (isinstance(v, dict) and "$patch" in v)]
    out = list(orig)
    for value in patch:
        if not isinstance(value, dict):
            raise bad_request(f"list merged on {merge_key!r} must hold objects")
        key = value.get(merge_key)
        index = next((i for i, v in enumerate(out) if isinstance(v, dict) and v.get(merge_key) == key), None)
        if value.get("$patch") == "delete":
            if index is not None:
                out.pop(index)
            continue
        if index is None:
            out.append(_strip_directives(value))
        else:
            merged = _merge_map(out[index], value, schemas, item_schema)
            if merged is None:
                out.pop(index)
            else:
                out[index] = merged
    return out


def _apply_order(items: list[Any], order: list[Any], merge_key: str | None) -> list[Any]:
    """Items named in ``order`` first, in that order; the rest after, in their own order."""

    def ident(item: Any) -> Any:
        return item.get(merge_key) if merge_key and isinstance(item, dict) else item

    wanted = [ident(o) for o in order]
    rank = {repr(w): i for i, w in enumerate(wanted)}
    listed = sorted((it for it in items if repr(ident(it)) in rank), key=lambda it: rank[repr(ident(it))])
    rest = [it for it in items if repr(ident(it)) not in rank]
    return listed + rest


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _strip_directives(v)
            for k, v in value.items()
            if not (k.startswith("$setElementOrder/") or k.startswith(_DELETE_PRIMITIVE))
            and k not in ("$patch", "$retainKeys")
        }
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value
