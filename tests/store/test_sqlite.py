"""SQLite backend specifics: restart, the data-dir lock, group commit and watch catch-up."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from stowage.store.base import Compacted, Delete, KeyValue, StoreUnavailable
from stowage.store.sqlite import DB_NAME, SqliteStore
from tests.store.helpers import collect, next_batch


def test_reopen_keeps_values_history_and_revision(tmp_path: Path) -> None:
    async def first() -> int:
        store = SqliteStore(tmp_path)
        await store.put("a", b"1")
        await store.put("a", b"2")
        rev = await store.put("b", b"1")
        await store.close()
        return rev

    async def second(last: int) -> None:
        store = SqliteStore(tmp_path)
        assert await store.revision() == last
        assert await store.get("a") == KeyValue("a", b"2", last - 2, last - 1, 2)
        # history survives: a watch replays what the previous process wrote
        events, _ = await collect(store.watch("", start_revision=1), 3)
        assert [(e.kv.key, e.kv.value) for e in events] == [("a", b"1"), ("a", b"2"), ("b", b"1")]
        assert await store.put("c", b"1") == last + 1
        await store.close()

    last = asyncio.run(first())
    asyncio.run(second(last))


def test_revision_stays_monotonic_when_every_key_and_all_history_are_gone(tmp_path: Path) -> None:
    async def wipe() -> int:
        store = SqliteStore(tmp_path)
        for i in range(5):
            await store.put(f"k{i}", b"v")
        result = await store.txn([], [Delete("", prefix=True)])
        await store.compact(result.revision)
        await store.close()
        return result.revision

    async def reopen(last: int) -> None:
        store = SqliteStore(tmp_path)
        assert await store.revision() == last
        assert (await store.range("")).kvs == []
        with pytest.raises(Compacted):
            await collect(store.watch("", start_revision=1), 1)
        with pytest.raises(Compacted):  # the compaction point survived the restart too
            await store.compact(last)
        assert await store.put("k0", b"again") == last + 1
        await store.close()

    last = asyncio.run(wipe())
    asyncio.run(reopen(last))


def test_a_data_dir_is_owned_by_one_store_at_a_time(tmp_path: Path) -> None:
    async def body() -> None:
        store = SqliteStore(tmp_path)
        with pytest.raises(StoreUnavailable, match="in use"):
            SqliteStore(tmp_path)
        await store.close()
        again = SqliteStore(tmp_path)  # free once closed
        await again.close()

    asyncio.run(body())


def test_group_commit_batches_concurrent_writes(tmp_path: Path) -> None:
    async def body() -> None:
        store = SqliteStore(tmp_path)
        before = store.commits
        revs = await asyncio.gather(*(store.put(f"g/{i}", b"x" * 100) for i in range(1000)))
        commits = store.commits - before
        assert len(set(revs)) == 1000
        # 1000 writes issued together need far fewer commits (fsyncs) than writes
        assert 1 <= commits < 200
        await store.close()

    asyncio.run(body())


def test_database_uses_wal_and_full_sync(tmp_path: Path) -> None:
    async def body() -> None:
        store = SqliteStore(tmp_path)
        await store.put("k", b"v")
        conn = sqlite3.connect(tmp_path / DB_NAME)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT value FROM kv WHERE key = 'k'").fetchone()[0] == b"v"
        conn.close()
        await store.close()

    asyncio.run(body())


def test_watcher_that_overflows_its_buffer_catches_up_from_history(tmp_path: Path) -> None:
    async def body() -> None:
        store = SqliteStore(tmp_path, watch_buffer=50)
        r0 = await store.revision()
        watch = store.watch("o/")
        await watch.started()
        it = watch.__aiter__()
        first = await store.put("o/first", b"0")
        got = await next_batch(it)
        assert [e.kv.mod_revision for e in got] == [first]
        # now fall far behind the 50-event buffer without reading
        for chunk in range(4):
            await asyncio.gather(*(store.put(f"o/{i}", b"x") for i in range(chunk * 100, chunk * 100 + 100)))
        revs: list[int] = []
        while len(revs) < 400:
            revs.extend(e.kv.mod_revision for e in await next_batch(it))
        assert revs == list(range(r0 + 2, r0 + 402))
        await watch.close()
        await store.close()

    asyncio.run(body())


def test_a_watcher_that_falls_behind_a_compaction_gets_compacted(tmp_path: Path) -> None:
    async def body() -> None:
        store = SqliteStore(tmp_path, watch_buffer=10)
        watch = store.watch("f/")
        await watch.started()
        it = watch.__aiter__()
        await store.put("f/0", b"x")
        await next_batch(it)
        revs = await asyncio.gather(*(store.put(f"f/{i}", b"x") for i in range(1, 50)))
        await store.compact(max(revs))
        with pytest.raises(Compacted):
            await next_batch(it)
        await store.close()

    asyncio.run(body())
