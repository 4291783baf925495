"""Log events: PutLogEvents, GetLogEvents (one stream, forward/backward tokens) and
FilterLogEvents (a whole group, interleaved, with filter patterns).

Token semantics follow CloudWatch Logs so its clients' loops end: GetLogEvents always returns
both tokens, and when nothing lies beyond a token it returns that same token again.
FilterLogEvents returns ``nextToken`` only while the scan has more to look at; ``aws logs tail
--follow`` then polls again from the newest timestamp it saw, dropping event ids it has printed.
"""

from __future__ import annotations

from stowage.api.aws.context import RequestContext
from stowage.api.aws.service import Params, Result
from stowage.api.logs import tokens
from stowage.api.logs.errors import invalid_parameter, invalid_token
from stowage.api.logs.handler import LogsHandler, millis
from stowage.api.logs.ingest import judge
from stowage.api.logs.names import owner, requested_group
from stowage.api.logs.shapes import sequence_token
from stowage.logstore import LogStore, PatternError, Position, StoredEvent, compile_pattern

MAX_PAGE_EVENTS = 10_000
MAX_PAGE_BYTES = 1_048_576
DESCENDING_MIN_START = 1_704_067_200_000
"""2024-01-01T00:00:00Z: FilterLogEvents reads newest-first only from startTime on or after it."""
FILTER_SCAN_BUDGET = 100_000
"""Events one FilterLogEvents call looks at before answering a partial page with a nextToken."""


async def put_log_events(logs: LogStore, ctx: RequestContext, params: Params) -> Result:
    group_name, stream_name = params["logGroupName"], params["logStreamName"]
    who = owner(ctx)
    group = await logs.get_group(who, group_name)
    now = millis(ctx)
    verdict = judge(params["logEvents"], now, group.retention_days)
    stream = await logs.put_events(who, group_name, stream_name, verdict.accepted, now)
    out: Result = {"nextSequenceToken": sequence_token(stream.upload_sequence + 1)}
    if verdict.rejected:
        out["rejectedLogEventsInfo"] = verdict.rejected
    return out


async def get_log_events(logs: LogStore, ctx: RequestContext, params: Params) -> Result:
    group = requested_group(ctx, params)
    stream = params["logStreamName"]
    start, end = params.get("startTime"), params.get("endTime")
    limit = int(params.get("limit") or MAX_PAGE_EVENTS)
    token = params.get("nextToken")
    cursor: Position | None = None
    if token is not None:
        forward, cursor = tokens.parse_stream_token(token)
    else:
        forward = bool(params.get("startFromHead", False))
    events = await logs.read_stream(
        owner(ctx),
        group,
        stream,
        start=start,
        end=end,
        cursor=cursor,
        forward=forward,
        limit=limit,
        max_bytes=MAX_PAGE_BYTES,
    )
    if events:
        fwd = tokens.stream_token(True, events[-1].position)
        bwd = tokens.stream_token(False, events[0].position)
    elif token is not None and cursor is not None:
        # Nothing beyond the token: hand the same token back (the caller's stop signal), and
        # for the other direction the same point seen from the other side.
        if forward:
            fwd = token
            bwd = tokens.stream_token(False, Position(cursor.timestamp, cursor.event_id + 1))
        else:
            bwd = token
            fwd = tokens.stream_token(True, Position(cursor.timestamp, cursor.event_id - 1))
    else:
        # An empty range: both tokens sit at its start, so a forward read later sees new events.
        origin = Position(start or 0, 0)
        fwd, bwd = tokens.stream_token(True, origin), tokens.stream_token(False, origin)
    return {
        "events": [
            {"timestamp": e.timestamp, "message": e.message, "ingestionTime": e.ingestion_time}
            for e in events
        ],
        "nextForwardToken": fwd,
        "nextBackwardToken": bwd,
    }


async def filter_log_events(logs: LogStore, ctx: RequestContext, params: Params) -> Result:
    group = requested_group(ctx, params)
    names = params.get("logStreamNames")
    prefix = params.get("logStreamNamePrefix")
    if names is not None and prefix is not None:
        raise invalid_parameter("logStreamNames and logStreamNamePrefix are mutually exclusive parameters.")
    start, end = params.get("startTime"), params.get("endTime")
    try:
        match = compile_pattern(params.get("filterPattern"))
    except PatternError as exc:
        raise invalid_parameter(f"Invalid filter pattern: {exc}") from None
    limit = int(params.get("limit") or MAX_PAGE_EVENTS)
    cursor: Position | None = None
    token = params.get("nextToken")
    if token is not None:
        state = tokens.decode("FilterLogEvents", token)
        ts, eid, fwd = state.get("ts"), state.get("id"), state.get("fwd")
        if not isinstance(ts, int) or not isinstance(eid, int) or not isinstance(fwd, bool):
            raise invalid_token()
        if state.get("group") != group:
            raise invalid_token()
        cursor, forward = Position(ts, eid), fwd
    else:
        forward = bool(params.get("startFromHead", True))
        if not forward and start is not None and start < DESCENDING_MIN_START:
            raise invalid_parameter(
                "startFromHead set to false is supported only when startTime is on or after Jan 1, 2024."
            )
    page = await logs.filter_events(
        owner(ctx),
        group,
        stream_names=names,
        stream_prefix=prefix,
        start=start,
        end=end + 1 if end is not None else None,  # FilterLogEvents' endTime is inclusive
        cursor=cursor,
        forward=forward,
        limit=limit,
        max_bytes=MAX_PAGE_BYTES,
        match=match,
        scan_budget=FILTER_SCAN_BUDGET,
    )
    out: Result = {
        "events": [_filtered(e) for e in page.events],
        "searchedLogStreams": [
            {"logStreamName": name, "searchedCompletely": not page.more}
            for name in sorted({e.stream for e in page.events})
        ],
    }
    if page.more and page.resume is not None:
        out["nextToken"] = tokens.encode(
            "FilterLogEvents",
            {"group": group, "ts": page.resume.timestamp, "id": page.resume.event_id, "fwd": forward},
        )
    return out


def _filtered(e: StoredEvent) -> dict[str, object]:
    return {
        "logStreamName": e.stream,
        "timestamp": e.timestamp,
        "message": e.message,
        "ingestionTime": e.ingestion_time,
        "eventId": f"{e.timestamp:020d}{e.event_id:020d}",
    }


HANDLERS: dict[str, LogsHandler] = {
    "PutLogEvents": put_log_events,
    "GetLogEvents": get_log_events,
    "FilterLogEvents": filter_log_events,
}
