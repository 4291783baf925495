"""GetUsage over real HTTP, signed with SigV4 by a botocore client built from stowage's model,
against the whole control plane. Fargate task records are written as placement and the agent's
reports write them (``tests/support/fargate_records``)."""

from __future__ import annotations

import asyncio
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from stowage.resources import ecs_keys
from stowage.resources.records import Records
from stowage.store.sqlite import SqliteStore
from tests.support import fargate_records as fr
from tests.support.inproc_control_plane import InProcessControlPlane
from tests.support.server import start_server
from tests.support.usage_client import usage_client

DAY0 = 1_700_006_400.0  # 2023-11-15T00:00:00Z
HOUR = 3600.0


def unique(prefix: str = "u") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def add_task(
    plane: InProcessControlPlane,
    cluster: str,
    pulled: float,
    stopped: float | None,
    **kwargs: Any,
) -> str:
    task_id = uuid.uuid4().hex
    key, doc = fr.fargate_task(cluster, task_id, **kwargs)
    plane.call(fr.lifecycle(plane.records, key, doc, pulled, stopped))
    return str(doc["taskArn"])


@pytest.fixture(scope="module")
def usage(plane: InProcessControlPlane) -> Any:
    return usage_client(plane.endpoint)


def code(exc: Any) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_short_tasks_pay_a_minute_longer_ones_per_second(plane: InProcessControlPlane, usage: Any) -> None:
    cluster = unique()
    short = add_task(plane, cluster, DAY0, DAY0 + 10)
    longer = add_task(plane, cluster, DAY0 + 100, DAY0 + 190)
    answer = usage.get_usage(cluster=cluster, groupBy="TASK")
    rows = {r["taskArn"]: r for r in answer["rows"]}
    assert rows[short]["billedSeconds"] == "60" and rows[longer]["billedSeconds"] == "90"
    assert (rows[short]["vcpuSeconds"], rows[short]["gbSeconds"]) == ("60", "120")
    assert (rows[longer]["vcpuSeconds"], rows[longer]["gbSeconds"]) == ("90", "180")
    # (0.04048 + 2 x 0.004445) $/h: 60 s and 90 s of it
    assert rows[short]["cost"] == "0.0008228333"
    assert rows[longer]["cost"] == "0.0012342500"
    assert answer["total"]["cost"] == "0.0020570833"
    assert answer["total"]["tasks"] == 2 and answer["total"]["runningTasks"] == 0
    assert rows[short]["cluster"] == cluster and rows[short]["service"] == "-"
    assert answer["groupBy"] == "TASK"


def test_totals_match_the_price_table_to_the_cent(plane: InProcessControlPlane, usage: Any) -> None:
    cluster = unique()
    add_task(plane, cluster, DAY0, DAY0 + HOUR, group="service:x86")
    add_task(plane, cluster, DAY0, DAY0 + HOUR, arch="arm64", group="service:arm")
    add_task(plane, cluster, DAY0, DAY0 + HOUR, provider="FARGATE_SPOT", group="service:spot")
    add_task(plane, cluster, DAY0, DAY0 + HOUR, storage=50, group="service:disk")
    answer = usage.get_usage(cluster=cluster, groupBy="SERVICE")
    costs = {r["service"]: Decimal(r["cost"]) for r in answer["rows"]}
    assert costs == {
        "x86": Decimal("0.04937"),  # 0.04048 + 2 x 0.004445
        "arm": Decimal("0.0395"),  # 0.03238 + 2 x 0.00356
        "spot": Decimal("0.014811"),  # 30% of 0.04937
        "disk": Decimal("0.05270"),  # 0.04937 + 30 x 0.000111
    }
    total = answer["total"]
    assert Decimal(total["cost"]) == Decimal("0.156381")
    assert Decimal(total["cost"]).quantize(Decimal("0.01")) == Decimal("0.16")
    assert (total["vcpuHours"], total["gbHours"], total["storageGbHours"]) == (
        "4.000000",
        "8.000000",
        "30.000000",
    )
    lines = {(ln["architecture"], ln["capacityProvider"]): Decimal(ln["cost"]) for ln in total["lines"]}
    assert lines == {
        ("ARM64", "FARGATE"): Decimal("0.0395"),
        ("X86_64", "FARGATE"): Decimal("0.10207"),
        ("X86_64", "FARGATE_SPOT"): Decimal("0.014811"),
    }
    prices = answer["prices"]
    assert prices["spotDiscount"] == "0.70" and prices["storageGbHour"] == "0.000111"
    by_cluster = usage.get_usage(cluster=cluster)  # CLUSTER is the default grouping
    assert [r["key"] for r in by_cluster["rows"]] == [cluster]
    assert by_cluster["rows"][0]["cost"] == total["cost"] == by_cluster["total"]["cost"]


