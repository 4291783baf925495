"""The revisioned key-value store contract: the only shared state of the control plane.

The semantics are etcd v3's, so the SQLite backend (embedded default) and the etcd backend
(highly available) are interchangeable and pass one contract suite (tests/store/):

- Every write bumps one store-wide ``revision``. A key remembers the revision that created it
  (``create_revision``), the one that last changed it (``mod_revision``) and how many times it
  was written since creation (``version``).
- ``txn`` is the only compound write: compare a set of keys' revisions or values, then apply
  one list of operations or the other, atomically, at one new revision.
- ``watch(prefix, start_revision)`` delivers every change under a prefix in revision order,
  resuming from any revision that has not been compacted; older ones raise ``Compacted`` so the
  watcher re-lists (Kubernetes' 410 Gone works the same way).
- ``compact(r)`` works as etcd's: history *before* ``r`` is forgotten, so a watch may still start
  at ``r`` itself; a watch from ``r - 1`` or earlier raises ``Compacted(compact_revision=r)``.

Keys are ``str`` (UTF-8 in the backend), values are ``bytes`` (the resources layer stores JSON).
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol


class StoreError(Exception):
    """Base class of every error a store raises."""


class Compacted(StoreError):
    """The requested revision is older than the store's compaction point.

    ``compact_revision`` is that point: the oldest revision a watch can still start from."""

    def __init__(self, requested: int, compact_revision: int) -> None:
        super().__init__(
            f"revision {requested} has been compacted; the oldest available revision is {compact_revision}"
        )
        self.requested = requested
        self.compact_revision = compact_revision


class FutureRevision(StoreError):
    """The requested revision is newer than the store's current revision."""


class StoreUnavailable(StoreError):
    """The backend cannot be reached (etcd down, database closed)."""


class CompareFailed(StoreError):
    """A guarded ``put`` or ``delete`` lost its compare-and-swap."""

    def __init__(self, key: str, current: KeyValue | None) -> None:
        super().__init__(f"compare failed on {key!r}")
        self.key = key
        self.current = current


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    value: bytes
    create_revision: int
    mod_revision: int
    version: int


class EventType(enum.Enum):
    PUT = "PUT"
    DELETE = "DELETE"


@dataclass(frozen=True, slots=True)
class Event:
    """One change. For DELETE, ``kv.value`` is empty and ``kv.mod_revision`` is the deletion's
    revision; ``prev_kv`` is the value before the change (None for a create)."""

    type: EventType
    kv: KeyValue
    prev_kv: KeyValue | None


@dataclass(frozen=True, slots=True)
class RangeResult:
    kvs: list[KeyValue]
    more: bool
    """True when ``limit`` cut the answer: continue with ``start_after=kvs[-1].key``."""
    revision: int
    """The store revision the read was served at."""


CompareTarget = Literal["mod", "create", "version", "value"]
CompareOp = Literal["==", "!=", "<", ">"]


@dataclass(frozen=True, slots=True)
class Compare:
    """A txn guard. A missing key has mod/create revision 0 and version 0; any compare on the
    value of a missing key fails (etcd's rule: there is no value to compare)."""

    key: str
    target: CompareTarget
    op: CompareOp
    operand: int | bytes

    @classmethod
    def mod_revision(cls, key: str, revision: int) -> Compare:
        return cls(key, "mod", "==", revision)

    @classmethod
    def absent(cls, key: str) -> Compare:
        return cls(key, "create", "==", 0)


@dataclass(frozen=True, slots=True)
class Put:
    key: str
    value: bytes


@dataclass(frozen=True, slots=True)
class Delete:
    key: str
    prefix: bool = False
    """Delete every key starting with ``key``."""


@dataclass(frozen=True, slots=True)
class Get:
    key: str


Op = Put | Delete | Get


@dataclass(frozen=True, slots=True)
class TxnResult:
    succeeded: bool
    revision: int
    """The store revision after the txn (unchanged if it wrote nothing)."""
    results: list[KeyValue | int | None]
    """One per applied op: Get → KeyValue | None; Put → the key's new mod_revision;
    Delete → the number of keys deleted."""


class Watch(Protocol):
    """A running watch. Iterate for batches of events (all events of one revision arrive in
    the same batch); ``close`` ends it. Raises ``Compacted`` if it starts too far back or falls
    behind a compaction, ``StoreUnavailable`` if the backend goes away."""

    def __aiter__(self) -> AsyncIterator[list[Event]]: ...

    async def started(self) -> None:
        """Return once the watch is registered with the backend: every change committed after
        this returns is delivered. Only live-only watches (no ``start_revision``) need it: an
        etcd watch is created asynchronously, so without it a write racing the creation may
        land before the watch's starting point. Immediate for in-process backends."""
        ...

    async def close(self) -> None: ...


class Store(Protocol):
    """A revisioned KV store. All methods are safe to call concurrently from one event loop."""

    async def get(self, key: str) -> KeyValue | None: ...

    async def range(self, prefix: str, *, start_after: str | None = None, limit: int = 0) -> RangeResult:
        """Keys starting with ``prefix`` in byte order, after ``start_after`` if given;
        ``limit`` 0 means all."""
        ...

    async def put(self, key: str, value: bytes, *, expect_mod_revision: int | None = None) -> int:
        """Write a key; returns the new revision. With ``expect_mod_revision`` (0 = must not
        exist) the write is a compare-and-swap and raises ``CompareFailed`` on a mismatch."""
        ...

    async def delete(self, key: str, *, expect_mod_revision: int | None = None) -> int:
        """Delete a key; returns the revision of the deletion, or the current revision if the
        key did not exist (and no expectation was given). Raises ``CompareFailed`` like put."""
        ...

    async def txn(
        self, compares: Sequence[Compare], success: Sequence[Op], failure: Sequence[Op] = ()
    ) -> TxnResult: ...

    def watch(self, prefix: str, *, start_revision: int | None = None) -> Watch:
        """Changes under ``prefix`` with revision >= ``start_revision`` (default: from the
        next revision on)."""
        ...

    async def revision(self) -> int:
        """The current store-wide revision."""
        ...

    async def compact(self, revision: int) -> None:
        """Forget history before ``revision`` (watches can start at ``revision`` or later);
        current values are kept. Raises ``Compacted`` if the store is already compacted at or
        past ``revision`` and ``FutureRevision`` if ``revision`` is beyond the current one."""
        ...

    async def close(self) -> None: ...
