"""Store contract, reads and writes: revisions, versions, ranges, guarded writes and txns.

Runs against every backend. Revisions are asserted relative to the store's revision at the
start of the test, because an etcd server shared by the session has its own history."""

from __future__ import annotations

import pytest

from stowage.store.base import (
    Compare,
    CompareFailed,
    Delete,
    Get,
    KeyValue,
    Put,
    Store,
    StoreUnavailable,
)
from tests.store.conftest import Backend


def test_put_get_revisions_and_versions(backend: Backend) -> None:
    async def body(store: Store) -> None:
        r0 = await store.revision()
        assert await store.get("a") is None
        assert await store.put("a", b"one") == r0 + 1
        assert await store.get("a") == KeyValue("a", b"one", r0 + 1, r0 + 1, 1)
        assert await store.put("b", b"bee") == r0 + 2
        assert await store.put("a", b"two") == r0 + 3
        assert await store.get("a") == KeyValue("a", b"two", r0 + 1, r0 + 3, 2)
        assert await store.revision() == r0 + 3
        # writing the same value again is still a write: new revision, new version
        assert await store.put("a", b"two") == r0 + 4
        assert await store.get("a") == KeyValue("a", b"two", r0 + 1, r0 + 4, 3)
        assert await store.put("empty", b"") == r0 + 5
        assert await store.get("empty") == KeyValue("empty", b"", r0 + 5, r0 + 5, 1)

    backend.run(body)


def test_delete_revisions(backend: Backend) -> None:
    async def body(store: Store) -> None:
        r0 = await store.revision()
        await store.put("k", b"v")
        await store.put("k", b"w")
        assert await store.delete("k") == r0 + 3
        assert await store.get("k") is None
        # deleting a missing key writes nothing: the revision does not move
        assert await store.delete("k") == r0 + 3
        assert await store.revision() == r0 + 3
        # a re-created key starts over: new create_revision, version 1
        assert await store.put("k", b"again") == r0 + 4
        assert await store.get("k") == KeyValue("k", b"again", r0 + 4, r0 + 4, 1)

    backend.run(body)


def test_range_by_prefix_in_byte_order(backend: Backend) -> None:
    keys = ["p/b", "p/a", "p/é", "p/z", "p/a/1", "p", "p0", "q/a", "o/z"]

    async def body(store: Store) -> None:
        for k in keys:
            await store.put(k, k.encode())
        current = await store.revision()
        result = await store.range("p/")
        # UTF-8 byte order: "é" (0xc3 0xa9) sorts after "z" (0x7a)
        assert [kv.key for kv in result.kvs] == ["p/a", "p/a/1", "p/b", "p/z", "p/é"]
        assert [kv.value for kv in result.kvs] == [b"p/a", b"p/a/1", b"p/b", b"p/z", "p/é".encode()]
        assert result.more is False
        assert result.revision == current
        everything = await store.range("")
        assert [kv.key for kv in everything.kvs] == sorted(keys, key=lambda k: k.encode())
        assert (await store.range("nothing/")).kvs == []
        assert [kv.key for kv in (await store.range("p")).kvs] == [
            "p",
            "p/a",
            "p/a/1",
            "p/b",
            "p/z",
            "p/é",
            "p0",
        ]

    backend.run(body)


