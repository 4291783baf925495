"""Durability: every acknowledged write survives ``kill -9`` of the process that made it
(SQLite: the writer process owns the database; etcd: the client process), and of the etcd
server itself. The writer subprocess prints each key only after its put returned."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from stowage.store.base import Store, StoreUnavailable
from stowage.store.etcd import EtcdStore
from stowage.store.sqlite import SqliteStore
from tests.store.crash_writer import value_for
from tests.support.etcd import EtcdProcess, start_etcd

ROOT = Path(__file__).resolve().parents[2]
ACKS_BEFORE_KILL = 3000


class Writer:
    """The crash_writer subprocess and the acknowledgements it printed."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.store.crash_writer", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.acked: dict[str, int] = {}
        assert self._line() == "ready", self._failure()

    def _line(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().rstrip("\n")

    def _failure(self) -> str:
        self.proc.kill()
        _, err = self.proc.communicate(timeout=10)
        return f"writer failed (exit {self.proc.returncode}):\n{err[-3000:]}"

    def read_acks(self, count: int) -> None:
        while len(self.acked) < count:
            line = self._line()
            assert line, self._failure()
            self._record(line)

    def _record(self, line: str) -> None:
        key, rev = line.split(" ")
        self.acked[key] = int(rev)

    def kill9_and_drain(self) -> None:
        """SIGKILL it mid-load, then take the acknowledgements already in the pipe."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        out, _ = self.proc.communicate(timeout=30)
        for line in out.splitlines():
            if line and " " in line:  # a line cut by the kill cannot end in a full newline
                self._record(line)
        if out and not out.endswith("\n"):
            # the last line was cut mid-write: it was printed after an ack, but we cannot
            # trust a partial key, so leave it out
            last = out.rsplit("\n", 1)[-1]
            self.acked.pop(last.split(" ")[0], None)


async def assert_all_acked_present(store: Store, acked: dict[str, int]) -> None:
    assert acked, "the writer acknowledged nothing"
    result = await store.range("crash/")
    found = {kv.key: kv for kv in result.kvs}
    missing = [k for k in acked if k not in found]
    assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}"
    for key, rev in acked.items():
        assert found[key].value == value_for(key)
        assert found[key].mod_revision == rev
    # the revision counter never goes back: a new write lands after everything acknowledged
    assert await store.put("after-crash", b"x") > max(acked.values())


def test_sqlite_acknowledged_writes_survive_kill9(tmp_path: Path) -> None:
    writer = Writer("sqlite", str(tmp_path))
    writer.read_acks(ACKS_BEFORE_KILL)
    writer.kill9_and_drain()
    assert writer.proc.returncode == -signal.SIGKILL

    async def check() -> None:
        store = SqliteStore(tmp_path)  # also proves the dead process's lock is gone
        try:
            await assert_all_acked_present(store, writer.acked)
        finally:
            await store.close()

    asyncio.run(check())


@pytest.mark.etcd
def test_etcd_acknowledged_writes_survive_kill9_of_the_client(etcd_server: EtcdProcess) -> None:
    prefix = f"/crash-{uuid.uuid4().hex[:8]}"
    writer = Writer("etcd", etcd_server.endpoint, prefix)
    writer.read_acks(ACKS_BEFORE_KILL)
    writer.kill9_and_drain()

    async def check() -> None:
        store = EtcdStore(etcd_server.endpoint, key_prefix=prefix)
        try:
            await assert_all_acked_present(store, writer.acked)
        finally:
            await store.close()

    asyncio.run(check())


@pytest.mark.etcd
def test_etcd_acknowledged_writes_survive_kill9_of_the_server(tmp_path: Path) -> None:
    etcd = start_etcd(tmp_path / "etcd")
    try:
        writer = Writer("etcd", etcd.endpoint, "/crash")
        writer.read_acks(ACKS_BEFORE_KILL)
        etcd.kill9()
        writer.kill9_and_drain()

        async def while_down() -> None:
            store = EtcdStore(etcd.endpoint, timeout=5)
            try:
                with pytest.raises(StoreUnavailable):
                    await store.get("crash/00/00000000")
                with pytest.raises(StoreUnavailable):
                    await store.put("k", b"v")
            finally:
                await store.close()

        asyncio.run(while_down())
        etcd.start()  # same data dir, same ports

        async def check() -> None:
            store = EtcdStore(etcd.endpoint, key_prefix="/crash")
            try:
                await assert_all_acked_present(store, writer.acked)
            finally:
                await store.close()

        asyncio.run(check())
    finally:
        etcd.stop()
