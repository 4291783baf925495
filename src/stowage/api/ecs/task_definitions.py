"""ECS task-definition operations: RegisterTaskDefinition, DescribeTaskDefinition,
ListTaskDefinitions, ListTaskDefinitionFamilies, DeregisterTaskDefinition, DeleteTaskDefinitions.

Thin: ECS semantics are checked by ``model.task_definitions``, storage and revision numbering
are ``resources.task_definitions``; this module parses identifiers, maps model errors onto ECS
error types and shapes the answers.
"""

from __future__ import annotations

from stowage.api.aws.context import RequestContext
from stowage.api.aws.errors import AwsError
from stowage.api.aws.service import Params, Result
from stowage.api.ecs.errors import client_exception, invalid_parameter
from stowage.api.ecs.handler import EcsHandler
from stowage.api.ecs.pagination import decode_token, encode_token, page_size
from stowage.model import task_definitions as model
from stowage.model.arns import task_definition_arn
from stowage.model.task_definition_errors import TaskDefinitionInvalid
from stowage.resources.records import Doc, Records
from stowage.resources.task_definitions import Family, TaskDefinitionStore, public_view

LIST_PAGE_MAX = 100
MAX_DELETE = 10

NOT_DESCRIBABLE = "Unable to describe task definition."
NOT_FOUND = "The specified task definition does not exist."
DELETE_NOT_FOUND = (
    "The specified task definition does not exist. Specify a valid account, family, revision and try again."
)
DELETE_ACTIVE = (
    "The specified task definition is still in ACTIVE status. Please deregister the target and try again."
)
DELETE_BAD_ID = (
    "The specified task definition identifier is invalid. Specify a valid name or ARN and try again."
)


def _error(exc: TaskDefinitionInvalid) -> AwsError:
    return AwsError(exc.code, exc.message)


def _ref(ctx: RequestContext, text: str) -> model.TaskDefinitionRef | None:
    """The identifier if it names a task definition of the caller's account and region."""
    ref = model.parse_identifier(text)
    if ref is None:
        return None
    if ref.account is not None and (ref.account != ctx.account_id or ref.region != ctx.region):
        return None
    return ref


def _ordered(families: list[Family], statuses: tuple[str, ...], descending: bool) -> list[tuple[str, int]]:
    """(family, revision) pairs in ECS's list order: family name, then revision number."""
    out = [(f.name, r) for f in families for s in statuses for r in f.revisions[s]]
    out.sort(reverse=descending)
    return out


async def _resolve(store: TaskDefinitionStore, ctx: RequestContext, text: str) -> Doc | None:
    ref = _ref(ctx, text)
    if ref is None:
        return None
    if ref.revision is None:
        rec = await store.latest_active(ctx.account_id, ctx.region, ref.family)
    else:
        rec = await store.get(ctx.account_id, ctx.region, ref.family, ref.revision)
    return None if rec is None else rec.doc


async def register_task_definition(records: Records, ctx: RequestContext, params: Params) -> Result:
    store = TaskDefinitionStore(records)
    try:
        reg = model.normalize_registration(params)
    except TaskDefinitionInvalid as exc:
        raise _error(exc) from None

    def build(revision: int) -> Doc:
        doc: Doc = {
            "taskDefinitionArn": task_definition_arn(ctx.region, ctx.account_id, reg.family, revision),
            **reg.definition,
            "revision": revision,
            "status": "ACTIVE",
            "registeredAt": ctx.now,
            "registeredBy": ctx.principal_arn,
            "tags": reg.tags,
        }
        return doc

    rec = await store.register(ctx.account_id, ctx.region, reg.family, build)
    result: Result = {"taskDefinition": public_view(rec.doc)}
    if reg.tags:
        result["tags"] = reg.tags
    return result


async def describe_task_definition(records: Records, ctx: RequestContext, params: Params) -> Result:
    store = TaskDefinitionStore(records)
    doc = await _resolve(store, ctx, params["taskDefinition"])
    if doc is None:
        raise client_exception(NOT_DESCRIBABLE)
    result: Result = {"taskDefinition": public_view(doc)}
    if "TAGS" in (params.get("include") or []):
        result["tags"] = doc.get("tags", [])
    return result


