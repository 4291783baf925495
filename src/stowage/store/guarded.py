"""``put`` and ``delete`` with an expected mod revision, expressed as one txn: shared by every
backend so the compare-and-swap rule (and what ``CompareFailed`` carries) has one definition."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from stowage.store.base import Compare, CompareFailed, Delete, Get, KeyValue, Op, Put, TxnResult

Txn = Callable[[Sequence[Compare], Sequence[Op], Sequence[Op]], Awaitable[TxnResult]]


async def guarded_write(txn: Txn, key: str, op: Put | Delete, expect_mod_revision: int | None) -> int:
    """Apply ``op``; with ``expect_mod_revision`` only if the key's mod revision is that (0: the
    key must not exist), else raise ``CompareFailed`` with the key's current value."""
    if expect_mod_revision is None:
        return (await txn((), [op], ())).revision
    result = await txn([Compare.mod_revision(key, expect_mod_revision)], [op], [Get(key)])
    if not result.succeeded:
        current = result.results[0] if result.results else None
        raise CompareFailed(key, current if isinstance(current, KeyValue) else None)
    return result.revision
