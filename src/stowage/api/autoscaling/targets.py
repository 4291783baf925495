"""Scalable targets: RegisterScalableTarget, DescribeScalableTargets, DeregisterScalableTarget,
and the tags of a target (TagResource, UntagResource, ListTagsForResource).

Registering an existing target updates what the request gives (min, max, role, each member of
SuspendedState); a change of min/max marks the target so the controller brings the service's
desired count within the new bounds on its next pass.
"""

from __future__ import annotations

from typing import Any

from stowage.api.autoscaling.common import (
    check_namespace,
    concurrent_update,
    decode_token,
    encode_token,
    limit_exceeded,
    max_results,
    not_found,
    target_ref,
    validation,
)
from stowage.api.aws.context import RequestContext
from stowage.api.aws.errors import AwsError
from stowage.api.aws.service import Params, Result
from stowage.model import autoscaling as model
from stowage.model import services as service_model
from stowage.resources.autoscaling import AutoscalingRecords, target_key
from stowage.resources.records import ContentionError, Doc, Record, RecordExists, Records
from stowage.resources.services import ServiceRecords

SUSPENDED = ("DynamicScalingInSuspended", "DynamicScalingOutSuspended", "ScheduledScalingSuspended")
DESCRIBE_MAX = 50


def _capacities(params: Params, current: Doc | None) -> tuple[int, int]:
    low, high = params.get("MinCapacity"), params.get("MaxCapacity")
    if current is None and (low is None or high is None):
        raise validation(
            "MinCapacity and MaxCapacity must be specified when registering a new scalable target"
        )
    for name, value in (("MinCapacity", low), ("MaxCapacity", high)):
        if value is not None and value < 0:
            raise validation(f"{name} must be greater than or equal to 0")
    low = int(low if low is not None else (current or {}).get("MinCapacity", 0))
    high = int(high if high is not None else (current or {}).get("MaxCapacity", 0))
    if low > high:
        raise validation(f"Minimum capacity ({low}) cannot be greater than maximum capacity ({high})")
    return low, high


def _suspended(params: Params, current: Doc | None) -> Doc:
    state = {m: False for m in SUSPENDED}
    state.update((current or {}).get("SuspendedState") or {})
    for member, value in (params.get("SuspendedState") or {}).items():
        if value is not None:
            state[member] = bool(value)
    return state


async def register_scalable_target(records: Records, ctx: RequestContext, params: Params) -> Result:
    namespace, resource_id, dimension = target_ref(params)
    ids = model.parse_service_id(resource_id)
    assert ids is not None
    service = await ServiceRecords(records).get(ctx.account_id, ctx.region, *ids)
    if service is None or service.doc.get("status") != service_model.ACTIVE:
        raise validation(f"ECS service doesn't exist: {resource_id}")
    store = AutoscalingRecords(records)
    key = target_key(ctx.account_id, ctx.region, namespace, resource_id, dimension)
    tags = dict(params.get("Tags") or {})
    if len(tags) > model.MAX_TAGS:
        raise AwsError("TooManyTagsException", f"A scalable target can have at most {model.MAX_TAGS} tags.")
    try:
        current = await store.get(key)
        if current is None:
            low, high = _capacities(params, None)
            if await store.count_targets(ctx.account_id, ctx.region, namespace) >= model.MAX_TARGETS:
                raise limit_exceeded(
                    f"You have reached the maximum number of scalable targets ({model.MAX_TARGETS}) "
                    f"for service namespace {namespace}"
                )
            target_id = model.new_target_id()
            doc: Doc = {
                "ServiceNamespace": namespace,
                "ResourceId": resource_id,
                "ScalableDimension": dimension,
                "MinCapacity": low,
                "MaxCapacity": high,
                "RoleARN": params.get("RoleARN") or model.service_role_arn(ctx.account_id),
                "CreationTime": ctx.now,
                "SuspendedState": _suspended(params, None),
                "ScalableTargetARN": model.target_arn(ctx.region, ctx.account_id, target_id),
                "_id": target_id,
                "_tags": tags,
                "_enforce": True,
            }
            try:
                rec = await store.create_target(key, doc)
                return {"ScalableTargetARN": rec.doc["ScalableTargetARN"]}
            except RecordExists:
                pass  # registered concurrently: this request updates it

        def change(doc: Doc) -> Doc:
            low, high = _capacities(params, doc)
            if (low, high) != (doc.get("MinCapacity"), doc.get("MaxCapacity")):
                doc["_enforce"] = True
            doc["MinCapacity"], doc["MaxCapacity"] = low, high
            doc["SuspendedState"] = _suspended(params, doc)
            if params.get("RoleARN"):
                doc["RoleARN"] = params["RoleARN"]
            return doc

        updated = await store.update(key, change)
    except ContentionError:
        raise concurrent_update() from None
    return {"ScalableTargetARN": updated.doc["ScalableTargetARN"]}


