"""etcd backend specifics: key prefixes that let installations share one etcd."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from stowage.store.etcd import EtcdStore, bytes_prefix_end
from tests.store.helpers import collect

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
                f"/{tag}-one/clusters/a"[0:0] + f"/{tag}-oneclusters/a",
                f"/{tag}-oneclusters/c",
                f"/{tag}-twoclusters/a",
                f"/{tag}-twoclusters/b",
            ]
        finally:
            for store in (one, two, raw):
                await store.close()

    asyncio.run(body())
