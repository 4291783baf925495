"""Custom metrics (PutMetricData) in the metric store: values published for the same moment all
count, statistics and weighted percentiles come out right before and after compaction and a
reopen, any double survives, and listing finds each metric once with all its units."""

from __future__ import annotations

from pathlib import Path

import pytest

from stowage.controllers.metrics_custom import CustomMetrics, Datum, weighted_percentile
from stowage.controllers.metrics_query import MetricQueries, MetricQuery
from stowage.controllers.metrics_series import LAYOUTS
from stowage.metricstore import MetricStore, StoreConfig

T0 = 1_764_000_000.0  # a multiple of 60
ACCOUNT, REGION = "000000000001", "us-east-1"


class Clock:
    def __init__(self) -> None:
        self.now = T0 + 600

    def __call__(self) -> float:
        return self.now


def _open(path: Path, clock: Clock) -> MetricStore:
    return MetricStore(path / "metrics.db", LAYOUTS, StoreConfig(background=False), clock=clock)


def _q(
    stat: str, period: int = 60, unit: str | None = None, dims: dict[str, str] | None = None
) -> MetricQuery:
    return MetricQuery(
        ACCOUNT, REGION, "App", "Latency", dims or {"Api": "get"}, T0, T0 + 600, period, stat, unit=unit
    )


def _datum(
    ts: float, *points: tuple[float, float, float, float], unit: str = "Milliseconds", res: int = 60
) -> Datum:
    return Datum("Latency", {"Api": "get"}, unit, ts, res, points)


def test_values_at_one_moment_all_count_and_survive_compaction_and_reopen(tmp_path: Path) -> None:
    clock = Clock()
    store = _open(tmp_path, clock)
    custom = CustomMetrics(store, clock=clock)
    queries = MetricQueries(store, clock=clock)
    # three calls for the same second, and Values/Counts for the next minute
    for v in (10.0, 20.0, 30.0):
        custom.put(ACCOUNT, REGION, "App", [_datum(T0 + 5, (1, v, v, v))])
    custom.put(ACCOUNT, REGION, "App", [_datum(T0 + 70, (3, 3.0, 1.0, 1.0), (1, 100.0, 100.0, 100.0))])

    def check() -> None:
        assert queries.run(_q("SampleCount")).values == [3.0, 4.0]
        assert queries.run(_q("Sum")).values == [60.0, 103.0]
        assert queries.run(_q("Average")).values == [20.0, 103.0 / 4]
        assert queries.run(_q("Maximum")).timestamps == [T0, T0 + 60]
        # weighted: three 1s and one 100 → p50 is 1, p99 is 100
        assert queries.run(_q("p50")).values == [20.0, 1.0]
        assert queries.run(_q("p99")).values == [30.0, 100.0]
        assert queries.run(_q("Sum", period=300)).values == [163.0]
        assert queries.run(_q("Sum", unit="Milliseconds")).values == [60.0, 103.0]
        assert queries.run(_q("Sum", unit="Seconds")).values == []
        assert queries.run(_q("Sum", dims={"Api": "put"})).values == []

    check()
    store.flush()
    check()
    clock.now = T0 + 3 * 3600
    store.maintain()
    check()
    store.close()
    store = _open(tmp_path, clock)
    queries = MetricQueries(store, clock=clock)
    check()
    store.close()


def test_any_double_round_trips(tmp_path: Path) -> None:
    clock = Clock()
    store = _open(tmp_path, clock)
    custom = CustomMetrics(store, clock=clock)
    big, small = 1.174271e108, 8.515920e-109
    custom.put(
        ACCOUNT, REGION, "App", [_datum(T0, (1, big, big, big)), _datum(T0 + 1, (1, small, small, small))]
    )
    store.flush()
    clock.now = T0 + 3 * 3600
    store.maintain()
    assert MetricQueries(store, clock=clock).run(_q("Maximum")).values == [big]
    assert MetricQueries(store, clock=clock).run(_q("Minimum")).values == [small]
    store.close()


def test_high_resolution_data_keeps_its_second_standard_its_minute(tmp_path: Path) -> None:
    clock = Clock()
    store = _open(tmp_path, clock)
    custom = CustomMetrics(store, clock=clock)
    custom.put(ACCOUNT, REGION, "App", [_datum(T0 + 7.4, (1, 1.0, 1.0, 1.0), res=1)])
    custom.put(ACCOUNT, REGION, "App", [_datum(T0 + 9.0, (1, 2.0, 2.0, 2.0), res=60)])
    points = MetricQueries(store, clock=clock).run(_q("Sum", period=1))
    assert points.timestamps == [T0, T0 + 7]
    assert points.values == [2.0, 1.0]
    store.close()


def test_listing_merges_units_and_keeps_accounts_apart(tmp_path: Path) -> None:
    clock = Clock()
    store = _open(tmp_path, clock)
    custom = CustomMetrics(store, clock=clock)
    custom.put(
        ACCOUNT,
        REGION,
        "App",
        [_datum(T0, (1, 1.0, 1.0, 1.0)), _datum(T0, (1, 1.0, 1.0, 1.0), unit="Seconds")],
    )
    custom.put("000000000002", REGION, "Other", [_datum(T0, (1, 1.0, 1.0, 1.0))])
    listed = list(custom.list(ACCOUNT, REGION))
    assert len(listed) == 1
    assert (listed[0].namespace, listed[0].metric, listed[0].dimensions) == ("App", "Latency", {"Api": "get"})
    assert sorted(listed[0].units) == ["Milliseconds", "Seconds"]
    store.close()


@pytest.mark.parametrize(
    ("values", "q", "want"),
    [
        ([(1.0, 1.0)], 99.0, 1.0),
        ([(5.0, 9.0), (1.0, 1.0)], 10.0, 1.0),
        ([(5.0, 9.0), (1.0, 1.0)], 11.0, 5.0),
        ([], 50.0, None),
    ],
)
def test_weighted_percentile(values: list[tuple[float, float]], q: float, want: float | None) -> None:
    assert weighted_percentile(values, q) == want
