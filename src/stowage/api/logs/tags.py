"""Log group tags: TagResource / UntagResource / ListTagsForResource (by ARN) and the older
TagLogGroup / UntagLogGroup / ListTagsLogGroup (by name), over one tag map per group."""

from __future__ import annotations

from stowage.api.aws.context import RequestContext
from stowage.api.aws.service import Params, Result
from stowage.api.logs.errors import invalid_parameter, too_many_tags
from stowage.api.logs.groups import MAX_TAGS
from stowage.api.logs.handler import LogsHandler
from stowage.api.logs.names import group_from_arn, owner
from stowage.logstore import LogStore


async def _add(logs: LogStore, ctx: RequestContext, name: str, new: dict[str, str], *, legacy: bool) -> None:
    group = await logs.get_group(owner(ctx), name)
    tags = {**group.tags, **new}
    if len(tags) > MAX_TAGS:
        # The old TagLogGroup has no TooManyTagsException in its model.
        raise invalid_parameter("A resource can have no more than 50 tags.") if legacy else too_many_tags()
    await logs.set_tags(owner(ctx), name, tags)


async def _remove(logs: LogStore, ctx: RequestContext, name: str, keys: list[str]) -> None:
    group = await logs.get_group(owner(ctx), name)
    await logs.set_tags(owner(ctx), name, {k: v for k, v in group.tags.items() if k not in set(keys)})


async def tag_resource(logs: LogStore, ctx: RequestContext, params: Params) -> Result:
    await _add(logs, ctx, group_from_arn(ctx, params["resourceArn"]), dict(params["tags"]), legacy=False)
    return {}


async def untag_resource(logs: LogStore, ctx: RequestContext, params: Params) -> Result:
    await _remove(logs, ctx, group_from_arn(ctx, params["resourceArn"]), list(params["tagKeys"]))
    return {}


async def list_tags_for_resource(logs: LogStore, ctx: RequestContext, params: Params) -> Result:
    group = await logs.get_group(owner(ctx), group_from_arn(ctx, params["resourceArn"]))
    return {"tags": group.tags}


async def tag_log_group(logs: LogStore, ctx: RequestContext, params: Params) -> Result:
    await _add(logs, ctx, params["logGroupName"], dict(params["tags"]), legacy=True)
    return {}


async def untag_log_group(logs: LogStore, ctx: RequestContext, params: Params) -> Result:
    await _remove(logs, ctx, params["logGroupName"], list(params["tags"]))
    return {}


async def list_tags_log_group(logs: LogStore, ctx: RequestContext, params: Params) -> Result:
    group = await logs.get_group(owner(ctx), params["logGroupName"])
    return {"tags": group.tags}


HANDLERS: dict[str, LogsHandler] = {
    "TagResource": tag_resource,
    "UntagResource": untag_resource,
    "ListTagsForResource": list_tags_for_resource,
    "TagLogGroup": tag_log_group,
    "UntagLogGroup": untag_log_group,
    "ListTagsLogGroup": list_tags_log_group,
}
