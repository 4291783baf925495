"""Evaluation of txn guards, shared by the backends that evaluate them themselves."""

from __future__ import annotations

from stowage.store.base import Compare, KeyValue


def compare_holds(c: Compare, kv: KeyValue | None) -> bool:
    actual: int | bytes
    if c.target == "mod":
        actual = kv.mod_revision if kv else 0
    elif c.target == "create":
        actual = kv.create_revision if kv else 0
    elif c.target == "version":
        actual = kv.version if kv else 0
    else:
        if kv is None:
            return False  # etcd: a value compare on a missing key always fails, whatever the op
        actual = kv.value
    operand = c.operand
    if isinstance(actual, int) != isinstance(operand, int):
        raise TypeError(f"compare on {c.target} needs an {'int' if isinstance(actual, int) else 'bytes'}")
    if c.op == "==":
        return actual == operand
    if c.op == "!=":
        return actual != operand
    if c.op == "<":
        return actual < operand  # type: ignore[operator]
    return actual > operand  # type: ignore[operator]


def check_operand(c: Compare) -> None:
    """Reject a guard whose operand has the wrong type before it reaches a backend, so a bad
    call fails alone instead of inside a batch or a remote transaction."""
    wants_bytes = c.target == "value"
    if wants_bytes != isinstance(c.operand, bytes) or isinstance(c.operand, bool):
        raise TypeError(f"compare on {c.target} needs an {'bytes' if wants_bytes else 'int'} operand")
    if c.op not in ("==", "!=", "<", ">"):
        raise ValueError(f"unknown compare operator {c.op!r}")
