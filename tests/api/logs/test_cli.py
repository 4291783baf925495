"""The real AWS CLI against the CloudWatch Logs API: the commands a user types."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.api.logs.conftest import Endpoint
from tests.api.logs.support import now_ms, unique


def test_cli_round_trip(endpoint: Endpoint) -> None:
    group = unique()
    endpoint.aws("logs", "create-log-group", "--log-group-name", group)
    endpoint.aws("logs", "create-log-stream", "--log-group-name", group, "--log-stream-name", "app")
    t = now_ms()
    events = json.dumps([{"timestamp": t + i, "message": f"hello {i}"} for i in range(3)])
    put = endpoint.aws_json(
        "logs",
        "put-log-events",
        "--log-group-name",
        group,
        "--log-stream-name",
        "app",
        "--log-events",
        events,
    )
    assert put["nextSequenceToken"]
    got = endpoint.aws_json(
        "logs", "get-log-events", "--log-group-name", group, "--log-stream-name", "app", "--start-from-head"
    )
    assert [e["message"] for e in got["events"]] == ["hello 0", "hello 1", "hello 2"]
    assert got["nextForwardToken"].startswith("f/") and got["nextBackwardToken"].startswith("b/")
    text = endpoint.aws(
        "logs", "get-log-events", "--log-group-name", group, "--log-stream-name", "app", "--output", "text",
        "--query", "events[].message",
    ).stdout  # fmt: skip
    assert text.split() == ["hello", "0", "hello", "1", "hello", "2"]
    filtered = endpoint.aws_json(
        "logs", "filter-log-events", "--log-group-name", group, "--filter-pattern", "?0 ?2"
    )
    assert [e["message"] for e in filtered["events"]] == ["hello 0", "hello 2"]
    groups = endpoint.aws_json("logs", "describe-log-groups", "--log-group-name-prefix", group)
    assert [g["logGroupName"] for g in groups["logGroups"]] == [group]
    endpoint.aws("logs", "put-retention-policy", "--log-group-name", group, "--retention-in-days", "7")
    streams = endpoint.aws_json("logs", "describe-log-streams", "--log-group-name", group)
    assert streams["logStreams"][0]["lastEventTimestamp"] == t + 2
    endpoint.aws("logs", "delete-log-group", "--log-group-name", group)
    missing = endpoint.aws("logs", "delete-log-group", "--log-group-name", group, check=False)
    assert missing.returncode != 0
    assert (
        "An error occurred (ResourceNotFoundException) when calling the DeleteLogGroup operation: "
        "The specified log group does not exist." in missing.stderr
    )


def _has_tail(endpoint: Endpoint) -> bool:
    return endpoint.aws("logs", "tail", "help", check=False).returncode == 0


def test_cli_logs_tail(endpoint: Endpoint) -> None:
    if not _has_tail(endpoint):
        pytest.skip("this AWS CLI (v1) has no `logs tail`; test_filter drives its exact call sequence")
    group = unique()
    endpoint.aws("logs", "create-log-group", "--log-group-name", group)
    endpoint.aws("logs", "create-log-stream", "--log-group-name", group, "--log-stream-name", "app")
    t = now_ms()
    events = json.dumps([{"timestamp": t + i, "message": f"tail line {i}"} for i in range(3)])
    endpoint.aws(
        "logs",
        "put-log-events",
        "--log-group-name",
        group,
        "--log-stream-name",
        "app",
        "--log-events",
        events,
    )
    out = endpoint.aws("logs", "tail", group).stdout
    assert [line.split(" ", 2)[2] for line in out.splitlines()] == [f"tail line {i}" for i in range(3)]
    follow = subprocess.Popen(
        [sys.executable, "-m", "awscli", "logs", "tail", group, "--follow"],
        env=endpoint.env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert follow.stdout is not None
        lines = [follow.stdout.readline() for _ in range(3)]
        assert [line.rstrip("\n").split(" ", 2)[2] for line in lines] == [f"tail line {i}" for i in range(3)]
        late = json.dumps([{"timestamp": now_ms(), "message": "followed"}])
        endpoint.aws(
            "logs",
            "put-log-events",
            "--log-group-name",
            group,
            "--log-stream-name",
            "app",
            "--log-events",
            late,
        )
        deadline = time.monotonic() + 30
        line = follow.stdout.readline()
        assert time.monotonic() < deadline and line.rstrip("\n").endswith("followed")
    finally:
        follow.kill()
        follow.wait()
