"""GetTaskMetrics and GET /metrics over real HTTP against a real server, fed by simulated hosts
(the real agent over the simulated engine, reporting stats every second). Bad input gets the
model's errors; /metrics answers loopback clients only unless the server says otherwise."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import botocore.config
import botocore.session
import pytest
from botocore.exceptions import ClientError

from stowage.api.metrics.prometheus import Sources, serve_metrics
from stowage.controllers.telemetry import RequestStats
from stowage.model.aws_models import MODELS_DIR
from tests.support.server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, ServerProcess, start_server
from tests.support.simulator import read_summary, start_simulator
from tests.support.usage_client import usage_client

CLUSTER = f"top-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server, a cluster of two simulated hosts and a service of three tasks on them."""
    base = tmp_path_factory.mktemp("top")
    server = start_server(base / "server")
    sim = None
    try:
        ecs = server.boto3_client("ecs")
        ecs.create_cluster(clusterName=CLUSTER)
        sim = start_simulator(server, CLUSTER, 2, str(base / "sim"), "--stats-interval", "1")
        read_summary(sim)
        td = ecs.register_task_definition(
            family="topweb",
            cpu="256",
            memory="512",
            containerDefinitions=[{"name": "app", "image": "busybox", "memoryReservation": 64}],
        )["taskDefinition"]["taskDefinitionArn"]
        ecs.create_service(cluster=CLUSTER, serviceName="web", taskDefinition=td, desiredCount=3)
        ecs.run_task(cluster=CLUSTER, taskDefinition=td)  # a task of no service
        yield server
    finally:
        if sim is not None:
            sim.terminate()
            sim.wait()
        server.stop()


@pytest.fixture(scope="module")
def usage(fleet: ServerProcess) -> Any:
    return usage_client(fleet.endpoint)


def sampled_rows(usage: Any, **params: Any) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while True:
        rows = usage.get_task_metrics(cluster=CLUSTER, **params)["rows"]
        if len(rows) >= 4 and all("memoryUsedBytes" in r and "cpuUsedUnits" in r for r in rows):
            return list(rows)
        assert time.monotonic() < deadline, rows
        time.sleep(0.3)


def test_task_rows_carry_use_against_reservation(usage: Any) -> None:
    rows = sampled_rows(usage, groupBy="TASK", sortBy="MEMORY")
    assert len(rows) == 4 and sum(1 for r in rows if r.get("service") == "web") == 3
    used = [r["memoryUsedBytes"] for r in rows]
    assert used == sorted(used, reverse=True)
    for r in rows:
        assert r["cpuReservedUnits"] == 256 and r["memoryReservedBytes"] == 512 * 1024 * 1024
        assert r["cpuUtilization"] == pytest.approx(100 * r["cpuUsedUnits"] / 256, abs=0.01)
        assert r["containers"][0]["name"] == "app"
        assert r["containers"][0]["memoryReservedBytes"] == 64 * 1024 * 1024
        assert 2 * 1024 * 1024 <= r["memoryUsedBytes"] <= 9 * 1024 * 1024  # the simulated engine's


def test_service_and_host_rows_add_up(usage: Any) -> None:
    tasks = sampled_rows(usage, groupBy="TASK")
    services = usage.get_task_metrics(cluster=CLUSTER, groupBy="SERVICE")["rows"]
    assert [(s["service"], s["tasks"]) for s in services] == [("web", 3)]
    assert services[0]["cpuReservedUnits"] == 3 * 256
    hosts = usage.get_task_metrics(cluster=CLUSTER, groupBy="HOST")["rows"]
    assert len(hosts) == 2 and sum(h["tasks"] for h in hosts) == 4
    assert all(h["cpuRegisteredUnits"] == 4096 and h["agentConnected"] for h in hosts)
    assert sum(h["memoryUsedBytes"] for h in hosts) == pytest.approx(
        sum(t["memoryUsedBytes"] for t in tasks), rel=0.5
    )
    only_web = usage.get_task_metrics(cluster=CLUSTER, service="web", maxResults=2)
    assert len(only_web["rows"]) == 2 and only_web["truncated"] is True


def code(exc: Any) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_bad_input_gets_the_models_errors(fleet: ServerProcess) -> None:
    session = botocore.session.get_session()
    session.get_component("data_loader").search_paths.append(str(MODELS_DIR))
    raw = session.create_client(  # no client-side validation: the server's answers are tested
        "stowage",
        endpoint_url=fleet.endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        config=botocore.config.Config(parameter_validation=False, retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as err:
        raw.get_task_metrics(cluster="arn:aws:ecs:us-east-1:999999999999:cluster/x")
    assert code(err) == "InvalidParameterException"
    with pytest.raises(ClientError) as err:
        raw.get_task_metrics(cluster="no-such-cluster")
    assert code(err) == "ClusterNotFoundException"
    with pytest.raises(ClientError) as err:
        raw.get_task_metrics(cluster=CLUSTER, groupBy="HOST", service="web")
    assert code(err) == "InvalidParameterException"
    for bad in ({"groupBy": "CONTAINER"}, {"maxResults": 0}, {"sortBy": "pids"}, {"maxResults": "ten"}):
        with pytest.raises(ClientError) as err:
            raw.get_task_metrics(**bad)
        assert code(err) in ("InvalidParameterException", "SerializationException"), bad
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_prometheus_exposition(fleet: ServerProcess, usage: Any) -> None:
    sampled_rows(usage, groupBy="TASK")
    with urllib.request.urlopen(f"{fleet.endpoint}/metrics?cluster={CLUSTER}&service=web") as resp:
        assert resp.status == 200
        text = resp.read().decode()
    lines = [ln for ln in text.splitlines() if ln.startswith("stowage_task_memory_usage_bytes{")]
    assert len(lines) == 3 and all(f'cluster="{CLUSTER}"' in ln and 'service="web"' in ln for ln in lines)
    assert "# TYPE stowage_api_request_duration_seconds histogram" in text
    assert 'operation="GetTaskMetrics",le="+Inf"}' in text
    assert "stowage_scheduler_placements_total " in text
    assert 'stowage_queue_depth{queue="metrics_ingest"}' in text
    assert "stowage_store_watches " in text and "process_cpu_seconds_total " in text
    for line in text.splitlines():  # every sample line is `name{labels} value` or `name value`
        if line and not line.startswith("#"):
            float(line.rsplit(" ", 1)[1])
    request = urllib.request.Request(f"{fleet.endpoint}/metrics", method="POST", data=b"")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request)
    assert err.value.code == 405


def _scope(client: str) -> MutableMapping[str, Any]:
    return {
        "type": "http",
        "method": "GET",
        "path": "/metrics",
        "query_string": b"",
        "client": (client, 40000),
    }


def _answer(scope: MutableMapping[str, Any], public: bool) -> tuple[int, bytes]:
    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    asyncio.run(serve_metrics(scope, send, Sources(RequestStats()), public=public))
    return int(sent[0]["status"]), bytes(sent[1]["body"])


@pytest.mark.parametrize(("client", "public", "status"), [
    ("127.0.0.1", False, 200), ("::1", False, 200), ("10.1.2.3", False, 403), ("10.1.2.3", True, 200),
])  # fmt: skip
def test_who_may_scrape(client: str, public: bool, status: int, tmp_path: Path) -> None:
    got, body = _answer(_scope(client), public)
    assert got == status
    if status == 403:
        assert b"--metrics-public" in body
    else:
        assert b"process_start_time_seconds" in body