def test_running_tasks_count_up_to_now(plane: InProcessControlPlane, usage: Any) -> None:
    cluster = unique()
    pulled = time.time() - 2 * HOUR
    add_task(plane, cluster, pulled, None, cpu=256, memory=512, group="service:web")
    answer = usage.get_usage(cluster=cluster, service="web")
    assert answer["total"]["runningTasks"] == 1
    assert Decimal(answer["total"]["billedSeconds"]) >= 7200
    # a closed window makes it exact: one hour of 0.25 vCPU and 0.5 GB
    window = usage.get_usage(cluster=cluster, since=pulled + HOUR, until=pulled + 2 * HOUR, groupBy="TASK")
    [row] = window["rows"]
    assert row["billedSeconds"] == "3600" and row["runningTasks"] == 1
    assert Decimal(row["cost"]) == Decimal("0.25") * Decimal("0.04048") + Decimal("0.5") * Decimal("0.004445")


def test_since_and_days(plane: InProcessControlPlane, usage: Any) -> None:
    cluster = unique()
    add_task(plane, cluster, DAY0 - 7 * 86400, DAY0 - 7 * 86400 + 600)  # a week before
    across = add_task(plane, cluster, DAY0 - 1800, DAY0 + 1800)  # 30 min each side of midnight
    days = usage.get_usage(cluster=cluster, groupBy="DAY")
    assert [(r["day"], r["billedSeconds"]) for r in days["rows"]] == [
        ("2023-11-08", "600"),
        ("2023-11-14", "1800"),
        ("2023-11-15", "1800"),
    ]
    recent = usage.get_usage(cluster=cluster, since=DAY0 - 86400, groupBy="TASK")
    assert [r["taskArn"] for r in recent["rows"]] == [across]
    assert recent["total"]["billedSeconds"] == "3600"
    after_midnight = usage.get_usage(cluster=cluster, since=DAY0, groupBy="DAY")
    assert [(r["day"], r["billedSeconds"]) for r in after_midnight["rows"]] == [("2023-11-15", "1800")]


def test_filters_by_service_arn_and_cluster_arn(plane: InProcessControlPlane, usage: Any) -> None:
    cluster = unique()
    web = add_task(plane, cluster, DAY0, DAY0 + 120, group="service:web")
    add_task(plane, cluster, DAY0, DAY0 + 120, group="service:api")
    service_arn = f"arn:aws:ecs:{fr.REGION}:{fr.ACCOUNT}:service/{cluster}/web"
    cluster_arn = f"arn:aws:ecs:{fr.REGION}:{fr.ACCOUNT}:cluster/{cluster}"
    answer = usage.get_usage(service=service_arn, groupBy="TASK")
    assert [r["taskArn"] for r in answer["rows"]] == [web]
    both = usage.get_usage(cluster=cluster_arn, service=service_arn, groupBy="TASK")
    assert [r["taskArn"] for r in both["rows"]] == [web]
    assert usage.get_usage(cluster=unique("none"))["rows"] == []


