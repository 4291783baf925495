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
        actual = kv.value if kv else b""
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
