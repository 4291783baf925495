"""Every backend behaves like the reference: a seeded random sequence of operations (puts,
deletes, guarded writes, txns, prefix deletes, paged ranges) is applied to the memory store and
to the backend under test; every answer and the full watch history must match, with revisions
taken relative to each store's starting revision."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from stowage.store.base import (
    Compare,
    CompareFailed,
    Delete,
    Event,
    Get,
    KeyValue,
    Op,
    Put,
    Store,
)
from stowage.store.memory import MemoryStore
from tests.store.conftest import Backend
from tests.store.helpers import next_batch

KEYS = ["a", "a/1", "a/2", "a/2/x", "b", "b/1", "c/é", "c/z"]
STEPS = 400


def norm_kv(kv: KeyValue | None, r0: int) -> Any:
    if kv is None:
        return None
    create = kv.create_revision - r0 if kv.create_revision else 0
    return (kv.key, kv.value, create, kv.mod_revision - r0, kv.version)


def norm_event(e: Event, r0: int) -> Any:
    return (e.type.value, norm_kv(e.kv, r0), norm_kv(e.prev_kv, r0))


def random_compare(rng: random.Random, revision: int) -> Compare:
    key = rng.choice(KEYS)
    target = rng.choice(["mod", "create", "version", "value"])
    op = rng.choice(["==", "!=", "<", ">"])
    if target == "value":
        return Compare(key, target, op, rng.choice([b"", b"v1", b"v2", b"v3"]))  # type: ignore[arg-type]
    if target == "version":
        return Compare(key, target, op, rng.randrange(0, 4))  # type: ignore[arg-type]
    return Compare(key, target, op, rng.choice([0, revision, max(0, revision - rng.randrange(1, 5))]))  # type: ignore[arg-type]


def random_ops(rng: random.Random) -> list[Op]:
    # distinct keys: etcd rejects a txn that writes one key twice
    keys = rng.sample(KEYS, rng.randrange(0, 3))
    ops: list[Op] = []
    for k in keys:
        kind = rng.random()
        if kind < 0.5:
            ops.append(Put(k, rng.choice([b"v1", b"v2", b"v3"])))
        elif kind < 0.75:
            ops.append(Get(k))
        else:
            ops.append(Delete(k))
    return ops


async def step(store: Store, r0: int, rng: random.Random) -> Any:
    """One random operation; the answer with revisions made relative to ``r0``."""
    choice = rng.random()
    key = rng.choice(KEYS)
    rel = await store.revision() - r0
    try:
        if choice < 0.25:
            return ("put", await store.put(key, rng.choice([b"v1", b"v2", b"v3"])) - r0)
        if choice < 0.35:
            return ("delete", await store.delete(key) - r0)
        if choice < 0.5:
            kv = await store.get(key)
            expect = kv.mod_revision if kv and rng.random() < 0.6 else rng.choice([0, 1 + r0])
            return ("cas", await store.put(key, b"cas", expect_mod_revision=expect) - r0)
        if choice < 0.7:
            compares = [random_compare(rng, rel + r0) for _ in range(rng.randrange(0, 3))]
            success, failure = random_ops(rng), random_ops(rng)
            result = await store.txn(compares, success, failure)
            applied = success if result.succeeded else failure
            results: list[Any] = []
            for op, x in zip(applied, result.results, strict=True):
                if isinstance(op, Get):
                    assert x is None or isinstance(x, KeyValue)
                    results.append(norm_kv(x, r0))
                elif isinstance(op, Put):
                    assert isinstance(x, int)
                    results.append(x - r0)  # a revision
                else:
                    results.append(x)  # a count
            return ("txn", result.succeeded, result.revision - r0, results)
        if choice < 0.75:
            prefix = rng.choice(["a/", "b", "c/", "zz"])
            result = await store.txn([], [Delete(prefix, prefix=True)])
            return ("delete-prefix", result.revision - r0, result.results)
        prefix = rng.choice(["", "a", "a/", "b/", "c/"])
        limit = rng.choice([0, 1, 2, 3])
        pages, start_after = [], None
        while True:
            page = await store.range(prefix, start_after=start_after, limit=limit)
            pages.append(([norm_kv(kv, r0) for kv in page.kvs], page.more, page.revision - r0))
            if not page.more:
                return ("range", pages)
            start_after = page.kvs[-1].key
    except CompareFailed as lost:
        return ("cas-failed", norm_kv(lost.current, r0))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_backend_matches_the_reference(durable_backend: Backend, seed: int) -> None:
    async def run(store: Store) -> tuple[list[Any], list[Any]]:
        rng = random.Random(seed)
        r0 = await store.revision()
        answers = [await step(store, r0, rng) for _ in range(STEPS)]
        final = await store.revision()
        events: list[Any] = []
        if final > r0:
            watch = store.watch("", start_revision=r0 + 1)
            it = watch.__aiter__()
            while not events or events[-1][1][3] < final - r0:
                batch = await next_batch(it)
                events.extend(norm_event(e, r0) for e in batch)
            await watch.close()
        return answers, events

    async def reference() -> tuple[list[Any], list[Any]]:
        store = MemoryStore()
        try:
            return await run(store)
        finally:
            await store.close()

    expected = asyncio.run(reference())
    actual = durable_backend.run(run)
    kinds = {a[0] for a in expected[0]}
    assert kinds >= {"put", "delete", "cas", "cas-failed", "txn", "delete-prefix", "range"}
    assert {a[1] for a in expected[0] if a[0] == "txn"} == {True, False}
    for i, (want, got) in enumerate(zip(expected[0], actual[0], strict=True)):
        assert got == want, f"step {i} differs"
    assert actual[1] == expected[1]
