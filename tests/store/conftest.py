"""Fixtures for the store contract suite: one ``backend`` parametrized over memory, SQLite and a
real etcd server (started once per session on free 127.0.0.1 ports).

Tests are plain functions that hand an async body to ``backend.run``: it opens a store on a
fresh event loop, runs the body and closes the store. Every backend opener is reusable, so a
test can close and reopen "the same" store (same SQLite dir, same etcd key prefix).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from stowage.store.base import Store
from stowage.store.etcd import EtcdStore
from stowage.store.memory import MemoryStore
from stowage.store.sqlite import SqliteStore
from tests.support.etcd import EtcdProcess, start_etcd

T = TypeVar("T")

BODY_TIMEOUT = 120  # a guard against a hung test, not a performance assertion


@dataclass
class Backend:
    name: str
    open: Callable[[], Store]
    """Make a store for the running loop; call it again to reopen the same data."""

    def run(self, body: Callable[[Store], Awaitable[T]]) -> T:
        async def main() -> T:
            store = self.open()
            try:
                return await asyncio.wait_for(body(store), BODY_TIMEOUT)
            finally:
                await store.close()

        return asyncio.run(main())

    @property
    def durable(self) -> bool:
        return self.name != "memory"


@pytest.fixture(scope="session")
def etcd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdProcess]:
    problem = ""
    try:
        etcd = start_etcd(tmp_path_factory.mktemp("etcd") / "data")
    except RuntimeError as e:
        problem = str(e)
    if problem:  # outside the except block, so the report shows just this message
        pytest.fail(f"cannot start etcd for the etcd store tests: {problem}", pytrace=False)
    try:
        yield etcd
    finally:
        etcd.stop()


def etcd_opener(etcd: EtcdProcess) -> Callable[[], Store]:
    """Stores on the shared etcd under a key prefix of their own, so tests do not see each
    other's keys (revisions and compaction are etcd-wide: tests only assert relative ones)."""
    prefix = f"/test-{uuid.uuid4().hex[:12]}"
    return lambda: EtcdStore(etcd.endpoint, key_prefix=prefix)


def make_backend(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if name == "memory":
        return Backend(name, MemoryStore)
    if name == "sqlite":
        return Backend(name, lambda: SqliteStore(tmp_path / "data"))
    etcd: EtcdProcess = request.getfixturevalue("etcd_server")
    return Backend(name, etcd_opener(etcd))


ETCD = pytest.param("etcd", marks=pytest.mark.etcd)


@pytest.fixture(params=["memory", "sqlite", ETCD])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return make_backend(request.param, request, tmp_path)


@pytest.fixture(params=["sqlite", ETCD])
def durable_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """The backends measured against the memory store, the reference."""
    return make_backend(request.param, request, tmp_path)
