"""`GcPacer`: young collections freeze their survivors; full collections reclaim what the
young ones no longer look at; a full collection is due once resident memory has grown."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from stowage.gc_pacing import GcPacer, resident_bytes


class Node:
    other: Node | None = None


@pytest.fixture
def pacer() -> Iterator[GcPacer]:
    pacer = GcPacer(young_threshold=700)
    pacer.install()
    try:
        yield pacer
    finally:
        pacer.uninstall()
    assert gc.get_freeze_count() == 0  # uninstall gives every object back to the collector


def test_resident_memory_is_read() -> None:
    assert resident_bytes() > 1 << 20


def test_survivors_of_a_young_collection_are_frozen(pacer: GcPacer) -> None:
    assert pacer.installed and gc.get_threshold()[0] == 700
    before = gc.get_freeze_count()
    kept = [[i] for i in range(5_000)]
    gc.collect(0)
    assert gc.get_freeze_count() >= before + len(kept)


def test_cycles_among_frozen_objects_wait_for_the_full_collection(pacer: GcPacer) -> None:
    a, b = Node(), Node()
    a.other, b.other = b, a
    alive = weakref.ref(a)
    gc.collect(0)  # the pair survives (still referenced here) and is frozen
    del a, b
    gc.collect(0)
    assert alive() is not None  # young collections no longer look at it
    assert pacer.collect_fully() >= 2
    assert alive() is None


def test_a_full_collection_is_due_once_memory_grew() -> None:
    resident = [100 << 20]
    pacer = GcPacer(growth=2.0, memory=lambda: resident[0])
    pacer.install()
    try:
        assert pacer.full_at == 200 << 20
        resident[0] = 150 << 20
        assert not pacer.collect_if_due()
        resident[0] = 200 << 20
        assert pacer.full_due
        assert pacer.collect_if_due()
        assert pacer.full_collections == 1
        assert pacer.full_at == 400 << 20  # from the memory after it
        assert not pacer.full_due
    finally:
        pacer.uninstall()