async def list_task_definitions(records: Records, ctx: RequestContext, params: Params) -> Result:
    store = TaskDefinitionStore(records)
    status = params.get("status") or "ACTIVE"
    if status not in ("ACTIVE", "INACTIVE", "DELETE_IN_PROGRESS"):
        raise invalid_parameter(f"Invalid status '{status}'.")
    descending = (params.get("sort") or "ASC") == "DESC"
    limit = page_size(params.get("maxResults"), default=LIST_PAGE_MAX, maximum=LIST_PAGE_MAX)
    after = decode_token("ListTaskDefinitions", params.get("nextToken"))
    prefix = params.get("familyPrefix") or ""
    if prefix and not model.FAMILY_PATTERN.match(prefix):
        return {"taskDefinitionArns": []}
    families = await store.families(ctx.account_id, ctx.region, prefix)
    pairs = _ordered(families, (status,), descending)
    if after is not None:
        family, _, rev = after.rpartition(":")
        if not rev.isdigit():
            raise invalid_parameter("Invalid nextToken value.")
        mark = (family, int(rev))
        pairs = [p for p in pairs if (p < mark if descending else p > mark)]
    page = pairs[:limit]
    result: Result = {
        "taskDefinitionArns": [task_definition_arn(ctx.region, ctx.account_id, f, r) for f, r in page]
    }
    if len(pairs) > limit:
        last = page[-1]
        result["nextToken"] = encode_token("ListTaskDefinitions", f"{last[0]}:{last[1]}")
    return result


async def list_task_definition_families(records: Records, ctx: RequestContext, params: Params) -> Result:
    store = TaskDefinitionStore(records)
    status = params.get("status") or "ALL"
    limit = page_size(params.get("maxResults"), default=LIST_PAGE_MAX, maximum=LIST_PAGE_MAX)
    after = decode_token("ListTaskDefinitionFamilies", params.get("nextToken"))
    prefix = params.get("familyPrefix") or ""
    if prefix and not model.FAMILY_PATTERN.match(prefix):
        return {"families": []}
    names: list[str] = []
    for fam in await store.families(ctx.account_id, ctx.region, prefix):
        active = bool(fam.revisions["ACTIVE"])
        inactive = bool(fam.revisions["INACTIVE"] or fam.revisions["DELETE_IN_PROGRESS"])
        # ECS: ACTIVE = has an ACTIVE revision; INACTIVE = has revisions, none ACTIVE.
        keep = {"ACTIVE": active, "INACTIVE": inactive and not active, "ALL": active or inactive}
        if keep.get(status, False) and (after is None or fam.name > after):
            names.append(fam.name)
    result: Result = {"families": names[:limit]}
    if len(names) > limit:
        result["nextToken"] = encode_token("ListTaskDefinitionFamilies", names[limit - 1])
    return result


async def deregister_task_definition(records: Records, ctx: RequestContext, params: Params) -> Result:
    store = TaskDefinitionStore(records)
    ref = _ref(ctx, params["taskDefinition"])
    if ref is None:
        raise client_exception(NOT_FOUND)
    if ref.revision is None:
        raise client_exception("A task definition revision must be specified to deregister it.")

    def deregister(doc: Doc) -> Doc | None:
        if doc["status"] != "ACTIVE":
            return None  # deregistering again is a no-op, as in ECS
        doc["status"] = "INACTIVE"
        doc["deregisteredAt"] = ctx.now
        return doc

    rec = await store.change(ctx.account_id, ctx.region, ref.family, ref.revision, deregister)
    if rec is None:
        raise client_exception(NOT_FOUND)
    return {"taskDefinition": public_view(rec.doc)}


async def delete_task_definitions(records: Records, ctx: RequestContext, params: Params) -> Result:
    store = TaskDefinitionStore(records)
    ids: list[str] = params["taskDefinitions"]
    if not ids:
        raise invalid_parameter("taskDefinitions must contain at least one task definition.")
    if len(ids) > MAX_DELETE:
        raise invalid_parameter(f"A maximum of {MAX_DELETE} task definitions can be deleted in one request.")
    deleted: list[Doc] = []
    failures: list[Doc] = []
    for text in ids:
        ref = _ref(ctx, text)
        if ref is None or ref.revision is None:
            failures.append({"arn": text, "reason": DELETE_BAD_ID})
            continue
        was_active = False

        def delete(doc: Doc) -> Doc | None:
            nonlocal was_active
            if doc["status"] == "ACTIVE":
                was_active = True
                return None
            if doc["status"] == "DELETE_IN_PROGRESS":
                return None
            doc["status"] = "DELETE_IN_PROGRESS"
            doc["deleteRequestedAt"] = ctx.now
            return doc

        rec = await store.change(ctx.account_id, ctx.region, ref.family, ref.revision, delete)
        if rec is None:
            failures.append({"arn": text, "reason": DELETE_NOT_FOUND})
        elif was_active:
            failures.append({"arn": rec.doc["taskDefinitionArn"], "reason": DELETE_ACTIVE})
        else:
            deleted.append(public_view(rec.doc))
    return {"taskDefinitions": deleted, "failures": failures}


HANDLERS: dict[str, EcsHandler] = {
    "RegisterTaskDefinition": register_task_definition,
    "DescribeTaskDefinition": describe_task_definition,
    "ListTaskDefinitions": list_task_definitions,
    "ListTaskDefinitionFamilies": list_task_definition_families,
    "DeregisterTaskDefinition": deregister_task_definition,
    "DeleteTaskDefinitions": delete_task_definitions,
}
