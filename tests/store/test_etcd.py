"""etcd backend specifics: key prefixes that let installations share one etcd."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from stowage.store.base import Put, StoreUnavailable
from stowage.store.etcd import EtcdStore, bytes_prefix_end
from tests.store.helpers import collect
from tests.support.etcd import start_etcd

pytestmark = pytest.mark.etcd


def test_bytes_prefix_end() -> None:
    assert bytes_prefix_end(b"a/") == b"a0"
    assert bytes_prefix_end(b"a\xff") == b"b"
    assert bytes_prefix_end(b"\xff\xff") == b"\0"


def test_key_prefixes_isolate_installations(etcd_server) -> None:  # type: ignore[no-untyped-def]
    tag = uuid.uuid4().hex[:8]

    async def body() -> None:
        one = EtcdStore(etcd_server.endpoint, key_prefix=f"/{tag}-one")
        two = EtcdStore(etcd_server.endpoint, key_prefix=f"/{tag}-two")
        raw = EtcdStore(etcd_server.endpoint)
        try:
            r0 = await one.revision()
            watch_one = one.watch("", start_revision=r0 + 1)
            await one.put("clusters/a", b"1")
            await two.put("clusters/a", b"2")
            await two.put("clusters/b", b"2")
            await one.put("clusters/c", b"1")
            assert [kv.key for kv in (await one.range("")).kvs] == ["clusters/a", "clusters/c"]
            assert [kv.key for kv in (await two.range("clusters/")).kvs] == ["clusters/a", "clusters/b"]
            kv = await one.get("clusters/a")
            assert kv is not None and kv.key == "clusters/a" and kv.value == b"1"
            events, _ = await collect(watch_one, 2)
            assert [(e.kv.key, e.kv.value) for e in events] == [("clusters/a", b"1"), ("clusters/c", b"1")]
            await watch_one.close()
            # on the wire the keys carry the installation's prefix
            on_wire = [kv.key for kv in (await raw.range(f"/{tag}-")).kvs]
            assert on_wire == [
                f"/{tag}-one/clusters/a",
                f"/{tag}-one/clusters/c",
                f"/{tag}-two/clusters/a",
                f"/{tag}-two/clusters/b",
            ]
        finally:
            for store in (one, two, raw):
                await store.close()

    asyncio.run(body())


def test_prefixes_that_share_a_beginning_do_not_overlap(etcd_server) -> None:  # type: ignore[no-untyped-def]
    tag = uuid.uuid4().hex[:8]

    async def body() -> None:
        short = EtcdStore(etcd_server.endpoint, key_prefix=f"/{tag}")
        longer = EtcdStore(etcd_server.endpoint, key_prefix=f"/{tag}2/")
        try:
            await longer.put("k", b"longer")
            await short.put("k", b"short")
            assert [kv.value for kv in (await short.range("")).kvs] == [b"short"]
            assert [kv.value for kv in (await longer.range("")).kvs] == [b"longer"]
            assert short.key_prefix == f"/{tag}/" and longer.key_prefix == f"/{tag}2/"
        finally:
            await short.close()
            await longer.close()

    asyncio.run(body())


def test_etcd_going_away_is_store_unavailable_and_coming_back_is_recovered(tmp_path) -> None:  # type: ignore[no-untyped-def]
    etcd = start_etcd(tmp_path / "etcd")

    async def body() -> None:
        store = EtcdStore(etcd.endpoint, key_prefix="/away", timeout=5)
        try:
            rev = await store.put("k", b"before")
            watch = store.watch("", start_revision=rev + 1)
            await watch.started()
            await asyncio.to_thread(etcd.kill9)
            with pytest.raises(StoreUnavailable):
                await collect(watch, 1)
            with pytest.raises(StoreUnavailable):
                await store.get("k")
            with pytest.raises(StoreUnavailable):
                await store.txn([], [Put("k", b"during")])
            await asyncio.to_thread(etcd.start)
            # the same store reconnects by itself once etcd is back
            deadline = asyncio.get_running_loop().time() + 30
            while True:
                try:
                    kv = await store.get("k")
                    break
                except StoreUnavailable:
                    if asyncio.get_running_loop().time() > deadline:
                        raise
                    await asyncio.sleep(0.2)
            assert kv is not None and kv.value == b"before"
            # and a new watch resumes where the failed one stopped
            after = await store.put("k", b"after")
            events, _ = await collect(store.watch("", start_revision=rev + 1), 1)
            assert [(e.kv.value, e.kv.mod_revision) for e in events] == [(b"after", after)]
        finally:
            await store.close()

    try:
        asyncio.run(body())
    finally:
        etcd.stop()
