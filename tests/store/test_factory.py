"""Choosing a backend from a store spec."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from stowage.store.etcd import EtcdStore
from stowage.store.factory import open_store
from stowage.store.memory import MemoryStore
from stowage.store.sqlite import DB_NAME, SqliteStore


def test_specs(tmp_path: Path) -> None:
    async def body() -> None:
        default = open_store("sqlite", tmp_path / "default")
        assert isinstance(default, SqliteStore) and default.path == tmp_path / "default" / DB_NAME
        await default.close()
        explicit = open_store(f"sqlite://{tmp_path / 'explicit'}", tmp_path / "ignored")
        assert isinstance(explicit, SqliteStore) and explicit.data_dir == tmp_path / "explicit"
        await explicit.close()
        assert isinstance(open_store("memory"), MemoryStore)
        etcd = open_store("etcd://127.0.0.1:2379/stowage")
        assert (
            isinstance(etcd, EtcdStore)
            and etcd.endpoint == "127.0.0.1:2379"
            and etcd.key_prefix == "/stowage/"
        )
        await etcd.close()
        several = open_store("etcd://10.0.0.1:2379,10.0.0.2:2379")
        assert isinstance(several, EtcdStore)
        assert several.endpoint == "ipv4:10.0.0.1:2379,10.0.0.2:2379" and several.key_prefix == ""
        await several.close()
        for bad in ("postgres://x", "etcd://", "sqlite"):
            with pytest.raises(ValueError):
                open_store(bad)

    asyncio.run(body())
