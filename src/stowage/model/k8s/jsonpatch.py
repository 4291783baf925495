"""The two schema-free patch formats: JSON merge patch (RFC 7386) and JSON patch (RFC 6902).

Both work on private deep copies; a failing JSON patch op raises a 422-free ``K8sError``
(the API server answers a bad JSON patch with 422 Invalid... for test failures and 400 for
malformed documents; we follow it: malformed → BadRequest, a failed ``test`` or missing path →
Invalid via the caller).
"""

from __future__ import annotations

import copy
from typing import Any

from stowage.model.k8s.errors import K8sError, bad_request


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _fail(message: str) -> K8sError:
    return K8sError(422, "Invalid", message)


def _parent(doc: Any, parts: list[str]) -> Any:
    cur = doc
    for p in parts[:-1]:
        if isinstance(cur, dict):
            if p not in cur:
                raise _fail(f"doc is missing path: /{'/'.join(parts)}")
            cur = cur[p]
        elif isinstance(cur, list):
            try:
                cur = cur[int(p)]
            except (ValueError, IndexError):
                raise _fail(f"doc is missing path: /{'/'.join(parts)}") from None
        else:
            raise _fail(f"doc is missing path: /{'/'.join(parts)}")
    return cur


def _get(doc: Any, parts: list[str]) -> Any:
    if not parts:
        return doc
    parent = _parent(doc, parts)
    last = parts[-1]
    try:
        if isinstance(parent, dict):
            return parent[last]
        if isinstance(parent, list):
            return parent[int(last)]
    except (KeyError, ValueError, IndexError):
        pass
    raise _fail(f"doc is missing path: /{'/'.join(parts)}")


def _remove(doc: Any, parts: list[str]) -> Any:
    parent = _parent(doc, parts)
    last = parts[-1]
    try:
        if isinstance(parent, dict):
            return parent.pop(last)
        if isinstance(parent, list):
            return parent.pop(int(last))
    except (KeyError, ValueError, IndexError):
        pass
    raise _fail(f"unable to remove nonexistent key: /{'/'.join(parts)}")


def _add(doc: Any, parts: list[str], value: Any, replace: bool = False) -> Any:
    if not parts:
        return value
    parent = _parent(doc, parts)
    last = parts[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise _fail(f"replace operation does not apply: doc is missing key: /{'/'.join(parts)}")
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-" and not replace:
            parent.append(value)
            return doc
        try:
            index = int(last)
        except ValueError:
            raise _fail(f"invalid array index {last!r}") from None
        if replace:
            if not 0 <= index < len(parent):
                raise _fail(f"replace operation does not apply: index {index} out of range")
            parent[index] = value
        else:
            if not 0 <= index <= len(parent):
                raise _fail(f"add operation does not apply: index {index} out of range")
            parent.insert(index, value)
    else:
        raise _fail(f"doc is missing path: /{'/'.join(parts)}")
    return doc


def json_patch(target: Any, ops: Any) -> Any:
    """RFC 6902 add/remove/replace/move/copy/test, applied in order to a deep copy."""
    if not isinstance(ops, list):
        raise bad_request("json patch must be a JSON array of operations")
    doc = copy.deepcopy(target)
    for op in ops:
        if not isinstance(op, dict) or not isinstance(op.get("op"), str):
            raise bad_request("each json patch operation must be an object with an 'op'")
        kind = op["op"]
        path = op.get("path")
        if not isinstance(path, str):
            raise bad_request(f"json patch {kind} operation needs a 'path'")
        parts = _pointer(path)
        if kind in ("add", "replace", "test") and "value" not in op:
            raise bad_request(f"json patch {kind} operation needs a 'value'")
        if kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op["value"]))
        elif kind == "remove":
            _remove(doc, parts)
        elif kind == "replace":
            doc = _add(doc, parts, copy.deepcopy(op["value"]), replace=True)
        elif kind in ("move", "copy"):
            source = op.get("from")
            if not isinstance(source, str):
                raise bad_request(f"json patch {kind} operation needs a 'from'")
            src = _pointer(source)
            value = _remove(doc, src) if kind == "move" else copy.deepcopy(_get(doc, src))
            doc = _add(doc, parts, value)
        elif kind == "test":
            if _get(doc, parts) != op["value"]:
                raise _fail(f"testing value {path} failed")
        else:
            raise bad_request(f"unknown json patch operation {kind!r}")
    return doc
