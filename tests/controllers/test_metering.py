"""The Fargate usage ledger on a real store (memory and SQLite), in-process with injected time:
written when a task stops, once per task, held from the reaper until written, reconciled after
a restart, and read back together with running tasks."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path

import pytest

from stowage.controllers.metering import Metering
from stowage.controllers.task_plane import TaskPlane, TaskPlaneConfig
from stowage.model import billing, pricing
from stowage.resources import ecs_keys
from stowage.resources.records import Records
from stowage.store.base import Store
from stowage.store.memory import MemoryStore
from stowage.store.sqlite import SqliteStore
from tests.support import fargate_records as fr

T0 = 1_800_000_000.0
ACCOUNT, REGION = fr.ACCOUNT, fr.REGION


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Plane:
    """A task plane and (optionally) the metering controller over one store."""

    def __init__(self, store: Store, clock: Clock, *, metering: bool = True) -> None:
        self.records = Records(store)
        self.clock = clock
        self.tasks = TaskPlane(self.records, TaskPlaneConfig(stopped_retention=3600), clock=clock)
        self.metering = Metering(self.records, self.tasks.index, clock=clock) if metering else None

    async def __aenter__(self) -> Plane:
        await self.tasks.start()
        if self.metering is not None:
            await self.metering.start()
            self.tasks.reaper.hold = self.metering.hold
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.metering is not None:
            await self.metering.stop()
        await self.tasks.stop()

    async def settle(self) -> None:
        """The index has seen every write so far, and the ledger writer has nothing queued."""
        await self.tasks.written(await self.records.store.revision())
        assert self.metering is not None
        for _ in range(500):  # a guard against a hang, not a timing assertion
            if self.metering.pending() == 0:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the ledger writer did not drain")

    async def ledger(self) -> dict[str, dict[str, object]]:
        recs, _more = await self.records.list(ecs_keys.usage_ledger(ACCOUNT, REGION))
        return {r.key: r.doc for r in recs}


Opener = Callable[[], Store]


@pytest.fixture(params=["memory", "sqlite"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Opens "the same" store again after a close (one MemoryStore object; one SQLite dir)."""
    if request.param == "memory":
        shared = MemoryStore()

        class Reopenable:
            def __call__(self) -> Store:
                return shared

        return Reopenable()
    return lambda: SqliteStore(tmp_path / "db")


def run(body: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(body(), 60))


async def close(store: Store) -> None:
    if isinstance(store, SqliteStore):
        await store.close()


def test_a_stopped_task_is_written_once(opener: Opener) -> None:
    async def body() -> None:
        store = opener()
        clock = Clock()
        async with Plane(store, clock) as p:
            key, doc = fr.fargate_task("c1", "aaa", cpu=512, memory=1024, storage=30, group="service:web")
            await fr.lifecycle(p.records, key, doc, pulled=T0 + 10, stopped=T0 + 100)
            await p.settle()
            ledger = await p.ledger()
            assert list(ledger) == [ecs_keys.usage_entry(ACCOUNT, REGION, "2027-01-15", "c1", "aaa")]
            [entry] = ledger.values()
            assert entry["billedSeconds"] == 90
            assert (entry["cpu"], entry["memory"], entry["ephemeralStorageGiB"]) == (512, 1024, 30)
            assert (entry["pullStartedAt"], entry["stoppedAt"]) == (T0 + 10, T0 + 100)
            entry_key = next(iter(ledger))
            revision = (await store.get(entry_key)).mod_revision  # type: ignore[union-attr]
            # a later change of the stopped task (the agent's own STOPPED report) changes nothing
            await fr.report(p.records, key, T0 + 200, last_status="STOPPED")
            await p.settle()
            # a second metering controller (as after a restart) finds it and writes nothing
            again = Metering(p.records, p.tasks.index, clock=clock)
            await again.start()
            try:
                assert again.pending() == 0 and not again.hold(await p.records.get(key))  # type: ignore[arg-type]
            finally:
                await again.stop()
            assert (await store.get(entry_key)).mod_revision == revision  # type: ignore[union-attr]
            assert await p.ledger() == ledger
        await close(store)

    run(body)


def test_ec2_and_never_pulled_tasks_are_not_billed(opener: Opener) -> None:
    async def body() -> None:
        store = opener()
        async with Plane(store, Clock()) as p:
            key, doc = fr.fargate_task("c1", "ec2task", launch_type="EC2")
            await fr.lifecycle(p.records, key, doc, pulled=T0, stopped=T0 + 100)
            key2, doc2 = fr.fargate_task("c1", "nopull")
            await fr.create(p.records, key2, doc2)
            await fr.stop(p.records, key2, T0 + 5)
            await p.settle()
            assert await p.ledger() == {}
            assert p.metering is not None
            assert await p.metering.usage(ACCOUNT, REGION) == []
            # neither is held from the reaper
            for rec in p.tasks.index.tasks():
                assert not p.metering.hold(rec)
        await close(store)

    run(body)


