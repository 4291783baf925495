"""The verbs on one resource type: get, list, create, update, patch, delete, deletecollection.
Watch streams live in ``watch.py``. Each handler returns a ``Reply``; the app writes it."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

import orjson

from stowage.api.k8s.context import ApiContext
from stowage.api.k8s.http import Request, decode_body
from stowage.api.k8s.registry import ResourceType
from stowage.api.k8s.tables import TABLE_CONTENT_TYPE, table, wants_table
from stowage.api.k8s.validation import check_fields
from stowage.model.k8s import errors
from stowage.model.k8s.errors import K8sError
from stowage.model.k8s.jsonpatch import json_patch, merge_patch
from stowage.model.k8s.selectors import parse_field_selector, parse_label_selector
from stowage.model.k8s.smp import strategic_merge

Obj = dict[str, Any]

PAGE = 500
PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)


@dataclass
class Reply:
    status: int
    body: Any
    content_type: str = "application/json"
    warnings: list[str] = field(default_factory=list)


def _reply(request: Request, status: int, body: Any) -> Reply:
    return Reply(status, body, warnings=request.warnings)


# -- reads ---------------------------------------------------------------------------------------
async def get(ctx: ApiContext, rt: ResourceType, ns: str, name: str, request: Request) -> Reply:
    found = await ctx.service.get(rt, ns, name)
    served = ctx.service.served(rt, dict(found.obj))
    version = wants_table(request.headers.get("accept", ""))
    if version:
        body = table(
            rt, [(found.obj, served)], resource_version=str(found.revision),
            include=request.query.get("includeObject", "Metadata"), version=version,
        )  # fmt: skip
        return Reply(200, body, TABLE_CONTENT_TYPE)
    return _reply(request, 200, served)


def _encode_continue(rv: int, key: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": key})).decode()


def _decode_continue(token: str) -> tuple[int, str]:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token.encode()))
        return int(data["rv"]), str(data["start"])
    except (binascii.Error, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        raise K8sError(400, "BadRequest", "continue key is not valid: bad encoding") from None


async def collect(
    ctx: ApiContext, rt: ResourceType, ns: str | None, request: Request
) -> tuple[list[Obj], int, str]:
    """Stored objects matching the selectors, the list revision, and the continue token."""
    labels = parse_label_selector(request.query.get("labelSelector"))
    fields = parse_field_selector(request.query.get("fieldSelector"))
    getters = rt.field_getters
    fields.check(getters, rt.kind)
    limit = request.int_param("limit") or 0
    start: str | None = None
    list_rv: int | None = None
    token = request.query.get("continue")
    if token:
        list_rv, start = _decode_continue(token)
    prefix = ctx.service.prefix(rt, ns)
    out: list[Obj] = []
    while True:
        page, more, revision = await ctx.service.objects.list(prefix, start_after=start, limit=PAGE)
        list_rv = list_rv or revision
        for i, stored in enumerate(page):
            start = stored.key
            meta = stored.obj.get("metadata") or {}
            if not labels.matches(meta.get("labels")) or not fields.matches(stored.obj, getters):
                continue
            out.append(stored.obj)
            if limit and len(out) == limit:
                has_more = more or i < len(page) - 1
                return out, list_rv, _encode_continue(list_rv, stored.key) if has_more else ""
        if not more:
            return out, list_rv, ""


async def list_objects(ctx: ApiContext, rt: ResourceType, ns: str | None, request: Request) -> Reply:
    items, rv, token = await collect(ctx, rt, ns, request)
    version = wants_table(request.headers.get("accept", ""))
    if version:
        pairs = [(o, ctx.service.served(rt, dict(o))) for o in items]
        body = table(
            rt, pairs, resource_version=str(rv), continue_token=token,
            include=request.query.get("includeObject", "Metadata"), version=version,
        )  # fmt: skip
        return Reply(200, body, TABLE_CONTENT_TYPE)
    meta: Obj = {"resourceVersion": str(rv)}
    if token:
        meta["continue"] = token
    return _reply(
        request,
        200,
        {
            "kind": rt.list_kind,
            "apiVersion": rt.api_version,
            "metadata": meta,
            "items": [ctx.service.served(rt, o) for o in items],
        },
    )


# -- writes --------------------------------------------------------------------------------------
def _object_body(request: Request, rt: ResourceType) -> Obj:
    body = decode_body(request.body, request.content_type)
    if not isinstance(body, dict):
        raise errors.bad_request("the request body must be a JSON object")
    kind, api_version = body.get("kind"), body.get("apiVersion")
    if kind not in (None, "", rt.kind) or api_version not in (None, "", rt.api_version):
        raise errors.bad_request(
            f"the API version in the data ({api_version}) does not match the expected API version "
            f"({rt.api_version})" if api_version != rt.api_version else
            f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})"
        )  # fmt: skip
    return body


def _dry_run(request: Request) -> bool:
    return request.query.get("dryRun") == "All"


async def create(ctx: ApiContext, rt: ResourceType, ns: str, request: Request) -> Reply:
    body = _object_body(request, rt)
    check_fields(ctx.schemas, rt, body, request)
    stored = await ctx.service.create(rt, ns, body, dry_run=_dry_run(request))
    return _reply(request, 201, ctx.service.served(rt, stored.obj))


async def update(
    ctx: ApiContext, rt: ResourceType, ns: str, name: str, *, sub: str, request: Request
) -> Reply:
    body = _object_body(request, rt)
    check_fields(ctx.schemas, rt, body, request)
    stored = await ctx.service.update(
        rt, ns, name, lambda _old: body, subresource=sub, dry_run=_dry_run(request)
    )
    return _reply(request, 200, ctx.service.served(rt, stored.obj))


def _apply(ctx: ApiContext, rt: ResourceType, kind: str, old: Obj, patch: Any) -> Obj:
    if kind == "application/json-patch+json":
        new = json_patch(old, patch)
    elif kind == "application/merge-patch+json":
        if not isinstance(patch, dict):
            raise errors.bad_request("merge patch must be a JSON object")
        new = merge_patch(old, patch)
    else:
        new = strategic_merge(old, patch, ctx.schemas, ctx.schemas.named(rt.definition))
    if not isinstance(new, dict):
        raise errors.bad_request("the patched object is not a JSON object")
    return new


async def patch(
    ctx: ApiContext, rt: ResourceType, ns: str, name: str, *, sub: str, request: Request
) -> Reply:
    kind = request.content_type
    if kind not in PATCH_TYPES:
        raise K8sError(
            415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {kind}"
        )
    body = decode_body(request.body, "yaml" if kind.endswith("yaml") else "json")
    if kind == "application/apply-patch+yaml":
        return await _server_side_apply(ctx, rt, ns, name, sub=sub, body=body, request=request)
    warnings_before = len(request.warnings)

    def change(old: Obj) -> Obj:
        del request.warnings[warnings_before:]
        rv = (old.get("metadata") or {}).get("resourceVersion")
        new = _apply(ctx, rt, kind, old, body)
        meta = new.get("metadata")
        if isinstance(meta, dict) and meta.get("resourceVersion") == rv:
            meta.pop("resourceVersion", None)  # not a precondition unless the patch set it
        check_fields(ctx.schemas, rt, new, request)
        return new

    stored = await ctx.service.update(rt, ns, name, change, subresource=sub, dry_run=_dry_run(request))
    return _reply(request, 200, ctx.service.served(rt, stored.obj))


async def _server_side_apply(
    ctx: ApiContext, rt: ResourceType, ns: str, name: str, *, sub: str, body: Any, request: Request
) -> Reply:
    """Server-side apply, minimal: fieldManager required; creates when absent; otherwise the
    applied configuration is merged with strategic-merge semantics. Field ownership
    (managedFields, conflicts between managers, removal of fields a manager stops applying) is
    not tracked yet."""
    if not request.query.get("fieldManager"):
        raise errors.bad_request("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: "
                                 "is required for apply patch")  # fmt: skip
    if not isinstance(body, dict):
        raise errors.bad_request("apply patch must be an object")
    meta = body.get("metadata") or {}
    if meta.get("name") not in (None, name):
        raise errors.bad_request(
            f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})"
        )
    check_fields(ctx.schemas, rt, body, request)
    try:
        await ctx.service.get(rt, ns, name)
    except K8sError as missing:
        if missing.code != 404 or sub:
            raise
        body.setdefault("metadata", {})["name"] = name
        try:
            stored = await ctx.service.create(rt, ns, body, dry_run=_dry_run(request))
            return _reply(request, 201, ctx.service.served(rt, stored.obj))
        except K8sError as e:
            if e.reason != "AlreadyExists":
                raise

    def change(old: Obj) -> Obj:
        rv = (old.get("metadata") or {}).get("resourceVersion")
        new: Obj = strategic_merge(old, body, ctx.schemas, ctx.schemas.named(rt.definition))
        if (new.get("metadata") or {}).get("resourceVersion") == rv:
            new["metadata"].pop("resourceVersion", None)
        return new

    stored = await ctx.service.update(rt, ns, name, change, subresource=sub, dry_run=_dry_run(request))
    return _reply(request, 200, ctx.service.served(rt, stored.obj))


def _delete_options(request: Request) -> Obj:
    opts: Obj = {}
    if request.body.strip():
        parsed = decode_body(request.body, request.content_type)
        if parsed is not None and not isinstance(parsed, dict):
            raise errors.bad_request("DeleteOptions must be an object")
        opts = dict(parsed or {})
    if "propagationPolicy" in request.query:
        opts["propagationPolicy"] = request.query["propagationPolicy"]
    grace = request.int_param("gracePeriodSeconds")
    if grace is not None:
        opts["gracePeriodSeconds"] = grace
    if request.query.get("orphanDependents") == "true":
        opts.setdefault("propagationPolicy", "Orphan")
    if opts.get("orphanDependents") is True:
        opts.setdefault("propagationPolicy", "Orphan")
    policy = opts.get("propagationPolicy")
    if policy not in (None, "Background", "Foreground", "Orphan"):
        raise errors.invalid("DeleteOptions", "", [errors.Cause(
            "FieldValueNotSupported", f'Unsupported value: "{policy}"', "propagationPolicy")])  # fmt: skip
    return opts


async def delete(ctx: ApiContext, rt: ResourceType, ns: str, name: str, request: Request) -> Reply:
    opts = _delete_options(request)
    pre = opts.get("preconditions") or {}
    if _dry_run(request):
        found = await ctx.service.get(rt, ns, name)
        return _reply(request, 200, ctx.service.served(rt, found.obj))
    obj, gone = await ctx.service.delete(
        rt, ns, name,
        propagation=opts.get("propagationPolicy"), grace_seconds=opts.get("gracePeriodSeconds"),
        expect_rv=pre.get("resourceVersion"), expect_uid=pre.get("uid"),
    )  # fmt: skip
    # The API server answers 202 only for an object that outlives the call when the client
    # asked for cascading explicitly (orphanDependents=false); graceful deletes get 200.
    accepted = not gone and opts.get("orphanDependents") is False
    return _reply(request, 202 if accepted else 200, obj)


async def delete_collection(ctx: ApiContext, rt: ResourceType, ns: str | None, request: Request) -> Reply:
    opts = _delete_options(request)
    request.query.pop("limit", None)
    request.query.pop("continue", None)
    items, rv, _ = await collect(ctx, rt, ns, request)
    deleted = []
    for obj in items:
        meta = obj.get("metadata") or {}
        try:
            gone_obj, _gone = await ctx.service.delete(
                rt, str(meta.get("namespace") or ""), str(meta.get("name")),
                propagation=opts.get("propagationPolicy"), grace_seconds=opts.get("gracePeriodSeconds"),
            )  # fmt: skip
            deleted.append(gone_obj)
        except K8sError as e:
            if e.code != 404:
                raise
    return _reply(
        request,
        200,
        {
            "kind": rt.list_kind,
            "apiVersion": rt.api_version,
            "metadata": {"resourceVersion": str(rv)},
            "items": deleted,
        },
    )


def method_not_allowed(method: str) -> K8sError:
    return K8sError(
        405, "MethodNotAllowed", f"the server does not allow this method on the requested resource ({method})"
    )
