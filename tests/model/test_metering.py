"""Fargate metering arithmetic: billed seconds, quantities, prices and bills, to the cent."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stowage.model import billing, metering, pricing
from stowage.model.metering import TaskUsage
from tests.support.fargate_records import fargate_task

T0 = 1_800_000_000.0
CENT = Decimal("0.01")


def usage(
    seconds: float,
    *,
    cpu: int = 1024,
    memory: int = 2048,
    storage: int = 20,
    arch: str = "X86_64",
    provider: str = "FARGATE",
    start: float = T0,
    task: str = "t1",
    cluster: str = "c",
    group: str = "family:fam",
    running: bool = False,
) -> TaskUsage:
    return TaskUsage(
        task_arn=f"arn:aws:ecs:us-east-1:123456789012:task/{cluster}/{task}",
        cluster_arn=f"arn:aws:ecs:us-east-1:123456789012:cluster/{cluster}",
        group=group,
        architecture=arch,
        capacity_provider=provider,
        cpu_units=cpu,
        memory_mib=memory,
        storage_gib=storage,
        start=start,
        end=start + seconds,
        running=running,
    )


def cost_of(*usages: TaskUsage, prices: pricing.PriceTable = pricing.DEFAULT_PRICES) -> Decimal:
    return billing.bill(usages, "CLUSTER").total.cost(prices)


# -- billed seconds --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ran", "billed"),
    [(10, 60), (0, 60), (59.9, 60), (60, 60), (60.001, 61), (90, 90), (90.2, 91), (3600, 3600)],
)
def test_billed_seconds_round_up_with_a_one_minute_minimum(ran: float, billed: int) -> None:
    assert usage(ran).billed_seconds == billed


def test_millisecond_timestamps() -> None:
    assert usage(0, start=1_800_000_000.123).billed_seconds == 60
    exact = replace(usage(0), start=1_800_000_000.123, end=1_800_000_090.123)
    assert exact.billed_seconds == 90
    assert replace(exact, end=1_800_000_090.124).billed_seconds == 91


def test_quantities() -> None:
    u = usage(90, cpu=256, memory=512, storage=50)
    assert u.vcpu == Decimal("0.25") and u.gb == Decimal("0.5") and u.extra_storage_gb == 30
    line = billing.bill([u], "TASK").total.summed()
    assert line.vcpu_seconds == Decimal("22.5")
    assert line.gb_seconds == Decimal("45")
    assert line.storage_gb_seconds == Decimal("2700")
    assert usage(10, storage=20).extra_storage_gb == 0


# -- prices, to the cent ---------------------------------------------------------------------
def test_x86_hour_costs_the_price_table() -> None:
    # 1 vCPU + 2 GB for an hour: 0.04048 + 2 x 0.004445
    assert cost_of(usage(3600)) == Decimal("0.04937")


def test_arm_hour() -> None:
    # 0.25 vCPU + 0.5 GB ARM for an hour: 0.25 x 0.03238 + 0.5 x 0.00356
    assert cost_of(usage(3600, cpu=256, memory=512, arch="ARM64")) == Decimal("0.009875")


def test_spot_is_discounted_on_vcpu_and_memory_only() -> None:
    assert cost_of(usage(3600, provider="FARGATE_SPOT")) == Decimal("0.04937") * Decimal("0.3")
    # extra storage (30 GB beyond the 20 included) is not discounted: 30 x 0.000111
    assert cost_of(usage(3600, provider="FARGATE_SPOT", storage=50)) == Decimal("0.014811") + Decimal(
        "0.00333"
    )


def test_extra_storage() -> None:
    assert cost_of(usage(3600, storage=50)) == Decimal("0.04937") + Decimal("0.00333")
    assert cost_of(usage(3600, storage=21)) == Decimal("0.04937") + Decimal("0.000111")


def test_short_task_pays_the_minimum() -> None:
    # 10 s billed as 60 s: (0.04048 + 0.00889) / 60
    assert cost_of(usage(10)) == cost_of(usage(60)) == Decimal("0.04937") / 60
    assert cost_of(usage(90)) == Decimal("0.04937") * Decimal("0.025")


def test_a_day_of_mixed_tasks_totals_to_the_cent() -> None:
    day = 86400
    tasks = [
        *(usage(day, cpu=256, memory=512, task=f"x{i}") for i in range(10)),  # 10 x $0.29622
        usage(day, cpu=2048, memory=4096, arch="ARM64", task="arm"),  # 2 x 0.03238 x 24 + 4 x 0.00356 x 24
        usage(day, provider="FARGATE_SPOT", task="spot"),  # 0.04937 x 24 x 0.3
        usage(day, storage=100, task="disk"),  # 0.04937 x 24 + 80 x 0.000111 x 24
        usage(10, task="short"),  # one minute
    ]
    expected = (
        Decimal("2.9622")
        + Decimal("1.89600")
        + Decimal("0.355464")
        + Decimal("1.18488") + Decimal("0.21312")
        + Decimal("0.04937") / 60
    )  # fmt: skip
    total = cost_of(*tasks)
    assert total.quantize(Decimal("1E-15")) == expected.quantize(Decimal("1E-15"))
    assert total.quantize(CENT) == Decimal("6.61")
    rendered = billing.row_doc(billing.bill(tasks, "CLUSTER").total, pricing.DEFAULT_PRICES)
    assert rendered["cost"] == "6.6124868333"
    assert Decimal(rendered["cost"]).quantize(CENT) == Decimal("6.61")
    assert rendered["tasks"] == 14


def test_row_costs_add_up_to_the_total() -> None:
    tasks = [
        usage(3601.5, task="a", cluster="one", group="service:web"),
        usage(10, task="b", cluster="one", group="service:web", arch="ARM64"),
        usage(7200, task="c", cluster="two", provider="FARGATE_SPOT", storage=40),
        usage(45, task="d", cluster="two"),
    ]
    for by in billing.GROUPINGS:
        result = billing.bill(tasks, by)
        prices = pricing.DEFAULT_PRICES
        assert sum((r.cost(prices) for r in result.rows), Decimal(0)) == result.total.cost(prices)


# -- grouping and windows --------------------------------------------------------------------
def test_grouping_keys() -> None:
    tasks = [
        usage(100, task="a", cluster="one", group="service:web"),
        usage(100, task="b", cluster="one", group="service:web"),
        usage(100, task="c", cluster="one", group="family:batch"),
        usage(100, task="d", cluster="two", group="service:web"),
    ]
    assert [r.key for r in billing.bill(tasks, "SERVICE").rows] == ["one/-", "one/web", "two/web"]
    assert [len(r.tasks) for r in billing.bill(tasks, "SERVICE").rows] == [1, 2, 1]
    assert [r.key for r in billing.bill(tasks, "CLUSTER").rows] == ["one", "two"]
    assert len(billing.bill(tasks, "TASK").rows) == 4
    with pytest.raises(ValueError):
        billing.bill(tasks, "WEEK")


def test_since_and_until_clip_the_billed_interval() -> None:
    u = usage(3600)
    assert u.seconds_within(Decimal(T0) + 600) == 3000
    assert u.seconds_within(None, Decimal(T0) + 600) == 600
    assert u.seconds_within(Decimal(T0) + 4000) == 0
    short = usage(10)  # billed [T0, T0 + 60]
    assert short.seconds_within(Decimal(T0) + 30) == 30
    result = billing.bill([u, usage(100, start=T0 - 1000, task="old")], "TASK", since=Decimal(T0))
    assert [r.task_arn for r in result.rows] == [u.task_arn]


def test_days_split_at_utc_midnight_and_add_up() -> None:
    midnight = 1_800_057_600  # 2027-01-16T00:00:00Z
    u = usage(7200.5, start=midnight - 1800.25)
    days = u.days()
    assert days == [("2027-01-15", Decimal("1800.25")), ("2027-01-16", Decimal("5400.75"))]
    assert sum(s for _, s in days) == u.billed_seconds
    rows = billing.bill([u], "DAY").rows
    assert [r.day for r in rows] == ["2027-01-15", "2027-01-16"]


@given(
    start=st.floats(min_value=1.6e9, max_value=2e9, allow_nan=False),
    ran=st.floats(min_value=0, max_value=3 * 86400, allow_nan=False),
    since=st.one_of(st.none(), st.integers(min_value=-86400, max_value=3 * 86400)),
)
def test_windows_never_exceed_the_bill(start: float, ran: float, since: int | None) -> None:
    u = usage(ran, start=start)
    lo = None if since is None else metering.instant(start) + since
    total = sum((s for _, s in u.days(lo)), Decimal(0))
    assert total == u.seconds_within(lo)
    assert 0 <= total <= u.billed_seconds
    if since is None:
        assert total == u.billed_seconds


# -- metering a task record ------------------------------------------------------------------
def record(**kwargs: Any) -> dict[str, Any]:
    _key, doc = fargate_task("c", "abc", **kwargs)
    return doc


def test_meter_a_stopped_record() -> None:
    doc = record(cpu=512, memory=1024, storage=30, arch="arm64", provider="FARGATE_SPOT", group="service:web")
    doc.update(lastStatus="STOPPED", pullStartedAt=T0, startedAt=T0 + 5, stoppedAt=T0 + 95)
    u = metering.meter(doc, now=T0 + 10_000)
    assert u is not None
    assert (u.architecture, u.capacity_provider, u.cpu_units, u.memory_mib) == (
        "ARM64",
        "FARGATE_SPOT",
        512,
        1024,
    )
    assert (u.storage_gib, u.billed_seconds, u.running, u.service, u.cluster) == (30, 95, False, "web", "c")
    assert TaskUsage.from_doc(u.to_doc()) == u


def test_meter_a_running_record_up_to_now() -> None:
    doc = record()
    doc.update(lastStatus="RUNNING", pullStartedAt=T0)
    u = metering.meter(doc, now=T0 + 300)
    assert u is not None and u.running and u.billed_seconds == 300
    young = metering.meter(doc, now=T0 + 10)
    assert young is not None and young.billed_seconds == 60


def test_unbilled_records() -> None:
    never_pulled = record()
    never_pulled.update(lastStatus="STOPPED", stoppedAt=T0)
    assert metering.meter(never_pulled, now=T0) is None
    ec2 = record(launch_type="EC2")
    ec2.update(lastStatus="STOPPED", pullStartedAt=T0, stoppedAt=T0 + 100)
    assert metering.meter(ec2, now=T0) is None


def test_architecture_and_storage_defaults() -> None:
    plain = record(arch=None)
    plain.update(pullStartedAt=T0)
    u = metering.meter(plain, now=T0 + 61)
    assert u is not None and (u.architecture, u.storage_gib, u.capacity_provider) == ("X86_64", 20, "FARGATE")
    from_definition = record(arch=None, td_arch="ARM64")
    assert metering.architecture_of(from_definition) == "ARM64"
    attribute_wins = record(arch="x86_64", td_arch="ARM64")
    assert metering.architecture_of(attribute_wins) == "X86_64"


# -- the price file --------------------------------------------------------------------------
def test_price_file_toml_overrides_only_what_it_names() -> None:
    table = pricing.parse_price_table('spot_discount = 0.5\n[arm64]\nvcpu_hour = "0.03"\n', "toml")
    assert table.spot_discount == Decimal("0.5")
    assert table.rates["ARM64"].vcpu_hour == Decimal("0.03")
    assert table.rates["ARM64"].gb_hour == Decimal("0.00356")
    assert table.rates["X86_64"] == pricing.DEFAULT_PRICES.rates["X86_64"]
    assert cost_of(usage(3600, provider="FARGATE_SPOT"), prices=table) == Decimal("0.024685")


def test_price_file_json() -> None:
    table = pricing.parse_price_table(
        '{"currency": "EUR", "storage_gb_hour": 0.0002, "x86_64": {"vcpu_hour": 0.05, "gb_hour": 0.005}}',
        "json",
    )
    assert table.currency == "EUR"
    assert cost_of(usage(3600, storage=30), prices=table) == Decimal("0.05") + Decimal("0.01") + Decimal(
        "0.002"
    )


@pytest.mark.parametrize(
    ("text", "fmt", "message"),
    [
        ("spot_discount = 1.5", "toml", "between 0 and 1"),
        ("storage_gb_hour = -1", "toml", ">= 0"),
        ("vcpu = 1", "toml", "unknown member"),
        ("[x86_64]\ncpu_hour = 1", "toml", "unknown member"),
        ('x86_64 = "cheap"', "toml", "must be a table"),
        ('[arm64]\ngb_hour = "lots"', "toml", "must be a number"),
        ("not toml [", "toml", "not valid TOML"),
        ("[1, 2]", "json", "must be a table"),
        ("spot_discount: 1", "yaml", "unknown price file format"),
    ],
)
def test_bad_price_files(text: str, fmt: str, message: str) -> None:
    with pytest.raises(pricing.PriceTableError, match=message):
        pricing.parse_price_table(text, fmt)
