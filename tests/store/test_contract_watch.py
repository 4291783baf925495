"""Store contract, watches and compaction: ordering, resume, prefixes, live-only watches, slow
watchers, compaction and close. Runs against every backend."""

from __future__ import annotations

import asyncio

import pytest

from stowage.store.base import (
    Compacted,
    Delete,
    EventType,
    FutureRevision,
    KeyValue,
    Put,
    Store,
    StoreUnavailable,
)
from tests.store.conftest import Backend
from tests.store.helpers import collect, next_batch, summary


def test_watch_delivers_every_change_in_order_with_prev_kv(backend: Backend) -> None:
    async def body(store: Store) -> None:
        r0 = await store.revision()
        await store.put("w/a", b"1")
        await store.put("w/b", b"1")
        await store.put("w/a", b"2")
        await store.delete("w/b")
        await store.txn([], [Put("w/c", b"1"), Put("w/d", b"1")])
        watch = store.watch("w/", start_revision=r0 + 1)
        events, batches = await collect(watch, 6)
        await watch.close()
        assert summary(events) == [
            ("PUT", "w/a", r0 + 1, b"1"),
            ("PUT", "w/b", r0 + 2, b"1"),
            ("PUT", "w/a", r0 + 3, b"2"),
            ("DELETE", "w/b", r0 + 4, b""),
            ("PUT", "w/c", r0 + 5, b"1"),
            ("PUT", "w/d", r0 + 5, b"1"),
        ]
        assert events[0].prev_kv is None
        assert events[2].kv == KeyValue("w/a", b"2", r0 + 1, r0 + 3, 2)
        assert events[2].prev_kv == KeyValue("w/a", b"1", r0 + 1, r0 + 1, 1)
        assert events[3].type is EventType.DELETE
        assert events[3].prev_kv == KeyValue("w/b", b"1", r0 + 2, r0 + 2, 1)
        # both events of the txn's one revision arrive in the same batch
        assert any(
            [e.kv.key for e in batch if e.kv.mod_revision == r0 + 5] == ["w/c", "w/d"] for batch in batches
        )

    backend.run(body)


def test_watch_resumes_from_any_revision_and_then_follows_live(backend: Backend) -> None:
    async def body(store: Store) -> None:
        revs = [await store.put(f"r/{i}", str(i).encode()) for i in range(10)]
        watch = store.watch("r/", start_revision=revs[6])
        events, _ = await collect(watch, 4)
        assert [e.kv.key for e in events] == ["r/6", "r/7", "r/8", "r/9"]
        live = await store.put("r/live", b"x")
        more, _ = await collect(watch, 1)
        assert summary(more) == [("PUT", "r/live", live, b"x")]
        await watch.close()

    backend.run(body)


def test_watch_of_a_prefix_sees_only_that_prefix(backend: Backend) -> None:
    async def body(store: Store) -> None:
        r0 = await store.revision()
        watch = store.watch("a/", start_revision=r0 + 1)
        await store.put("a/1", b"x")
        await store.put("b/1", b"x")
        await store.put("a", b"x")
        await store.put("a0", b"x")
        await store.txn([], [Put("b/2", b"x"), Put("a/2", b"x")])
        await store.txn([], [Delete("", prefix=True)])
        events, _ = await collect(watch, 4)
        await watch.close()
        assert [(e.type.value, e.kv.key) for e in events] == [
            ("PUT", "a/1"),
            ("PUT", "a/2"),
            ("DELETE", "a/1"),
            ("DELETE", "a/2"),
        ]
        assert {e.kv.mod_revision for e in events[2:]} == {r0 + 6}

    backend.run(body)


