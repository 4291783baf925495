"""The log store on its own: durability, reads by direction and range, group-wide filters,
retention purges with an injected clock, the size cap, and concurrent batches."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from stowage.logstore import (
    GroupExists,
    GroupNotFound,
    LogGroup,
    LogStore,
    NewEvent,
    Owner,
    Position,
    RetentionEnforcer,
    StreamExists,
    StreamNotFound,
    compile_pattern,
)

T = TypeVar("T")
ME = Owner("123456789012", "us-east-1")
DAY = 86_400_000
T0 = 1_750_000_000_000


def with_store(path: Path, body: Callable[[LogStore], Awaitable[T]]) -> T:
    async def main() -> T:
        store = await LogStore.open_in(path)
        try:
            return await body(store)
        finally:
            await store.close()

    return asyncio.run(main())


async def setup(store: LogStore, group: str = "g", streams: tuple[str, ...] = ("s",)) -> None:
    await store.create_group(ME, LogGroup(group, T0))
    for s in streams:
        await store.create_stream(ME, group, s, T0)


def test_groups_and_streams_are_unique_and_scoped(tmp_path: Path) -> None:
    async def body(store: LogStore) -> None:
        await setup(store)
        with pytest.raises(GroupExists):
            await store.create_group(ME, LogGroup("g", T0))
        with pytest.raises(StreamExists):
            await store.create_stream(ME, "g", "s", T0)
        with pytest.raises(GroupNotFound):
            await store.create_stream(ME, "nope", "s", T0)
        with pytest.raises(StreamNotFound):
            await store.put_events(ME, "g", "nope", [NewEvent(T0, "x")], T0)
        other = Owner("999999999999", "us-east-1")
        await store.create_group(other, LogGroup("g", T0))  # same name, other account
        assert [g.name for g in await store.list_groups(other)] == ["g"]
        with pytest.raises(StreamNotFound):  # the other account's "g" has no streams
            await store.get_stream(other, "g", "s")

    with_store(tmp_path, body)


def test_events_survive_a_reopen(tmp_path: Path) -> None:
    async def write(store: LogStore) -> None:
        await setup(store)
        stream = await store.put_events(
            ME, "g", "s", [NewEvent(T0 + i, f"line {i}") for i in range(5)], T0 + 9
        )
        assert (stream.first_event_timestamp, stream.last_event_timestamp) == (T0, T0 + 4)
        assert stream.last_ingestion_time == T0 + 9 and stream.upload_sequence == 1

    async def read(store: LogStore) -> None:
        events = await store.read_stream(ME, "g", "s", forward=True)
        assert [e.message for e in events] == [f"line {i}" for i in range(5)]
        assert (await store.get_group(ME, "g")).stored_bytes == 5 * len("line 0")

    with_store(tmp_path, write)
    with_store(tmp_path, read)


def test_read_stream_directions_range_and_limits(tmp_path: Path) -> None:
    async def body(store: LogStore) -> None:
        await setup(store)
        # Two batches whose timestamps interleave: reads order by timestamp, then by arrival.
        await store.put_events(ME, "g", "s", [NewEvent(T0 + 2 * i, f"a{i}") for i in range(5)], T0)
        await store.put_events(ME, "g", "s", [NewEvent(T0 + 2 * i + 1, f"b{i}") for i in range(5)], T0)
        await store.put_events(ME, "g", "s", [NewEvent(T0 + 4, "a2-again")], T0)
        everything = await store.read_stream(ME, "g", "s", forward=True)
        assert [e.message for e in everything] == [
            "a0", "b0", "a1", "b1", "a2", "a2-again", "b2", "a3", "b3", "a4", "b4",
        ]  # fmt: skip
        head = await store.read_stream(ME, "g", "s", forward=True, limit=3)
        assert [e.message for e in head] == ["a0", "b0", "a1"]
        tail = await store.read_stream(ME, "g", "s", forward=False, limit=3)
        assert [e.message for e in tail] == ["b3", "a4", "b4"]  # newest page, still ascending
        after = await store.read_stream(ME, "g", "s", cursor=head[-1].position, forward=True, limit=2)
        assert [e.message for e in after] == ["b1", "a2"]
        before = await store.read_stream(ME, "g", "s", cursor=tail[0].position, forward=False, limit=2)
        assert [e.message for e in before] == ["b2", "a3"]
        ranged = await store.read_stream(ME, "g", "s", start=T0 + 3, end=T0 + 5, forward=True)
        assert [e.message for e in ranged] == ["b1", "a2", "a2-again"]
        # The byte cap keeps at least one event and stops before overflowing.
        capped = await store.read_stream(ME, "g", "s", forward=True, max_bytes=2 * (2 + 26))
        assert [e.message for e in capped] == ["a0", "b0"]

    with_store(tmp_path, body)


def test_filter_interleaves_streams_and_resumes_partial_scans(tmp_path: Path) -> None:
    async def body(store: LogStore) -> None:
        await setup(store, streams=("web-1", "web-2", "db-1"))
        for n, stream in enumerate(("web-1", "web-2", "db-1")):
            batch = [
                NewEvent(T0 + 10 * i + n, f"{stream} {'ERROR' if i % 3 == 0 else 'INFO'} {i}")
                for i in range(10)
            ]
            await store.put_events(ME, "g", stream, batch, T0)
        page = await store.filter_events(ME, "g")
        assert len(page.events) == 30 and not page.more
        assert [e.timestamp for e in page.events] == sorted(e.timestamp for e in page.events)
        web = await store.filter_events(ME, "g", stream_prefix="web-")
        assert {e.stream for e in web.events} == {"web-1", "web-2"} and len(web.events) == 20
        named = await store.filter_events(ME, "g", stream_names=["db-1", "missing"])
        assert {e.stream for e in named.events} == {"db-1"}
        errors = await store.filter_events(ME, "g", match=compile_pattern("ERROR"))
        assert len(errors.events) == 12
        # A tiny scan budget gives partial (even empty) pages; resuming collects the same events.
        seen: list[str] = []
        cursor: Position | None = None
        pages = 0
        while True:
            p = await store.filter_events(
                ME, "g", match=compile_pattern("ERROR"), cursor=cursor, scan_budget=4
            )
            pages += 1
            seen += [e.message for e in p.events]
            if not p.more:
                break
            cursor = p.resume
        assert seen == [e.message for e in errors.events]
        assert pages >= 30 // 4
        newest_first = await store.filter_events(ME, "g", forward=False, limit=5)
        assert [e.timestamp for e in newest_first.events] == sorted(
            (e.timestamp for e in page.events), reverse=True
        )[:5]
        assert newest_first.more

    with_store(tmp_path, body)


def test_retention_purge_follows_the_injected_clock(tmp_path: Path) -> None:
    async def body(store: LogStore) -> None:
        await setup(store, "short")
        await setup(store, "forever")
        for group in ("short", "forever"):
            await store.put_events(
                ME, group, "s", [NewEvent(T0 + i * DAY // 2, f"e{i}") for i in range(6)], T0
            )
        await store.set_retention(ME, "short", 1)
        now = [T0 / 1000]
        enforcer = RetentionEnforcer(store, clock=lambda: now[0])
        assert (await enforcer.run_once()).expired_events == 0
        now[0] = (T0 + 3 * DAY) / 1000  # events before T0+2d are now older than one day
        result = await enforcer.run_once()
        assert result.expired_events == 4
        left = await store.read_stream(ME, "short", "s", forward=True)
        assert [e.message for e in left] == ["e4", "e5"]
        assert (await store.get_group(ME, "short")).stored_bytes == 4
        assert len(await store.read_stream(ME, "forever", "s", forward=True)) == 6
        await store.set_retention(ME, "short", None)
        now[0] = (T0 + 400 * DAY) / 1000
        assert (await enforcer.run_once()).expired_events == 0

    with_store(tmp_path, body)


def test_size_cap_trims_oldest_ingested_first(tmp_path: Path) -> None:
    async def body(store: LogStore) -> None:
        await setup(store)
        for i in range(10):
            await store.put_events(ME, "g", "s", [NewEvent(T0 + i, "x" * 100)], T0)
        enforcer = RetentionEnforcer(store, clock=lambda: T0 / 1000, max_bytes=550)
        result = await enforcer.run_once()
        assert result.trimmed_bytes == 500
        left = await store.read_stream(ME, "g", "s", forward=True)
        assert [e.timestamp for e in left] == [T0 + i for i in range(5, 10)]

    with_store(tmp_path, body)


def test_enforcer_loop_runs_until_cancelled(tmp_path: Path) -> None:
    async def body(store: LogStore) -> None:
        passes: list[float] = []

        async def fake_sleep(seconds: float) -> None:
            passes.append(seconds)
            if len(passes) == 3:
                raise asyncio.CancelledError

        enforcer = RetentionEnforcer(store, interval=60, sleep=fake_sleep)
        with pytest.raises(asyncio.CancelledError):
            await enforcer.run()
        assert passes == [60, 60, 60]

    with_store(tmp_path, body)


def test_concurrent_batches_all_land_with_increasing_ids(tmp_path: Path) -> None:
    async def body(store: LogStore) -> None:
        await setup(store, streams=tuple(f"host-{h}" for h in range(4)))

        async def ship(h: int) -> None:
            for b in range(25):
                batch = [NewEvent(T0 + b * 200 + i, f"host {h} line {b}.{i}") for i in range(200)]
                await store.put_events(ME, "g", f"host-{h}", batch, T0)

        await asyncio.gather(*(ship(h) for h in range(4)))
        for h in range(4):
            events = await store.read_stream(ME, "g", f"host-{h}", forward=True)
            assert len(events) == 5000
            assert [e.event_id for e in events] == sorted(e.event_id for e in events)
        page = await store.filter_events(ME, "g", match=compile_pattern('"line 24.199"'))
        assert sorted(e.stream for e in page.events) == [f"host-{h}" for h in range(4)]
        await store.delete_group(ME, "g")
        with pytest.raises(GroupNotFound):
            await store.get_group(ME, "g")
        assert await store.list_groups(ME) == []

    with_store(tmp_path, body)