@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        ({"groupBy": "WEEK"}, "InvalidParameterException", "enum value set"),
        ({"cluster": "bad name!"}, "InvalidParameterException", "Invalid cluster 'bad name!'"),
        (
            {"cluster": "arn:aws:ecs:us-east-1:000000000000:cluster/theirs"},
            "InvalidParameterException",
            "not a cluster name or a cluster ARN of this account",
        ),
        (
            {"service": "arn:aws:ecs:us-east-1:123456789012:task/c/x"},
            "InvalidParameterException",
            "Invalid service",
        ),
        (
            {"cluster": "one", "service": "arn:aws:ecs:us-east-1:123456789012:service/two/web"},
            "InvalidParameterException",
            "is not in the cluster 'one'",
        ),
        ({"since": DAY0, "until": DAY0}, "InvalidParameterException", "until must be later than since"),
    ],
)
def test_bad_input_gets_an_aws_error(usage: Any, params: dict[str, Any], error: str, message: str) -> None:
    with pytest.raises(ClientError) as exc:
        usage.get_usage(**params)
    assert code(exc) == error
    assert message in exc.value.response["Error"]["Message"]
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_unknown_key_is_refused(plane: InProcessControlPlane) -> None:
    stranger = usage_client(plane.endpoint, aws_access_key_id="AKIANOTKNOWN00000000")
    with pytest.raises(ClientError) as exc:
        stranger.get_usage()
    assert code(exc) == "UnrecognizedClientException"


def test_ledger_survives_a_restart_and_is_reconciled(tmp_path: Path) -> None:
    cluster = unique()
    first = InProcessControlPlane(tmp_path).start()
    try:
        before = add_task(first, cluster, DAY0, DAY0 + 600)
        prefix = ecs_keys.usage_ledger(fr.ACCOUNT, fr.REGION)
        for _ in range(500):  # the ledger write follows the stop; a guard, not a timing check
            recs, _more = first.call(first.records.list(prefix))
            if recs:
                break
            time.sleep(0.01)
        assert [r.doc["taskArn"] for r in recs] == [before]
    finally:
        first.stop()

    # while no control plane runs, a Fargate task stops (its record is all there is)
    async def offline() -> str:
        store = SqliteStore(tmp_path)
        try:
            key, doc = fr.fargate_task(cluster, uuid.uuid4().hex, storage=40)
            await fr.lifecycle(Records(store), key, doc, DAY0 + 1000, DAY0 + 4600)
            return str(doc["taskArn"])
        finally:
            await store.close()

    during = asyncio.run(offline())
    second = InProcessControlPlane(tmp_path).start()
    try:
        recs, _more = second.call(second.records.list(ecs_keys.usage_ledger(fr.ACCOUNT, fr.REGION)))
        assert sorted(r.doc["taskArn"] for r in recs) == sorted([before, during])  # reconciled at start
        answer = usage_client(second.endpoint).get_usage(cluster=cluster, groupBy="TASK")
        rows = {r["taskArn"]: r for r in answer["rows"]}
        assert rows[before]["billedSeconds"] == "600" and rows[during]["billedSeconds"] == "3600"
        assert Decimal(rows[during]["cost"]) == Decimal("0.04937") + 20 * Decimal("0.000111")
    finally:
        second.stop()


def test_price_table_from_the_data_dir_and_the_flag(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "price-table.toml").write_text("spot_discount = 0.5\n")
    flag = tmp_path / "prices.json"
    flag.write_text('{"arm64": {"vcpu_hour": "0.03"}, "currency": "USD"}')
    server = start_server(tmp_path / "data", ["--price-table", str(flag)])
    try:
        prices = usage_client(server.endpoint).get_usage()["prices"]
    finally:
        server.stop()
    assert prices["spotDiscount"] == "0.5"
    rates = {r["architecture"]: (r["vcpuHour"], r["gbHour"]) for r in prices["rates"]}
    assert rates == {"ARM64": ("0.03", "0.00356"), "X86_64": ("0.04048", "0.004445")}


def test_a_bad_price_file_stops_the_start(tmp_path: Path) -> None:
    bad = tmp_path / "prices.toml"
    bad.write_text("spot_discount = 2\n")
    with pytest.raises(RuntimeError, match="spot_discount is a fraction"):
        start_server(tmp_path / "data", ["--price-table", str(bad)])
