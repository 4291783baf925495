"""Leader election: one control plane at a time runs the controllers that must not run twice.

Several control planes may serve one etcd (the HA set-up): every one of them answers the APIs
(writes are compare-and-swap transactions, safe from any replica), but the controllers that act
on their own — the service scheduler, the Fargate provisioner, liveness, the reaper, the
Kubernetes controllers — must run on one replica only, or two would launch the same tasks.

The lock is one key holding ``{holder, expires}``. A replica takes it when it is absent or
expired, with a compare on the revision it read, and renews it every ``ttl / 3`` with a compare
on the revision it wrote. Expiry is judged by wall clocks (the store has no leases), so the
replicas' clocks must agree to well within ``ttl`` (NTP does). A leader that cannot renew before
its lease runs out has lost it: ``lost`` is set, and the server stops (a supervisor restarts it
as a follower) rather than risk two leaders. With one control plane (SQLite) it simply wins.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable

import orjson

from stowage.store.base import Compare, Put, Store, StoreError

log = logging.getLogger("stowage.controllers.leader")

LEADER_KEY = "/stowage/leader"


def replica_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class LeaderElection:
    def __init__(
        self,
        store: Store,
        *,
        identity: str | None = None,
        ttl: float = 15.0,
        clock: Callable[[], float] = time.time,
        key: str = LEADER_KEY,
    ) -> None:
        self.store = store
        self.identity = identity or replica_id()
        self.ttl = ttl
        self.clock = clock
        self.key = key
        self.elected = asyncio.Event()
        self.lost = asyncio.Event()
        self._revision = 0
        self._expires = 0.0

    def _value(self, now: float) -> bytes:
        return orjson.dumps({"holder": self.identity, "expires": now + self.ttl})

    async def try_acquire(self) -> bool:
        """Take the lock if it is free or expired (or already ours); True when we hold it."""
        now = self.clock()
        current = await self.store.get(self.key)
        if current is not None:
            held = orjson.loads(current.value)
            if held.get("holder") != self.identity and float(held.get("expires", 0)) > now:
                return False
            guard = Compare.mod_revision(self.key, current.mod_revision)
        else:
            guard = Compare.absent(self.key)
        result = await self.store.txn([guard], [Put(self.key, self._value(now))])
        if result.succeeded:
            self._revision, self._expires = result.revision, now + self.ttl
        return result.succeeded

    async def renew(self) -> bool:
        """Extend our lease; False when another replica took the lock."""
        now = self.clock()
        result = await self.store.txn(
            [Compare.mod_revision(self.key, self._revision)], [Put(self.key, self._value(now))]
        )
        if result.succeeded:
            self._revision, self._expires = result.revision, now + self.ttl
        return result.succeeded

    async def run(self) -> None:
        """Campaign until elected, then renew; on loss set ``lost`` and return."""
        while not self.elected.is_set():
            try:
                if await self.try_acquire():
                    log.info("this control plane (%s) leads its controllers", self.identity)
                    self.elected.set()
                    break
            except StoreError as exc:
                log.warning("leader election: store unavailable: %s", exc)
            await asyncio.sleep(self.ttl / 3)
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                if await self.renew():
                    continue
                log.error("leadership lost to another control plane")
            except StoreError as exc:
                if self.clock() < self._expires:
                    log.warning("leader election: renewal failed, retrying: %s", exc)
                    continue
                log.error("leadership lease ran out while the store was unavailable: %s", exc)
            self.lost.set()
            return

    async def resign(self) -> None:
        """Give the lock up at shutdown so a follower takes over at once."""
        if not self.elected.is_set():
            return
        with contextlib.suppress(StoreError):
            await self.store.txn(
                [Compare.mod_revision(self.key, self._revision)],
                [Put(self.key, orjson.dumps({"holder": "", "expires": 0}))],
            )