def test_the_reaper_waits_for_the_ledger(opener: Opener) -> None:
    async def body() -> None:
        store = opener()
        clock = Clock()
        # first a control plane whose metering is not running (it crashed before writing)
        async with Plane(store, clock, metering=False) as p:
            key, doc = fr.fargate_task("c1", "held")
            await fr.lifecycle(p.records, key, doc, pulled=T0, stopped=T0 + 30)
            await p.tasks.written(await p.records.store.revision())
            metering = Metering(p.records, p.tasks.index, clock=clock)
            p.tasks.reaper.hold = metering.hold
            clock.now = T0 + 30 + 3600
            assert await p.tasks.reaper.sweep() == 0  # held: its usage is not in the ledger yet
            assert await p.ledger() == {}
            await metering.start()
            try:
                assert len(await p.ledger()) == 1  # start-up reconcile wrote it
                assert await p.tasks.reaper.sweep() == 1
                await p.tasks.written(await p.records.store.revision())
                assert await p.records.get(key) is None
                [usage] = await metering.usage(ACCOUNT, REGION)
                assert usage.billed_seconds == 60 and not usage.running
            finally:
                await metering.stop()
        await close(store)

    run(body)


def test_restart_reconciles_and_keeps_the_ledger(opener: Opener) -> None:
    async def body() -> None:
        clock = Clock()
        store = opener()
        async with Plane(store, clock) as p:
            key, doc = fr.fargate_task("c1", "before", provider="FARGATE_SPOT", arch="arm64")
            await fr.lifecycle(p.records, key, doc, pulled=T0, stopped=T0 + 3600)
            await p.settle()
        await close(store)
        # tasks stop while no control plane meters them
        store = opener()
        async with Plane(store, clock, metering=False) as p:
            key, doc = fr.fargate_task("c2", "during", storage=100)
            await fr.lifecycle(p.records, key, doc, pulled=T0 + 100, stopped=T0 + 3700)
            key, doc = fr.fargate_task("c2", "running", cpu=256, memory=512)
            await fr.lifecycle(p.records, key, doc, pulled=T0 + 200, stopped=None)
        await close(store)
        store = opener()
        clock.now = T0 + 7400
        async with Plane(store, clock) as p:
            ledger = await p.ledger()
            assert sorted(k.rpartition("/")[2] for k in ledger) == ["before", "during"]
            assert p.metering is not None
            usages = {u.task_arn.rpartition("/")[2]: u for u in await p.metering.usage(ACCOUNT, REGION)}
            assert sorted(usages) == ["before", "during", "running"]
            assert usages["running"].running and usages["running"].billed_seconds == 7200
            assert (usages["before"].architecture, usages["before"].capacity_provider) == (
                "ARM64",
                "FARGATE_SPOT",
            )
            bill = billing.bill(usages.values(), "CLUSTER")
            cost = bill.total.cost(pricing.DEFAULT_PRICES)
            expected = (
                (Decimal("0.03238") + 2 * Decimal("0.00356")) * Decimal("0.3")  # ARM Spot, 1 h
                + Decimal("0.04937") + 80 * Decimal("0.000111")  # x86 with 100 GiB, 1 h
                + 2 * (Decimal("0.25") * Decimal("0.04048") + Decimal("0.5") * Decimal("0.004445"))  # 2 h
            )  # fmt: skip
            assert cost == expected
            assert [r.key for r in bill.rows] == ["c1", "c2"]
        await close(store)

    run(body)


def test_usage_filters_and_window(opener: Opener) -> None:
    async def body() -> None:
        clock = Clock(T0 + 5 * 86400)
        store = opener()
        async with Plane(store, clock) as p:
            old_key, old = fr.fargate_task("c1", "old", group="service:web")
            await fr.lifecycle(p.records, old_key, old, pulled=T0, stopped=T0 + 600)
            new_key, new = fr.fargate_task("c1", "new", group="service:api")
            await fr.lifecycle(p.records, new_key, new, pulled=T0 + 3 * 86400, stopped=T0 + 3 * 86400 + 30)
            other_key, other = fr.fargate_task("c2", "other", group="service:web")
            await fr.lifecycle(p.records, other_key, other, pulled=T0 + 4 * 86400, stopped=None)
            await p.settle()
            m = p.metering
            assert m is not None

            def ids(us: list[object]) -> list[str]:
                return sorted(u.task_arn.rpartition("/")[2] for u in us)  # type: ignore[attr-defined]

            assert ids(await m.usage(ACCOUNT, REGION)) == ["new", "old", "other"]
            assert ids(await m.usage(ACCOUNT, REGION, cluster="c1")) == ["new", "old"]
            assert ids(await m.usage(ACCOUNT, REGION, service="web")) == ["old", "other"]
            assert ids(await m.usage(ACCOUNT, REGION, cluster="c2", service="web")) == ["other"]
            # since: the old task's ledger day is not even read
            assert ids(await m.usage(ACCOUNT, REGION, since=Decimal(T0 + 2 * 86400))) == ["new", "other"]
            assert await m.usage("999999999999", REGION) == []
            assert await m.usage(ACCOUNT, "eu-west-1") == []
        await close(store)

    run(body)