def test_range_pagination_with_limit_and_start_after(backend: Backend) -> None:
    async def body(store: Store) -> None:
        names = [f"page/{i:03d}" for i in range(23)]
        for n in reversed(names):
            await store.put(n, b"x")
        await store.put("pagf", b"outside")  # right after the prefix in byte order
        seen: list[str] = []
        start_after: str | None = None
        pages = 0
        while True:
            result = await store.range("page/", start_after=start_after, limit=5)
            pages += 1
            assert len(result.kvs) <= 5
            seen.extend(kv.key for kv in result.kvs)
            if not result.more:
                break
            start_after = result.kvs[-1].key
        assert seen == names
        assert pages == 5  # 5+5+5+5+3, the last page says no more
        exact = await store.range("page/", limit=23)
        assert len(exact.kvs) == 23 and exact.more is False
        cut = await store.range("page/", limit=22)
        assert len(cut.kvs) == 22 and cut.more is True
        after_last = await store.range("page/", start_after="page/022", limit=5)
        assert after_last.kvs == [] and after_last.more is False
        # start_after before the prefix changes nothing
        assert [kv.key for kv in (await store.range("page/", start_after="a", limit=2)).kvs] == names[:2]
        # start_after need not be an existing key
        assert [kv.key for kv in (await store.range("page/", start_after="page/0105")).kvs] == names[11:]

    backend.run(body)


def test_put_and_delete_with_expected_mod_revision(backend: Backend) -> None:
    async def body(store: Store) -> None:
        rev = await store.put("cas", b"1", expect_mod_revision=0)  # 0: must not exist
        with pytest.raises(CompareFailed) as lost:
            await store.put("cas", b"2", expect_mod_revision=0)
        assert lost.value.key == "cas"
        assert lost.value.current == KeyValue("cas", b"1", rev, rev, 1)
        with pytest.raises(CompareFailed):
            await store.put("cas", b"2", expect_mod_revision=rev - 1)
        rev2 = await store.put("cas", b"2", expect_mod_revision=rev)
        assert rev2 == rev + 1
        with pytest.raises(CompareFailed) as lost_delete:
            await store.delete("cas", expect_mod_revision=rev)
        assert lost_delete.value.current is not None and lost_delete.value.current.mod_revision == rev2
        assert await store.delete("cas", expect_mod_revision=rev2) == rev2 + 1
        with pytest.raises(CompareFailed) as gone:
            await store.put("cas", b"3", expect_mod_revision=rev2)
        assert gone.value.current is None
        assert await store.get("cas") is None

    backend.run(body)


COMPARE_CASES = [
    # (target, op, operand, holds on present key "k" (created at r0+1, mod r0+2, version 2, value b"v2"))
    ("mod", "==", "mod", True),
    ("mod", "!=", "mod", False),
    ("mod", "<", "mod+1", True),
    ("mod", ">", "mod-1", True),
    ("mod", ">", "mod", False),
    ("create", "==", "create", True),
    ("create", "==", 0, False),
    ("create", "<", "mod", True),
    ("version", "==", 2, True),
    ("version", ">", 1, True),
    ("version", "<", 2, False),
    ("version", "!=", 0, True),
    ("value", "==", b"v2", True),
    ("value", "!=", b"v2", False),
    ("value", "<", b"v3", True),
    ("value", ">", b"v1", True),
    ("value", ">", b"v2", False),
]


@pytest.mark.parametrize(("target", "op", "operand", "holds"), COMPARE_CASES)
def test_txn_compare_on_present_key(
    backend: Backend, target: str, op: str, operand: object, holds: bool
) -> None:
    async def body(store: Store) -> None:
        created = await store.put("k", b"v1")
        mod = await store.put("k", b"v2")
        symbolic = {"mod": mod, "mod+1": mod + 1, "mod-1": mod - 1, "create": created}
        value = symbolic[operand] if isinstance(operand, str) else operand
        compare = Compare("k", target, op, value)  # type: ignore[arg-type]
        result = await store.txn([compare], [Put("won", b"yes")], [Put("lost", b"yes")])
        assert result.succeeded is holds
        assert result.revision == mod + 1
        assert (await store.get("won" if holds else "lost")) is not None
        assert (await store.get("lost" if holds else "won")) is None

    backend.run(body)


