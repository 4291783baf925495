"""PutLogEvents and GetLogEvents over HTTP with boto3: batch rules, rejected events, tokens."""

from __future__ import annotations

from typing import Any

from tests.api.logs.support import expect_error, now_ms, unique

HOUR = 3_600_000
DAY = 24 * HOUR


def make_stream(logs: Any) -> str:
    group = unique()
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    return group


def put(logs: Any, group: str, events: list[tuple[int, str]], stream: str = "s") -> Any:
    return logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": t, "message": m} for t, m in events],
    )


def test_put_then_get_from_head_and_tail(logs: Any) -> None:
    group = make_stream(logs)
    t = now_ms() - 10_000
    first = put(
        logs,
        group,
        [(t + i, f"line {i}") for i in range(5)],
    )
    assert first["nextSequenceToken"] and "rejectedLogEventsInfo" not in first
    # Sequence tokens are ignored now: a stale or bogus one is accepted.
    put(logs, group, [(t + 5, "line 5")])
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        sequenceToken="bogus",
        logEvents=[{"timestamp": t + 6, "message": "line 6"}],
    )
    head = logs.get_log_events(logGroupName=group, logStreamName="s", startFromHead=True)
    assert [e["message"] for e in head["events"]] == [f"line {i}" for i in range(7)]
    assert head["events"][0]["timestamp"] == t and head["events"][0]["ingestionTime"] >= t
    tail = logs.get_log_events(logGroupName=group, logStreamName="s", limit=2)
    assert [e["message"] for e in tail["events"]] == ["line 5", "line 6"]
    [stream] = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert stream["firstEventTimestamp"] == t and stream["lastEventTimestamp"] == t + 6
    [g] = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert g["storedBytes"] == 7 * len("line 0")


def test_forward_and_backward_tokens_end_with_the_same_token(logs: Any) -> None:
    group = make_stream(logs)
    t = now_ms() - 60_000
    put(logs, group, [(t + i, f"m{i}") for i in range(25)])
    seen: list[str] = []
    token = None
    calls = 0
    while True:
        kwargs: dict[str, Any] = {
            "logGroupName": group,
            "logStreamName": "s",
            "startFromHead": True,
            "limit": 10,
        }
        if token:
            kwargs["nextToken"] = token
        page = logs.get_log_events(**kwargs)
        calls += 1
        seen += [e["message"] for e in page["events"]]
        if page["nextForwardToken"] == token:
            assert page["events"] == []
            break
        token = page["nextForwardToken"]
    assert seen == [f"m{i}" for i in range(25)] and calls == 4
    # New events appear behind the last forward token.
    put(logs, group, [(t + 30, "late")])
    more = logs.get_log_events(logGroupName=group, logStreamName="s", nextToken=token)
    assert [e["message"] for e in more["events"]] == ["late"]
    # Backward from the tail, page by page, to the head.
    back: list[str] = []
    page = logs.get_log_events(logGroupName=group, logStreamName="s", limit=10)
    back = [e["message"] for e in page["events"]] + back
    while True:
        token = page["nextBackwardToken"]
        page = logs.get_log_events(logGroupName=group, logStreamName="s", limit=10, nextToken=token)
        if page["nextBackwardToken"] == token:
            break
        back = [e["message"] for e in page["events"]] + back
    assert back == [f"m{i}" for i in range(25)] + ["late"]


def test_time_range_and_empty_streams(logs: Any) -> None:
    group = make_stream(logs)
    t = now_ms() - 60_000
    put(logs, group, [(t + i * 1000, f"s{i}") for i in range(10)])
    ranged = logs.get_log_events(
        logGroupName=group, logStreamName="s", startTime=t + 2000, endTime=t + 5000, startFromHead=True
    )
    assert [e["message"] for e in ranged["events"]] == ["s2", "s3", "s4"]  # endTime is exclusive
    logs.create_log_stream(logGroupName=group, logStreamName="empty")
    empty = logs.get_log_events(logGroupName=group, logStreamName="empty")
    assert empty["events"] == []
    again = logs.get_log_events(
        logGroupName=group, logStreamName="empty", nextToken=empty["nextForwardToken"]
    )
    assert again["nextForwardToken"] == empty["nextForwardToken"]
    put(logs, group, [(t, "now there is one")], stream="empty")
    after = logs.get_log_events(
        logGroupName=group, logStreamName="empty", nextToken=empty["nextForwardToken"]
    )
    assert [e["message"] for e in after["events"]] == ["now there is one"]
    expect_error(
        "InvalidParameterException",
        lambda: logs.get_log_events(logGroupName=group, logStreamName="s", nextToken="f/nope/s"),
        "The specified nextToken is invalid.",
    )


def test_too_old_too_new_and_expired_events_are_rejected_one_by_one(logs: Any) -> None:
    group = make_stream(logs)
    now = now_ms()
    result = put(
        logs,
        group,
        [(now - 15 * DAY, "too old"), (now - 20 * HOUR, "ok 1"), (now, "ok 2"), (now + 3 * HOUR, "too new")],
    )
    assert result["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 1, "tooNewLogEventStartIndex": 3}
    logs.put_retention_policy(logGroupName=group, retentionInDays=1)
    result = put(logs, group, [(now - 3 * DAY, "expired"), (now - 2 * DAY, "expired"), (now, "ok 3")])
    assert result["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 2}
    got = logs.get_log_events(logGroupName=group, logStreamName="s", startFromHead=True)
    assert [e["message"] for e in got["events"]] == ["ok 1", "ok 2", "ok 3"]


def test_batch_rules_fail_the_whole_call(logs: Any) -> None:
    group = make_stream(logs)
    now = now_ms()
    expect_error(
        "InvalidParameterException",
        lambda: put(logs, group, [(now, "b"), (now - 1, "a")]),
        "Log events in a single PutLogEvents request must be in chronological order.",
    )
    expect_error(
        "InvalidParameterException",
        lambda: put(logs, group, [(now - 2 * DAY, "a"), (now, "b")]),
        "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.",
    )
    big = "x" * 100_000
    expect_error(
        "InvalidParameterException",
        lambda: put(logs, group, [(now, big)] * 11),
        f"Upload too large: {11 * (100_000 + 26)} bytes exceeds limit of 1048576",
    )
    # Exactly at the limit is fine: 1,048,576 bytes including 26 per event.
    ok = put(logs, group, [(now, "y" * (1_048_576 - 26))])
    assert "rejectedLogEventsInfo" not in ok
    assert logs.get_log_events(logGroupName=group, logStreamName="s")["events"][0]["message"].startswith(
        "yyy"
    )
    expect_error(
        "ResourceNotFoundException",
        lambda: put(logs, group, [(now, "x")], stream="nope"),
        "The specified log stream does not exist.",
    )
    expect_error(
        "ResourceNotFoundException",
        lambda: put(logs, unique(), [(now, "x")]),
        "The specified log group does not exist.",
    )
    assert logs.get_log_events(logGroupName=group, logStreamName="s", startFromHead=True)["events"][0][
        "message"
    ].startswith("yyy")
