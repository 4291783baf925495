"""Log streams: CreateLogStream, DeleteLogStream, DescribeLogStreams."""

from __future__ import annotations

from stowage.api.aws.context import RequestContext
from stowage.api.aws.service import Params, Result
from stowage.api.logs import tokens
from stowage.api.logs.errors import invalid_parameter, invalid_token
from stowage.api.logs.handler import LogsHandler, millis
from stowage.api.logs.names import owner, requested_group
from stowage.api.logs.shapes import log_stream
from stowage.logstore import LogStore


async def create_log_stream(logs: LogStore, ctx: RequestContext, params: Params) -> Result:
    await logs.create_stream(owner(ctx), params["logGroupName"], params["logStreamName"], millis(ctx))
    return {}


async def delete_log_stream(logs: LogStore, ctx: RequestContext, params: Params) -> Result:
    await logs.delete_stream(owner(ctx), params["logGroupName"], params["logStreamName"])
    return {}


async def describe_log_streams(logs: LogStore, ctx: RequestContext, params: Params) -> Result:
    group = requested_group(ctx, params)
    prefix = params.get("logStreamNamePrefix")
    by_last_event = params.get("orderBy") == "LastEventTime"
    if by_last_event and prefix is not None:
        raise invalid_parameter("Cannot order by LastEventTime with a logStreamNamePrefix.")
    descending = bool(params.get("descending", False))
    limit = int(params.get("limit") or 50)
    after = None
    if params.get("nextToken") is not None:
        state = tokens.decode("DescribeLogStreams", params["nextToken"])
        key, name = state.get("key"), state.get("name")
        if (
            not isinstance(key, int)
            or not isinstance(name, str)
            or state.get("by_last_event") != by_last_event
            or state.get("descending") != descending
        ):
            raise invalid_token()
        after = (key, name)
    found = await logs.list_streams(
        owner(ctx),
        group,
        prefix=prefix,
        by_last_event=by_last_event,
        descending=descending,
        after=after,
        limit=limit + 1,
    )
    out: Result = {"logStreams": [log_stream(ctx, group, s) for s in found[:limit]]}
    if len(found) > limit:
        last = found[limit - 1]
        out["nextToken"] = tokens.encode(
            "DescribeLogStreams",
            {
                "key": last.last_event_timestamp or 0,
                "name": last.name,
                "by_last_event": by_last_event,
                "descending": descending,
            },
        )
    return out


HANDLERS: dict[str, LogsHandler] = {
    "CreateLogStream": create_log_stream,
    "DeleteLogStream": delete_log_stream,
    "DescribeLogStreams": describe_log_streams,
}