@pytest.mark.parametrize(
    ("target", "op", "operand", "holds"),
    [
        ("create", "==", 0, True),
        ("mod", "==", 0, True),
        ("version", "==", 0, True),
        ("version", ">", 0, False),
        ("mod", ">", 0, False),
        # etcd's rule: a value compare on a missing key fails whatever the operator
        ("value", "==", b"", False),
        ("value", "!=", b"x", False),
        ("value", ">", b"", False),
    ],
)
def test_txn_compare_on_absent_key(
    backend: Backend, target: str, op: str, operand: object, holds: bool
) -> None:
    async def body(store: Store) -> None:
        await store.put("other", b"x")
        result = await store.txn([Compare("absent", target, op, operand)], [Get("absent")], [Get("other")])  # type: ignore[arg-type]
        assert result.succeeded is holds
        if holds:
            assert result.results == [None]
        else:
            assert isinstance(result.results[0], KeyValue) and result.results[0].key == "other"

    backend.run(body)


def test_txn_results_and_one_revision_for_all_its_writes(backend: Backend) -> None:
    async def body(store: Store) -> None:
        r0 = await store.revision()
        await store.put("t/gone", b"old")
        await store.put("t/read", b"r")
        result = await store.txn(
            [Compare.absent("t/new"), Compare("t/read", "value", "==", b"r")],
            [Put("t/new", b"n"), Put("t/other", b"o"), Delete("t/gone"), Delete("t/missing"), Get("t/read")],
        )
        assert result.succeeded
        assert result.revision == r0 + 3
        assert result.results[:4] == [r0 + 3, r0 + 3, 1, 0]
        read = result.results[4]
        assert isinstance(read, KeyValue) and read.value == b"r" and read.mod_revision == r0 + 2
        assert (await store.get("t/new")) == KeyValue("t/new", b"n", r0 + 3, r0 + 3, 1)
        assert (await store.get("t/other")) == KeyValue("t/other", b"o", r0 + 3, r0 + 3, 1)
        assert await store.get("t/gone") is None
        # a txn that writes nothing leaves the revision alone, whichever branch ran
        for compares in ([], [Compare.absent("t/new")]):
            quiet = await store.txn(compares, [Get("t/new")], [Get("t/other")])
            assert quiet.revision == r0 + 3
            assert len(quiet.results) == 1
        assert await store.revision() == r0 + 3
        # a failed compare with an empty failure branch does nothing at all
        failed = await store.txn([Compare.absent("t/new")], [Put("t/new", b"overwritten")])
        assert failed.succeeded is False and failed.results == [] and failed.revision == r0 + 3
        assert (await store.get("t/new")) is not None and (await store.get("t/new")).value == b"n"  # type: ignore[union-attr]

    backend.run(body)


def test_prefix_delete(backend: Backend) -> None:
    async def body(store: Store) -> None:
        for k in ["d/1", "d/2", "d/3/x", "d", "d0", "e/1"]:
            await store.put(k, b"v")
        r = await store.revision()
        result = await store.txn([], [Delete("d/", prefix=True)])
        assert result.results == [3]
        assert result.revision == r + 1  # all three deletions at one revision
        assert [kv.key for kv in (await store.range("")).kvs] == ["d", "d0", "e/1"]
        # a prefix matching nothing deletes nothing and writes nothing
        empty = await store.txn([], [Delete("zzz/", prefix=True)])
        assert empty.results == [0] and empty.revision == r + 1

    backend.run(body)


def test_compare_operand_of_the_wrong_type_is_rejected(backend: Backend) -> None:
    async def body(store: Store) -> None:
        with pytest.raises(TypeError):
            await store.txn([Compare("k", "mod", "==", b"1")], [Put("k", b"v")])
        with pytest.raises(TypeError):
            await store.txn([Compare("k", "value", "==", 1)], [Put("k", b"v")])
        assert await store.get("k") is None
        # the store keeps working after a rejected call
        assert await store.put("k", b"v") == await store.revision()

    backend.run(body)


def test_closed_store_is_unavailable(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await store.put("k", b"v")
        await store.close()
        with pytest.raises(StoreUnavailable):
            await store.get("k")
        with pytest.raises(StoreUnavailable):
            await store.put("k", b"w")
        await store.close()  # closing twice is harmless

    backend.run(body)
