"""FilterLogEvents over HTTP with boto3: interleaving, stream selection, patterns, paging, and
the exact call sequence awscli v2's ``aws logs tail [--follow]`` makes."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from tests.api.logs.support import expect_error, now_ms, unique


def seeded_group(logs: Any) -> tuple[str, int]:
    group = unique()
    logs.create_log_group(logGroupName=group)
    t = now_ms() - 120_000
    lines = {
        "web-1": ['{"level": "error", "status": 503}', "INFO started", "ERROR disk full"],
        "web-2": ['{"level": "info", "status": 200}', "WARN slow request", "INFO done"],
        "db-1": ["ERROR timeout talking to db", "INFO checkpoint", '{"level": "error", "status": 500}'],
    }
    for n, (stream, messages) in enumerate(lines.items()):
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        logs.put_log_events(
            logGroupName=group,
            logStreamName=stream,
            logEvents=[{"timestamp": t + i * 10 + n, "message": m} for i, m in enumerate(messages)],
        )
    return group, t


def messages(page: dict[str, Any]) -> list[str]:
    return [e["message"] for e in page["events"]]


def test_events_from_all_streams_interleave_by_time(logs: Any) -> None:
    group, t = seeded_group(logs)
    page = logs.filter_log_events(logGroupName=group)
    assert [e["timestamp"] for e in page["events"]] == sorted(e["timestamp"] for e in page["events"])
    assert [e["logStreamName"] for e in page["events"][:3]] == ["web-1", "web-2", "db-1"]
    assert len({e["eventId"] for e in page["events"]}) == 9 and "nextToken" not in page
    assert {s["logStreamName"] for s in page["searchedLogStreams"]} == {"web-1", "web-2", "db-1"}
    assert all(s["searchedCompletely"] for s in page["searchedLogStreams"])
    again = logs.filter_log_events(logGroupName=group)
    assert [e["eventId"] for e in again["events"]] == [e["eventId"] for e in page["events"]]
    assert set(messages(logs.filter_log_events(logGroupName=group, logStreamNamePrefix="web-"))) == {
        '{"level": "error", "status": 503}', "INFO started", "ERROR disk full",
        '{"level": "info", "status": 200}', "WARN slow request", "INFO done",
    }  # fmt: skip
    only_db = logs.filter_log_events(logGroupName=group, logStreamNames=["db-1"])
    assert {e["logStreamName"] for e in only_db["events"]} == {"db-1"}
    window = logs.filter_log_events(logGroupName=group, startTime=t + 10, endTime=t + 20)
    assert messages(window) == ["INFO started", "WARN slow request", "INFO checkpoint", "ERROR disk full"]
    newest = logs.filter_log_events(logGroupName=group, startTime=t, startFromHead=False, limit=2)
    assert messages(newest) == ['{"level": "error", "status": 500}', "INFO done"]


def test_filter_patterns(logs: Any) -> None:
    group, _ = seeded_group(logs)

    def match(pattern: str) -> list[str]:
        return messages(logs.filter_log_events(logGroupName=group, filterPattern=pattern))

    assert match("ERROR") == ["ERROR timeout talking to db", "ERROR disk full"]
    assert match("ERROR -timeout") == ["ERROR disk full"]
    assert match('"slow request"') == ["WARN slow request"]
    assert match("?WARN ?timeout") == ["ERROR timeout talking to db", "WARN slow request"]
    assert match('{ $.level = "error" }') == [
        '{"level": "error", "status": 503}',
        '{"level": "error", "status": 500}',
    ]
    assert match("{ $.status >= 500 && $.status < 503 }") == ['{"level": "error", "status": 500}']
    assert match("%^INFO (started|done)$%") == ["INFO started", "INFO done"]
    assert match("") == messages(logs.filter_log_events(logGroupName=group))
    err = expect_error("InvalidParameterException", lambda: match("{ $.level = }"))
    assert err.response["Error"]["Message"].startswith("Invalid filter pattern")


def test_paging_and_errors(logs: Any) -> None:
    group, _t = seeded_group(logs)
    first = logs.filter_log_events(logGroupName=group, limit=4)
    assert len(first["events"]) == 4 and "nextToken" in first
    pages = logs.get_paginator("filter_log_events").paginate(
        logGroupName=group, PaginationConfig={"PageSize": 4}
    )
    all_ids = [e["eventId"] for p in pages for e in p["events"]]
    assert all_ids == [e["eventId"] for e in logs.filter_log_events(logGroupName=group)["events"]]
    expect_error(
        "InvalidParameterException",
        lambda: logs.filter_log_events(logGroupName=group, logStreamNames=["db-1"], logStreamNamePrefix="db"),
    )
    expect_error(
        "InvalidParameterException",
        lambda: logs.filter_log_events(logGroupName=group, nextToken="not-a-token"),
        "The specified nextToken is invalid.",
    )
    expect_error(
        "InvalidParameterException",
        lambda: logs.filter_log_events(logGroupName=group, startTime=1_600_000_000_000, startFromHead=False),
    )
    expect_error(
        "ResourceNotFoundException",
        lambda: logs.filter_log_events(logGroupName=unique()),
        "The specified log group does not exist.",
    )
    other, _ = seeded_group(logs)
    expect_error(
        "InvalidParameterException",
        lambda: logs.filter_log_events(logGroupName=other, nextToken=first["nextToken"]),
        "The specified nextToken is invalid.",
    )


def test_tail_call_sequence(logs: Any) -> None:
    """awscli v2's ``logs tail`` (awscli v1 has no such command): without --follow it pages
    ``filter_log_events(logGroupName, interleaved=True, startTime=now-10m)`` to the end; with
    --follow, when a response has no nextToken it polls again from the newest timestamp it saw,
    skipping event ids already printed at that timestamp. This drives the same calls."""
    group, _t = seeded_group(logs)
    kwargs: dict[str, Any] = {"logGroupName": group, "interleaved": True, "startTime": now_ms() - 600_000}
    pages = logs.get_paginator("filter_log_events").paginate(**kwargs)
    printed = [e["message"] for p in pages for e in p["events"]]
    assert len(printed) == 9

    seen: dict[int, set[str]] = defaultdict(set)
    out: list[str] = []

    def poll() -> None:
        while True:
            response = logs.filter_log_events(**kwargs)
            for event in response["events"]:
                if event["eventId"] not in seen[event["timestamp"]]:
                    seen[event["timestamp"]].add(event["eventId"])
                    out.append(event["message"])
            if seen:
                newest = max(seen)
                for stamp in [s for s in seen if s != newest]:
                    del seen[stamp]
            if "nextToken" in response:
                kwargs["nextToken"] = response["nextToken"]
                continue
            kwargs.pop("nextToken", None)
            if seen:
                kwargs["startTime"] = max(seen)
            return

    poll()
    assert out == printed
    poll()  # nothing new: nothing printed twice
    assert out == printed
    newest = max(seen)
    logs.put_log_events(
        logGroupName=group,
        logStreamName="web-2",
        logEvents=[
            {"timestamp": newest, "message": "same ms"},
            {"timestamp": newest + 5, "message": "later"},
        ],
    )
    poll()
    assert out[9:] == ["same ms", "later"]
