"""Log streams over HTTP with boto3: create, describe (order, prefix, paging), delete."""

from __future__ import annotations

from typing import Any

from tests.api.logs.support import expect_error, now_ms, unique


def test_create_describe_and_delete_streams(logs: Any, account: str) -> None:
    group = unique()
    logs.create_log_group(logGroupName=group)
    for s in ("web/2", "web/1", "db/1"):
        logs.create_log_stream(logGroupName=group, logStreamName=s)
    expect_error(
        "ResourceAlreadyExistsException",
        lambda: logs.create_log_stream(logGroupName=group, logStreamName="web/1"),
        "The specified log stream already exists",
    )
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert [s["logStreamName"] for s in streams] == ["db/1", "web/1", "web/2"]
    s = streams[1]
    assert s["arn"] == f"arn:aws:logs:us-east-1:{account}:log-group:{group}:log-stream:web/1"
    assert s["storedBytes"] == 0 and "lastEventTimestamp" not in s and s["uploadSequenceToken"]
    web = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix="web/", descending=True)
    assert [s["logStreamName"] for s in web["logStreams"]] == ["web/2", "web/1"]
    arn = f"arn:aws:logs:us-east-1:{account}:log-group:{group}"
    by_arn = logs.describe_log_streams(logGroupIdentifier=arn)["logStreams"]
    assert len(by_arn) == 3
    logs.delete_log_stream(logGroupName=group, logStreamName="web/1")
    expect_error(
        "ResourceNotFoundException",
        lambda: logs.delete_log_stream(logGroupName=group, logStreamName="web/1"),
        "The specified log stream does not exist.",
    )
    assert [s["logStreamName"] for s in logs.describe_log_streams(logGroupName=group)["logStreams"]] == [
        "db/1",
        "web/2",
    ]


def test_order_by_last_event_time_and_paging(logs: Any) -> None:
    group = unique()
    logs.create_log_group(logGroupName=group)
    t = now_ms() - 60_000
    # Stream i gets its last event at t + (7 - i) seconds: name order is the reverse of time order.
    for i in range(6):
        name = f"s{i}"
        logs.create_log_stream(logGroupName=group, logStreamName=name)
        logs.put_log_events(
            logGroupName=group,
            logStreamName=name,
            logEvents=[
                {"timestamp": t, "message": "first"},
                {"timestamp": t + (7 - i) * 1000, "message": "last"},
            ],
        )
    newest = logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", descending=True, limit=4)
    assert [s["logStreamName"] for s in newest["logStreams"]] == ["s0", "s1", "s2", "s3"]
    assert newest["logStreams"][0]["firstEventTimestamp"] == t
    assert newest["logStreams"][0]["lastEventTimestamp"] == t + 7000
    rest = logs.describe_log_streams(
        logGroupName=group, orderBy="LastEventTime", descending=True, limit=4, nextToken=newest["nextToken"]
    )
    assert [s["logStreamName"] for s in rest["logStreams"]] == ["s4", "s5"] and "nextToken" not in rest
    paged = logs.get_paginator("describe_log_streams").paginate(
        logGroupName=group, orderBy="LastEventTime", PaginationConfig={"PageSize": 2}
    )
    assert [s["logStreamName"] for p in paged for s in p["logStreams"]] == [f"s{i}" for i in range(5, -1, -1)]
    by_name = logs.get_paginator("describe_log_streams").paginate(
        logGroupName=group, PaginationConfig={"PageSize": 5}
    )
    assert [s["logStreamName"] for p in by_name for s in p["logStreams"]] == [f"s{i}" for i in range(6)]
    expect_error(
        "InvalidParameterException",
        lambda: logs.describe_log_streams(
            logGroupName=group, orderBy="LastEventTime", logStreamNamePrefix="s"
        ),
        "Cannot order by LastEventTime with a logStreamNamePrefix.",
    )
    # A token from one ordering does not continue another.
    expect_error(
        "InvalidParameterException",
        lambda: logs.describe_log_streams(logGroupName=group, nextToken=newest["nextToken"]),
        "The specified nextToken is invalid.",
    )


def test_stream_errors_name_the_missing_thing(logs: Any) -> None:
    missing = unique()
    expect_error(
        "ResourceNotFoundException",
        lambda: logs.create_log_stream(logGroupName=missing, logStreamName="s"),
        "The specified log group does not exist.",
    )
    expect_error(
        "ResourceNotFoundException",
        lambda: logs.describe_log_streams(logGroupName=missing),
        "The specified log group does not exist.",
    )
    group = unique()
    logs.create_log_group(logGroupName=group)
    expect_error(
        "InvalidParameterException",
        lambda: logs.describe_log_streams(logGroupName=group, logGroupIdentifier=group),
        "LogGroup name and LogGroup ARN are mutually exclusive parameters.",
    )
    expect_error("InvalidParameterException", logs.describe_log_streams)
