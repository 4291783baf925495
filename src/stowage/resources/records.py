"""JSON records on the store: create, read, list, and read-modify-write with compare-and-swap.

Every resource (cluster, task definition, capacity provider, ...) is one JSON document under
one key. Writers never overwrite blindly: ``update`` re-reads and retries when another writer
got there first, so concurrent API calls and controllers compose safely.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from stowage.store.base import Compare, CompareFailed, Op, Put, Store, TxnResult

Doc = dict[str, Any]

MAX_CAS_RETRIES = 64


class RecordExists(Exception):
    def __init__(self, key: str, current: Record) -> None:
        super().__init__(f"{key} exists")
        self.key = key
        self.current = current


class RecordMissing(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(f"{key} does not exist")
        self.key = key


class ContentionError(Exception):
    """A read-modify-write lost its compare-and-swap ``MAX_CAS_RETRIES`` times in a row."""


@dataclass(frozen=True, slots=True)
class Record:
    key: str
    doc: Doc
    mod_revision: int


def encode(doc: Doc) -> bytes:
    return orjson.dumps(doc)


def decode(raw: bytes) -> Doc:
    value = orjson.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("stored record is not a JSON object")
    return value


class HandedDocs:
    """Documents this process just wrote, with the exact bytes it stored, for its own watchers.

    The embedded store hands a watcher the very ``bytes`` object that was written, so the ECS
    informer can take the document from here (``doc_of``) instead of decoding it again: each
    task is written twice on its way to RUNNING, and its instance record (dozens of attributes)
    with it. Identity, not equality, is the check, so a value from anywhere else (etcd, a watch
    replayed from history, another process's write) is always decoded. Only writers that never
    touch a document after writing it hand it over (``Records.commit(..., hand_over=True)``).
    Bounded: what no watcher takes (a failed compare, a key nobody watches) is dropped after
    ``limit`` newer documents."""

    def __init__(self, limit: int = 4096) -> None:
        self._docs: dict[str, tuple[bytes, Doc]] = {}
        self._limit = limit

    def keep(self, key: str, raw: bytes, doc: Doc) -> None:
        docs = self._docs
        docs.pop(key, None)
        docs[key] = (raw, doc)
        if len(docs) > self._limit:
            del docs[next(iter(docs))]

    def doc_of(self, key: str, raw: bytes) -> Doc:
        """The document stored as ``raw`` under ``key``."""
        kept = self._docs.get(key)
        if kept is not None and kept[0] is raw:
            del self._docs[key]
            return kept[1]
        return decode(raw)


HANDED = HandedDocs()


class Records:
    """Record access for one store. Stateless apart from the store: cheap to share."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def get(self, key: str) -> Record | None:
        kv = await self.store.get(key)
        return None if kv is None else Record(key, decode(kv.value), kv.mod_revision)

    async def create(self, key: str, doc: Doc) -> Record:
        """Write ``doc`` if ``key`` is absent; else raise ``RecordExists`` with what is there."""
        while True:
            try:
                rev = await self.store.put(key, encode(doc), expect_mod_revision=0)
                return Record(key, doc, rev)
            except CompareFailed as lost:
                if lost.current is not None:
                    raise RecordExists(
                        key, Record(key, decode(lost.current.value), lost.current.mod_revision)
                    ) from None

    async def put(self, key: str, doc: Doc) -> Record:
        """Unconditional write, for records that have one writer by construction."""
        rev = await self.store.put(key, encode(doc))
        return Record(key, doc, rev)

    async def update(self, key: str, change: Callable[[Doc], Doc | None]) -> Record:
        """Apply ``change`` to the current document and write it back with CAS, retrying on
        conflict. ``change`` gets a private copy; returning None leaves the record unchanged.
        Raises ``RecordMissing`` if the key does not exist; whatever ``change`` raises passes
        through (handlers raise their API errors from inside it)."""
        for _ in range(MAX_CAS_RETRIES):
            kv = await self.store.get(key)
            if kv is None:
                raise RecordMissing(key)
            new = change(decode(kv.value))
            if new is None:
                return Record(key, decode(kv.value), kv.mod_revision)
            try:
                rev = await self.store.put(key, encode(new), expect_mod_revision=kv.mod_revision)
                return Record(key, new, rev)
            except CompareFailed:
                continue
        raise ContentionError(f"too much contention on {key}")

    async def delete(self, key: str, *, expect_mod_revision: int | None = None) -> None:
        await self.store.delete(key, expect_mod_revision=expect_mod_revision)

    async def list(
        self, prefix: str, *, start_after: str | None = None, limit: int = 0
    ) -> tuple[list[Record], bool]:
        """Records under ``prefix`` in key order; the bool says whether more follow."""
        result = await self.store.range(prefix, start_after=start_after, limit=limit)
        return [Record(kv.key, decode(kv.value), kv.mod_revision) for kv in result.kvs], result.more

    async def commit(
        self,
        compares: Sequence[Compare],
        writes: Sequence[tuple[str, Doc]],
        extra: Sequence[Op] = (),
        *,
        hand_over: bool = False,
    ) -> TxnResult:
        """Several records at once, all or nothing, guarded by ``compares``. ``hand_over``:
        the caller never changes these documents again, so this process's watchers may take
        them as they are (``HandedDocs``)."""
        ops: list[Op] = []
        for key, doc in writes:
            raw = encode(doc)
            ops.append(Put(key, raw))
            if hand_over:
                HANDED.keep(key, raw, doc)
        ops.extend(extra)
        return await self.store.txn(compares, ops)
