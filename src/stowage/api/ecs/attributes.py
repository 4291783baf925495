"""ECS custom attributes: PutAttributes, DeleteAttributes, ListAttributes.

Targets are container instances of the request's cluster (``default`` when absent); a target
that is not registered is a TargetNotFoundException, as in ECS.
"""

from __future__ import annotations

from typing import Any

from stowage.api.aws.context import RequestContext
from stowage.api.aws.service import Params, Result
from stowage.api.ecs import errors
from stowage.api.ecs.clusters import active_cluster
from stowage.api.ecs.handler import EcsHandler
from stowage.api.ecs.pagination import decode_token, encode_token, page_size
from stowage.api.ecs.plane import PlaneHandler
from stowage.controllers.task_plane import TaskPlane
from stowage.model import attributes as model
from stowage.model.arns import container_instance_arn
from stowage.model.validation import Invalid
from stowage.resources.attributes import AttributeRecords
from stowage.resources.records import Records


async def _resolve(
    records: Records, ctx: RequestContext, params: Params
) -> tuple[str, list[tuple[dict[str, Any], str]]]:
    """The cluster name and each attribute with its target's instance id; every target checked."""
    cluster = (await active_cluster(records, ctx, params.get("cluster")))["clusterName"]
    attrs: list[dict[str, Any]] = params["attributes"]
    if not attrs:
        raise errors.invalid_parameter("attributes must contain at least one attribute.")
    if len(attrs) > model.MAX_PER_CALL:
        raise errors.invalid_parameter(
            f"You can specify up to {model.MAX_PER_CALL} attributes in a single call."
        )
    store = AttributeRecords(records)
    out: list[tuple[dict[str, Any], str]] = []
    for attr in attrs:
        try:
            model.check_attribute(attr)
            if not attr.get("targetId"):
                raise Invalid(f"Attribute '{attr.get('name')}' must specify a targetId.")
            target = model.parse_target(attr["targetId"], ctx.account_id, ctx.region)
        except Invalid as exc:
            raise errors.invalid_parameter(str(exc)) from None
        if (target.cluster is not None and target.cluster != cluster) or not await store.target_exists(
            ctx.account_id, ctx.region, cluster, target.instance_id
        ):
            raise errors.target_not_found(f"Could not find {attr['targetId']}.")
        out.append((attr, target.instance_id))
    return cluster, out


async def put_attributes(records: Records, ctx: RequestContext, params: Params) -> Result:
    cluster, attrs = await _resolve(records, ctx, params)
    store = AttributeRecords(records)
    # The per-resource limit counts what the target has plus the new names it gains.
    by_target: dict[str, set[str]] = {}
    for attr, instance_id in attrs:
        by_target.setdefault(instance_id, set()).add(attr["name"])
    for instance_id, names in by_target.items():
        existing = await store.names(ctx.account_id, ctx.region, cluster, instance_id)
        if len(existing | names) > model.MAX_PER_TARGET:
            raise errors.attribute_limit_exceeded(
                f"You can apply up to {model.MAX_PER_TARGET} custom attributes to each resource."
            )
    for attr, instance_id in attrs:
        doc: dict[str, Any] = {
            "name": attr["name"],
            "targetType": model.TARGET_TYPE,
            "targetId": container_instance_arn(ctx.region, ctx.account_id, cluster, instance_id),
        }
        if attr.get("value") is not None:
            doc["value"] = attr["value"]
        await store.put(ctx.account_id, ctx.region, cluster, instance_id, doc)
    return {"attributes": params["attributes"]}


async def delete_attributes(records: Records, ctx: RequestContext, params: Params) -> Result:
    cluster, attrs = await _resolve(records, ctx, params)
    store = AttributeRecords(records)
    for attr, instance_id in attrs:
        await store.delete(ctx.account_id, ctx.region, cluster, instance_id, attr["name"])
    return {"attributes": params["attributes"]}


async def list_attributes(records: Records, ctx: RequestContext, params: Params) -> Result:
    if params["targetType"] != model.TARGET_TYPE:
        raise errors.invalid_parameter(f"Invalid targetType. Valid values: {model.TARGET_TYPE}.")
    name, value = params.get("attributeName"), params.get("attributeValue")
    if value is not None and name is None:
        raise errors.invalid_parameter("attributeValue can only be specified together with attributeName.")
    cluster = (await active_cluster(records, ctx, params.get("cluster")))["clusterName"]
    limit = page_size(params.get("maxResults"), default=model.MAX_LIST_PAGE, maximum=model.MAX_LIST_PAGE)
    after = decode_token("ListAttributes", params.get("nextToken"))
    docs, nxt = await AttributeRecords(records).page(
        ctx.account_id, ctx.region, cluster, name=name, value=value, after=after, limit=limit
    )
    result: Result = {"attributes": docs}
    if nxt is not None:
        result["nextToken"] = encode_token("ListAttributes", nxt)
    return result


async def _indexed(plane: TaskPlane, ctx: RequestContext, params: Params, handler: EcsHandler) -> Result:
    """``handler``, answering once the task index has seen its writes: placement reads custom
    attributes again only when the index tells it they changed (``controllers.placement``), so
    a RunTask right after PutAttributes sees the new attributes."""
    result = await handler(plane.records, ctx, params)
    await plane.written(await plane.records.store.revision())
    return result


async def put_attributes_indexed(plane: TaskPlane, ctx: RequestContext, params: Params) -> Result:
    return await _indexed(plane, ctx, params, put_attributes)


async def delete_attributes_indexed(plane: TaskPlane, ctx: RequestContext, params: Params) -> Result:
    return await _indexed(plane, ctx, params, delete_attributes)


PLANE_HANDLERS: dict[str, PlaneHandler] = {
    "PutAttributes": put_attributes_indexed,
    "DeleteAttributes": delete_attributes_indexed,
}
"""Laid over ``HANDLERS`` when the server has a task plane."""

HANDLERS: dict[str, EcsHandler] = {
    "PutAttributes": put_attributes,
    "DeleteAttributes": delete_attributes,
    "ListAttributes": list_attributes,
}
