"""Leader election on every backend (a real etcd included): one leader among replicas, renewals
keep it, an expired lease passes to a follower, a leader that finds the lock taken knows it
lost, and a resigned lock is free at once. Time is injected: nothing waits for a real TTL."""

from __future__ import annotations

import asyncio

from stowage.controllers.leader import LeaderElection
from stowage.store.base import Store
from tests.store.conftest import Backend


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_leader_renewal_expiry_takeover_and_resignation(backend: Backend) -> None:
    async def body(store: Store) -> None:
        clock = Clock()
        a = LeaderElection(store, identity="a", ttl=15, clock=clock)
        b = LeaderElection(store, identity="b", ttl=15, clock=clock)
        assert await a.try_acquire()
        assert not await b.try_acquire()  # held and not expired
        assert await a.try_acquire()  # ours already: taking it again is a renewal
        clock.now += 10
        assert await a.renew()
        clock.now += 10  # 10 s after the renewal: still a's
        assert not await b.try_acquire()
        clock.now += 6  # 16 s after a's last renewal: expired
        assert await b.try_acquire()
        assert not await a.renew()  # a learns it lost
        assert await b.renew()
        b.elected.set()
        await b.resign()
        assert await a.try_acquire()  # free at once, no TTL to wait out

    backend.run(body)


def test_run_sets_lost_when_another_replica_takes_over() -> None:
    async def main() -> None:
        from stowage.store.memory import MemoryStore

        store = MemoryStore()
        clock = Clock()
        a = LeaderElection(store, identity="a", ttl=0.06, clock=clock)
        runner = asyncio.create_task(a.run())
        await asyncio.wait_for(a.elected.wait(), 1)
        clock.now += 1  # a's lease looks expired to b
        b = LeaderElection(store, identity="b", ttl=0.06, clock=clock)
        assert await b.try_acquire()
        await asyncio.wait_for(a.lost.wait(), 1)
        await asyncio.wait_for(runner, 1)
        await store.close()

    asyncio.run(main())