def test_live_only_watch_sees_changes_after_it_started(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await store.put("live/old", b"before")
        watch = store.watch("live/")
        await watch.started()
        rev = await store.put("live/new", b"after")
        await store.put("elsewhere", b"x")
        rev2 = await store.delete("live/old")
        events, _ = await collect(watch, 2)
        await watch.close()
        assert summary(events) == [("PUT", "live/new", rev, b"after"), ("DELETE", "live/old", rev2, b"")]

    backend.run(body)


def test_several_watchers_see_the_same_history(backend: Backend) -> None:
    async def body(store: Store) -> None:
        r0 = await store.revision()
        watches = [store.watch("m/", start_revision=r0 + 1) for _ in range(3)]
        writes = [store.put(f"m/{i % 7}", str(i).encode()) for i in range(50)]
        await asyncio.gather(*writes)
        seen = [summary((await collect(w, 50))[0]) for w in watches]
        for w in watches:
            await w.close()
        assert seen[0] == seen[1] == seen[2]
        assert [rev for _, _, rev, _ in seen[0]] == list(range(r0 + 1, r0 + 51))

    backend.run(body)


def test_slow_watcher_catches_up_without_losing_events(backend: Backend) -> None:
    count = 3000

    async def body(store: Store) -> None:
        r0 = await store.revision()
        watch = store.watch("slow/", start_revision=r0 + 1)
        it = watch.__aiter__()
        # the watcher reads nothing while all of this is written
        for chunk in range(0, count, 500):
            await asyncio.gather(
                *(store.put(f"slow/{i % 97}", str(i).encode()) for i in range(chunk, chunk + 500))
            )
        events: list[tuple[int, bytes]] = []
        while len(events) < count:
            events.extend((e.kv.mod_revision, e.kv.value) for e in await next_batch(it))
        await watch.close()
        assert [rev for rev, _ in events] == list(range(r0 + 1, r0 + 1 + count))
        values = sorted(int(v) for _, v in events)
        assert values == list(range(count))

    backend.run(body)


def test_compaction_keeps_values_and_makes_old_revisions_unwatchable(backend: Backend) -> None:
    async def body(store: Store) -> None:
        revs = [await store.put("c/k", str(i).encode()) for i in range(6)]
        await store.put("c/other", b"x")
        await store.compact(revs[3])
        # current values survive compaction
        kv = await store.get("c/k")
        assert kv is not None and kv.value == b"5" and kv.version == 6
        # the compaction point itself is still watchable (etcd's rule) ...
        watch = store.watch("c/", start_revision=revs[3])
        events, _ = await collect(watch, 4)
        await watch.close()
        assert [e.kv.value for e in events] == [b"3", b"4", b"5", b"x"]
        # ... anything before it is gone
        old = store.watch("c/", start_revision=revs[2])
        with pytest.raises(Compacted) as gone:
            await collect(old, 1)
        assert gone.value.compact_revision >= revs[2]
        await old.close()
        with pytest.raises(Compacted):
            await store.compact(revs[3])
        with pytest.raises(Compacted):
            await store.compact(revs[1])
        with pytest.raises(FutureRevision):
            await store.compact(await store.revision() + 100)

    backend.run(body)


def test_compaction_up_to_the_current_revision(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await store.put("cc/a", b"1")
        rev = await store.put("cc/a", b"2")
        await store.compact(rev)
        watch = store.watch("cc/", start_revision=rev)
        events, _ = await collect(watch, 1)
        assert summary(events) == [("PUT", "cc/a", rev, b"2")]
        nxt = await store.put("cc/a", b"3")
        more, _ = await collect(watch, 1)
        assert summary(more) == [("PUT", "cc/a", nxt, b"3")]
        await watch.close()

    backend.run(body)


def test_closing_a_watch_ends_its_iteration(backend: Backend) -> None:
    async def body(store: Store) -> None:
        watch = store.watch("cl/")
        await watch.started()
        received: list[int] = []
        got_one = asyncio.Event()

        async def consume() -> None:
            async for batch in watch:
                received.extend(e.kv.mod_revision for e in batch)
                got_one.set()

        task = asyncio.create_task(consume())
        rev = await store.put("cl/1", b"x")
        await asyncio.wait_for(got_one.wait(), 30)
        await watch.close()
        await asyncio.wait_for(task, 10)  # ends cleanly, no exception
        assert received == [rev]

    backend.run(body)


def test_closing_the_store_fails_its_watches(backend: Backend) -> None:
    async def body(store: Store) -> None:
        watch = store.watch("cs/")
        await watch.started()

        async def consume() -> None:
            async for _ in watch:
                pass

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.05)
        await store.close()
        with pytest.raises(StoreUnavailable):
            await asyncio.wait_for(task, 10)

    backend.run(body)
