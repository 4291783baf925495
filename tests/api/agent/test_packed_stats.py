"""ReportStats in the compact form (``packedSamples``, ``model/agent_stats``): the same samples
as the JSON form, round trip and over real HTTP into the metrics pipeline (read back with
GetTaskMetrics), and malformed batches answered with InvalidParameterException."""

from __future__ import annotations

import base64
import math
import struct
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from stowage.model.agent_stats import RECORD, VERSION, from_samples, unpack
from tests.api.ecs.task_support import agent_client, code, make_cluster, register_instance, register_td
from tests.support.server import ServerProcess
from tests.support.usage_client import usage_client

SAMPLE = {
    "task": "arn:aws:ecs:us-east-1:123456789012:task/c/0123",
    "containerName": "app",
    "timestamp": 1_800_000_000.25,
    "cpuUsageNanos": 5_000_000_000,
    "memoryUsageBytes": 48 * 2**20,
    "memoryLimitBytes": 2**30,
    "memoryRssBytes": 40 * 2**20,
    "memoryCacheBytes": 1024,
    "networkRxBytes": 10,
    "networkTxBytes": 20,
    "blockReadBytes": 30,
    "blockWriteBytes": 40,
    "onlineCpus": 8,
    "pids": 3,
}


def test_the_compact_form_round_trips() -> None:
    samples = [SAMPLE, {**SAMPLE, "containerName": "side", "cpuPercentOfHost": 12.5}]
    params = from_samples(samples).to_params()
    assert len(base64.b64decode(params["records"])) == 2 * RECORD.size == 196
    back = unpack({**params, "records": base64.b64decode(params["records"])})
    assert back.tasks == [SAMPLE["task"]] and back.containers == ["app", "side"]
    assert back.as_samples() == samples


@pytest.fixture(scope="module")
def agent(server: ServerProcess) -> Any:
    return agent_client(server)


def test_packed_samples_reach_the_metrics_pipeline(server: ServerProcess, ecs: Any, agent: Any) -> None:
    cluster = make_cluster(ecs)
    ci = register_instance(ecs, cluster)
    task = ecs.run_task(cluster=cluster, taskDefinition=register_td(ecs)["family"])["tasks"][0]
    now = time.time()
    first = {**SAMPLE, "task": task["taskArn"], "timestamp": now - 10, "cpuUsageNanos": 10**9}
    second = {**first, "timestamp": now, "cpuUsageNanos": 6 * 10**9}  # half a core over 10 s
    for sample in (first, second):
        packed = from_samples([sample]).to_params()
        packed["records"] = base64.b64decode(packed["records"])  # botocore encodes blobs itself
        agent.report_stats(
            cluster=cluster, containerInstance=ci["containerInstanceArn"], packedSamples=packed
        )
    usage = usage_client(server.endpoint)
    deadline = time.monotonic() + 10
    while True:
        rows = usage.get_task_metrics(cluster=cluster)["rows"]
        if rows and "cpuUsedUnits" in rows[0]:
            break
        assert time.monotonic() < deadline, rows
        time.sleep(0.2)
    assert rows[0]["cpuUsedUnits"] == pytest.approx(512.0)
    assert rows[0]["memoryUsedBytes"] == 48 * 2**20


def _bad(agent: Any, ci: dict[str, Any], cluster: str, **members: Any) -> str:
    with pytest.raises(ClientError) as exc:
        agent.report_stats(cluster=cluster, containerInstance=ci["containerInstanceArn"], **members)
    return (
        str(exc.value.response["Error"]["Message"]) if code(exc) == "InvalidParameterException" else code(exc)
    )


def test_malformed_batches_are_refused(ecs: Any, agent: Any) -> None:
    cluster = make_cluster(ecs)
    ci = register_instance(ecs, cluster)
    good = from_samples([SAMPLE]).to_params()
    records = base64.b64decode(good["records"])
    cases = {
        "version": {**good, "version": VERSION + 1, "records": records},
        "whole number": {**good, "records": records[:-1]},
        "task index": {**good, "tasks": [], "records": records},
        "container index": {**good, "containers": [], "records": records},
        "finite": {
            **good,
            "records": RECORD.pack(0, 0, math.nan, *([0] * 9), 0.0, 0, 0),
        },
    }
    for expected, packed in cases.items():
        assert expected in _bad(agent, ci, cluster, packedSamples=packed), expected
    both = {"packedSamples": {**good, "records": records}, "samples": [SAMPLE]}
    assert "Exactly one" in _bad(agent, ci, cluster, **both)
    assert "Exactly one" in _bad(agent, ci, cluster)
    assert struct.calcsize(RECORD.format) == 98