async def describe_scalable_targets(records: Records, ctx: RequestContext, params: Params) -> Result:
    namespace = check_namespace(params)
    limit = max_results(params, DESCRIBE_MAX)
    after = decode_token("DescribeScalableTargets", params.get("NextToken"))
    wanted = set(params.get("ResourceIds") or [])
    dimension = params.get("ScalableDimension")

    def keep(rec: Record) -> bool:
        return (not wanted or rec.doc["ResourceId"] in wanted) and (
            dimension is None or rec.doc["ScalableDimension"] == dimension
        )

    recs, more = await AutoscalingRecords(records).page_targets(
        ctx.account_id, ctx.region, namespace, after=after, limit=limit, keep=keep
    )
    out: Result = {"ScalableTargets": [model.render(r.doc) for r in recs]}
    if more is not None:
        out["NextToken"] = encode_token("DescribeScalableTargets", more)
    return out


async def deregister_scalable_target(records: Records, ctx: RequestContext, params: Params) -> Result:
    namespace, resource_id, dimension = target_ref(params)
    store = AutoscalingRecords(records)
    rec = await store.target(ctx.account_id, ctx.region, namespace, resource_id, dimension)
    if rec is None:
        raise not_found(model.target_missing(namespace, resource_id, dimension))
    await store.remove_target(rec)
    return {}


# -- tags -------------------------------------------------------------------------------------
async def _by_arn(records: Records, ctx: RequestContext, arn: str) -> Record:
    for rec in await AutoscalingRecords(records).targets(ctx.account_id, ctx.region):
        if rec.doc.get("ScalableTargetARN") == arn:
            return rec
    raise AwsError("ResourceNotFoundException", f"No scalable target found for ARN: {arn}")


async def tag_resource(records: Records, ctx: RequestContext, params: Params) -> Result:
    rec = await _by_arn(records, ctx, params["ResourceARN"])
    tags: dict[str, Any] = dict(params.get("Tags") or {})

    def change(doc: Doc) -> Doc:
        merged = {**(doc.get("_tags") or {}), **tags}
        if len(merged) > model.MAX_TAGS:
            raise AwsError(
                "TooManyTagsException", f"A scalable target can have at most {model.MAX_TAGS} tags."
            )
        doc["_tags"] = merged
        return doc

    await AutoscalingRecords(records).update(rec.key, change)
    return {}


async def untag_resource(records: Records, ctx: RequestContext, params: Params) -> Result:
    rec = await _by_arn(records, ctx, params["ResourceARN"])
    drop = set(params.get("TagKeys") or [])

    def change(doc: Doc) -> Doc:
        doc["_tags"] = {k: v for k, v in (doc.get("_tags") or {}).items() if k not in drop}
        return doc

    await AutoscalingRecords(records).update(rec.key, change)
    return {}


async def list_tags_for_resource(records: Records, ctx: RequestContext, params: Params) -> Result:
    rec = await _by_arn(records, ctx, params["ResourceARN"])
    return {"Tags": dict(rec.doc.get("_tags") or {})}
