"""EKS tagging: TagResource, UntagResource, ListTagsForResource on clusters, node groups, Fargate
profiles and access entries, found by ARN. These three answer ``BadRequestException`` and
``NotFoundException`` (not the InvalidParameter/ResourceNotFound of the other operations), as
the EKS model declares."""

from __future__ import annotations

from stowage.api.aws.context import RequestContext
from stowage.api.aws.service import Params, Result
from stowage.api.eks import errors
from stowage.api.eks.common import EksPlane
from stowage.model.arns import parse_arn
from stowage.resources import eks as keys
from stowage.resources.records import Doc, Record, RecordMissing

MAX_TAGS = 50
_FAMILIES = {"nodegroup": keys.NODEGROUPS, "fargateprofile": keys.FARGATE, "access-entry": keys.ACCESS}


async def _tagged(plane: EksPlane, ctx: RequestContext, arn: str) -> Record:
    parsed = parse_arn(arn)
    if parsed is None or parsed.service != "eks":
        raise errors.bad_request(f"{arn} is not a valid resource ARN")
    if (parsed.account, parsed.region) != (ctx.account_id, ctx.region):
        raise errors.tag_target_not_found(arn)
    kind = parsed.resource_type
    rest = parsed.resource_id.split("/")
    rec: Record | None = None
    if kind == "cluster" and len(rest) == 1:
        rec = await plane.eks.cluster(ctx.account_id, ctx.region, rest[0])
    elif kind in _FAMILIES and len(rest) >= 2:
        family = _FAMILIES[kind]
        if family == keys.ACCESS:
            found = await plane.eks.children(ctx.account_id, ctx.region, family, rest[0])
            rec = next((r for r in found if r.doc.get("accessEntryArn") == arn), None)
        else:
            rec = await plane.eks.child(ctx.account_id, ctx.region, family, rest[0], rest[1])
    else:
        raise errors.bad_request(f"{arn} is not a taggable EKS resource ARN")
    if rec is None or _arn_of(rec.doc) != arn:
        raise errors.tag_target_not_found(arn)
    return rec


def _arn_of(doc: Doc) -> str | None:
    for member in ("arn", "nodegroupArn", "fargateProfileArn", "accessEntryArn"):
        if member in doc:
            return str(doc[member])
    return None


async def tag_resource(plane: EksPlane, ctx: RequestContext, params: Params) -> Result:
    arn = str(params["resourceArn"])
    rec = await _tagged(plane, ctx, arn)
    new = dict(params["tags"])
    reserved = [k for k in new if k.lower().startswith("aws:")]
    if reserved:
        raise errors.bad_request(f"Tag keys prefixed with aws: are reserved: {', '.join(reserved)}")

    def change(doc: Doc) -> Doc:
        tags = {**(doc.get("tags") or {}), **new}
        if len(tags) > MAX_TAGS:
            raise errors.bad_request(f"A resource can have at most {MAX_TAGS} tags")
        doc["tags"] = tags
        return doc

    try:
        await plane.records.update(rec.key, change)
    except RecordMissing:
        raise errors.tag_target_not_found(arn) from None
    return {}


async def untag_resource(plane: EksPlane, ctx: RequestContext, params: Params) -> Result:
    arn = str(params["resourceArn"])
    rec = await _tagged(plane, ctx, arn)
    gone = set(params["tagKeys"])

    def change(doc: Doc) -> Doc:
        doc["tags"] = {k: v for k, v in (doc.get("tags") or {}).items() if k not in gone}
        return doc

    try:
        await plane.records.update(rec.key, change)
    except RecordMissing:
        raise errors.tag_target_not_found(arn) from None
    return {}


async def list_tags_for_resource(plane: EksPlane, ctx: RequestContext, params: Params) -> Result:
    rec = await _tagged(plane, ctx, str(params["resourceArn"]))
    return {"tags": dict(rec.doc.get("tags") or {})}
