"""MetricStore with injected time: what is appended is read back (from the head, then from
disk, then after a reopen), hours compact into packed chunks with correct minute rollups,
retention drops raw points after the raw retention and everything after the rollup retention,
and the file stays under its size bound while days of points pour in."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from stowage.metricstore import MINUTE, RAW, Layout, MetricStore, StoreConfig, rollup_column

RAWL = Layout("c", ("cpu", "mem"), (6, 0), 10.0)
AGG = Layout("a", ("n", "used"), (0, 3), 60.0)
T0 = 1_764_000_000.0  # an hour boundary
DAY = 86400.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clock() -> Clock:
    return Clock(T0)


def open_store(path: Path, clock: Clock, **cfg: float) -> MetricStore:
    config = StoreConfig(background=False, flush_interval=15.0, **cfg)  # type: ignore[arg-type]
    return MetricStore(path / "metrics.db", [RAWL, AGG], config, clock=clock)


@pytest.fixture()
def store(tmp_path: Path, clock: Clock) -> Iterator[MetricStore]:
    s = open_store(tmp_path, clock)
    yield s
    s.close()


def feed(
    store: MetricStore, keys: list[str], start: float, seconds: float, rng: random.Random
) -> list[list[float]]:
    """10-second points for ``keys``; returns the points of the first key (ts, cpu, mem)."""
    series = [store.series(k, "g", "c", {"k": k}) for k in keys]
    first: list[list[float]] = []
    t = start
    while t < start + seconds:
        batch = []
        for i, s in enumerate(series):
            row = (t, round(rng.uniform(0, 2), 6), float(rng.randrange(2**20, 2**28)))
            batch.append((s, row))
            if i == 0:
                first.append(list(row))
        store.append(batch)
        t += 10.0
        if int(t) % 300 == 0:
            store.flush()
    store.flush()
    return first


def test_points_are_read_from_the_head_then_from_disk_then_after_a_reopen(
    tmp_path: Path, clock: Clock
) -> None:
    store = open_store(tmp_path, clock)
    s = store.series("k1", "task-1", "c", {"container": "app"})
    store.append([(s, (T0 + 10 * i, 0.5, 1000.0 + i)) for i in range(6)])
    assert store.read(s, T0, T0 + 60)[2] == [1000.0 + i for i in range(6)]  # not flushed yet
    store.flush()
    store.append([(s, (T0 + 60, 0.5, 2000.0))])
    cols = store.read(s, T0 + 30, T0 + 70)  # disk and head together, clipped to the range
    assert cols[0] == [T0 + 30, T0 + 40, T0 + 50, T0 + 60]
    store.close()

    again = open_store(tmp_path, clock)
    found = again.get("k1")
    assert found is not None and found.labels == {"container": "app"} and found.group == "task-1"
    assert [i.key for i in again.group("task-1")] == ["k1"]
    assert again.read(found, T0, T0 + 3600)[2] == [*(1000.0 + i for i in range(6)), 2000.0]
    again.close()


def test_compaction_packs_an_hour_and_writes_its_minute_rollups(store: MetricStore, clock: Clock) -> None:
    rng = random.Random(7)
    points = feed(store, ["a", "b"], T0, 3600.0, rng)
    clock.now = T0 + 3600 + 60
    result = store.maintain()
    assert result.compacted == 2  # one closed hour for each of the two series
    s = store.get("a")
    assert s is not None
    raw = store.read(s, T0, T0 + 3600, RAW)
    assert len(raw[0]) == 360
    for got, want in zip(zip(*raw, strict=True), points, strict=True):
        assert got[0] == pytest.approx(want[0], abs=1e-3)
        assert got[1] == pytest.approx(want[1], abs=1e-6)
        assert got[2] == want[2]
    minutes = store.read(s, T0, T0 + 3600, MINUTE)
    assert len(minutes[0]) == 60
    for m in range(60):
        in_minute = [p for p in points if T0 + 60 * m <= p[0] < T0 + 60 * (m + 1)]
        assert minutes[0][m] == T0 + 60 * m
        assert minutes[1][m] == len(in_minute) == 6
        col = rollup_column(RAWL, "mem", "sum")
        assert minutes[col][m] == sum(p[2] for p in in_minute)
        assert minutes[rollup_column(RAWL, "cpu", "max")][m] == pytest.approx(max(p[1] for p in in_minute))
        assert minutes[rollup_column(RAWL, "cpu", "min")][m] == pytest.approx(min(p[1] for p in in_minute))
    # a late point for the compacted hour is merged into it (and into its minute) next time
    store.append([(s, (T0 + 5.0, 9.0, 1.0))])
    store.flush()
    store.maintain()
    assert store.read(s, T0, T0 + 60, MINUTE)[1] == [7.0]
    assert 9.0 in store.read(s, T0, T0 + 60, RAW)[1]


def test_minute_series_go_straight_to_the_minute_tier(store: MetricStore, clock: Clock) -> None:
    s = store.series("svc", "cluster", "a", {})
    store.append([(s, (T0 + 60 * i, 2.0, 100.0 * i)) for i in range(90)])
    store.flush()
    clock.now = T0 + 2 * 3600
    store.maintain()
    cols = store.read(s, T0, T0 + 5400, MINUTE)
    assert cols[2] == [100.0 * i for i in range(90)]
    assert store.read(s, T0, T0 + 5400, RAW)[0] == []


def test_retention_drops_raw_after_a_day_and_everything_after_the_rollup_retention(
    tmp_path: Path, clock: Clock
) -> None:
    store = open_store(tmp_path, clock, raw_retention=DAY, rollup_retention=3 * DAY)
    feed(store, ["a"], T0, 7200.0, random.Random(1))
    s = store.get("a")
    assert s is not None
    clock.now = T0 + 3 * 3600
    store.maintain()
    assert len(store.read(s, T0, T0 + 7200, RAW)[0]) == 720
    clock.now = T0 + DAY + 3 * 3600
    store.maintain()
    assert store.read(s, T0, T0 + 7200, RAW)[0] == []
    assert len(store.read(s, T0, T0 + 7200, MINUTE)[0]) == 120  # the rollups remain
    clock.now = T0 + 3 * DAY + 3 * 3600
    result = store.maintain()
    assert result.forgotten_series == 1
    assert store.get("a") is None and store.series_count == 0
    store.close()


def test_the_file_stays_under_its_size_bound(tmp_path: Path, clock: Clock) -> None:
    bound = 4 * 1024 * 1024
    store = open_store(tmp_path, clock, max_bytes=bound, raw_retention=DAY, rollup_retention=14 * DAY)
    keys = [f"c{i}" for i in range(40)]
    rng = random.Random(3)
    sizes = []
    for hour in range(36):  # a day and a half of 40 containers, maintained every hour
        feed(store, keys, T0 + 3600 * hour, 3600.0, rng)
        clock.now = T0 + 3600 * (hour + 1) + 60
        store.maintain()
        sizes.append(store.size_bytes())
    assert max(sizes) <= bound
    assert sizes[-1] > bound // 2  # it filled up to the bound rather than dropping everything
    s = store.get("c0")
    assert s is not None
    # the newest hour is still there at full resolution; the oldest raw hours went first, and
    # every minute of the day and a half is still there as a rollup
    assert len(store.read(s, clock.now - 3660, clock.now, RAW)[0]) >= 350
    assert store.read(s, T0, T0 + 3600, RAW)[0] == []
    assert len(store.read(s, T0, clock.now, MINUTE)[0]) == 36 * 60
    store.close()


def test_appending_after_close_fails(tmp_path: Path, clock: Clock) -> None:
    store = open_store(tmp_path, clock)
    s = store.series("k", "g", "c", {})
    store.close()
    with pytest.raises(RuntimeError):
        store.append([(s, (T0, 1.0, 1.0))])


def test_the_writer_thread_flushes_on_its_own_and_on_close(tmp_path: Path, clock: Clock) -> None:
    config = StoreConfig(flush_interval=0.05, maintain_interval=3600.0)
    store = MetricStore(tmp_path / "metrics.db", [RAWL], config, clock=clock)
    s = store.series("k", "g", "c", {})
    store.append([(s, (T0, 1.0, 1.0))])
    store.flush()  # through the thread
    assert store.flushes >= 1
    store.append([(s, (T0 + 10, 1.0, 2.0))])
    store.close()
    again = MetricStore(tmp_path / "metrics.db", [RAWL], StoreConfig(background=False), clock=clock)
    found = again.get("k")
    assert found is not None and again.read(found, T0, T0 + 20)[2] == [1.0, 2.0]
    again.close()
