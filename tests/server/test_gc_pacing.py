"""`GcPacer`: young collections freeze their survivors; full collections reclaim what the
young ones no longer look at; a full collection is due once the frozen set has grown."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from stowage.gc_pacing import MIN_FULL_AT, GcPacer


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


def test_survivors_of_a_young_collection_are_frozen(pacer: GcPacer) -> None:
    assert gc.get_threshold()[0] == 700
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


def test_a_full_collection_is_due_once_the_frozen_set_grew(pacer: GcPacer) -> None:
    pacer.collect_fully()
    kept = gc.get_freeze_count()
    assert pacer.full_at == max(MIN_FULL_AT, int(kept * pacer.growth))
    assert not pacer.collect_if_due()
    pacer.full_at = kept  # as if the frozen set had grown to the mark
    assert pacer.full_due
    assert pacer.collect_if_due()
    assert pacer.full_collections == 2
    assert not pacer.full_due
