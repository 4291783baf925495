"""Pick and open a store backend from a URL-like spec (what ``--store`` on the CLI takes).

- ``sqlite`` (default): ``<data_dir>/stowage.db``; ``sqlite:///abs/dir`` uses another directory.
- ``memory``: no durability, for tests and simulations.
- ``etcd://host:port[,host:port...][/key-prefix]``: e.g. ``etcd://127.0.0.1:2379/stowage``.
"""

from __future__ import annotations

import os
from pathlib import Path

from stowage.store.base import Store


def open_store(spec: str, data_dir: str | os.PathLike[str] | None = None) -> Store:
    """Open the store ``spec`` names. Call it on the event loop that will use the store."""
    scheme, _, rest = spec.partition("://")
    if scheme == "memory":
        from stowage.store.memory import MemoryStore

        return MemoryStore()
    if scheme == "sqlite":
        from stowage.store.sqlite import SqliteStore

        directory = rest if rest else data_dir
        if directory is None:
            raise ValueError("the sqlite store needs a data dir (sqlite:///path or --data-dir)")
        return SqliteStore(Path(directory))
    if scheme == "etcd":
        from stowage.store.etcd import EtcdStore

        hosts, slash, prefix = rest.partition("/")
        if not hosts:
            raise ValueError(f"no etcd endpoint in {spec!r}")
        members = hosts.split(",")
        # gRPC's ipv4:/dns: targets take several members; one member is a plain host:port
        target = members[0] if len(members) == 1 else "ipv4:" + ",".join(members)
        return EtcdStore(target, key_prefix=(slash + prefix).rstrip("/") if prefix else "")
    raise ValueError(f"unknown store {spec!r}: expected sqlite, memory or etcd://host:port/prefix")
