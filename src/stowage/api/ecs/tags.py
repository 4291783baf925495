"""ECS tagging: TagResource, UntagResource, ListTagsForResource on clusters, task definitions
and capacity providers (and, once their records exist, services, tasks and container
instances).

Errors follow ECS: a malformed or foreign ARN is an InvalidParameterException, an unknown
cluster a ClusterNotFoundException, any other unknown resource a ResourceNotFoundException.
"""

from __future__ import annotations

from collections.abc import Callable

from stowage.api.aws.context import RequestContext
from stowage.api.aws.errors import AwsError
from stowage.api.aws.service import Params, Result
from stowage.api.ecs import errors
from stowage.api.ecs.handler import EcsHandler
from stowage.model import clusters as cluster_model
from stowage.model.arns import parse_arn
from stowage.model.capacity_providers import BUILTIN
from stowage.model.tags import Tag, check_tag_keys, check_tags, merge_tags, remove_tags
from stowage.model.validation import Invalid
from stowage.resources.records import Doc, RecordMissing, Records
from stowage.resources.tagging import Taggable, taggable


def _target(ctx: RequestContext, resource_arn: str) -> Taggable:
    arn = parse_arn(resource_arn)
    if arn is None or arn.service != "ecs":
        raise errors.invalid_parameter(f"The ARN '{resource_arn}' is not a valid Amazon ECS resource ARN.")
    if arn.account != ctx.account_id or arn.region != ctx.region:
        raise errors.invalid_parameter(
            f"The ARN '{resource_arn}' does not belong to account {ctx.account_id} in region {ctx.region}."
        )
    target = taggable(arn)
    if target is None:
        raise errors.invalid_parameter(f"The ARN '{resource_arn}' is not a valid Amazon ECS resource ARN.")
    if target.kind == "capacity-provider" and target.name in BUILTIN:
        raise errors.invalid_parameter(f"The {target.name} capacity provider cannot be tagged.")
    return target


def _not_found(target: Taggable) -> AwsError:
    if target.kind == "cluster":
        return errors.cluster_not_found()
    return errors.resource_not_found()


def _exists(target: Taggable, doc: Doc) -> bool:
    # A deleted (INACTIVE) cluster cannot be tagged; deregistered task definitions still can.
    return target.kind != "cluster" or cluster_model.is_active(doc)


async def _change_tags(records: Records, target: Taggable, change: Callable[[list[Tag]], list[Tag]]) -> None:
    if target.key is None:
        raise _not_found(target)

    def apply(doc: Doc) -> Doc:
        if not _exists(target, doc):
            raise _not_found(target)
        try:
            doc["tags"] = change(doc.get("tags", []))
        except Invalid as exc:
            raise errors.invalid_parameter(str(exc)) from None
        return doc

    try:
        await records.update(target.key, apply)
    except RecordMissing:
        raise _not_found(target) from None


async def tag_resource(records: Records, ctx: RequestContext, params: Params) -> Result:
    target = _target(ctx, params["resourceArn"])
    try:
        new = check_tags(params["tags"])
    except Invalid as exc:
        raise errors.invalid_parameter(str(exc)) from None
    await _change_tags(records, target, lambda tags: merge_tags(tags, new))
    return {}


async def untag_resource(records: Records, ctx: RequestContext, params: Params) -> Result:
    target = _target(ctx, params["resourceArn"])
    keys: list[str] = params["tagKeys"]
    try:
        check_tag_keys(keys)
    except Invalid as exc:
        raise errors.invalid_parameter(str(exc)) from None
    await _change_tags(records, target, lambda tags: remove_tags(tags, keys))
    return {}


async def list_tags_for_resource(records: Records, ctx: RequestContext, params: Params) -> Result:
    target = _target(ctx, params["resourceArn"])
    if target.key is None:
        raise _not_found(target)
    rec = await records.get(target.key)
    if rec is None or not _exists(target, rec.doc):
        raise _not_found(target)
    return {"tags": rec.doc.get("tags", [])}


HANDLERS: dict[str, EcsHandler] = {
    "TagResource": tag_resource,
    "UntagResource": untag_resource,
    "ListTagsForResource": list_tags_for_resource,
}
