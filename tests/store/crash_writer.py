"""A load generator for the crash tests, run as a subprocess that the test ``kill -9``s.

    python -m tests.store.crash_writer sqlite DATA_DIR
    python -m tests.store.crash_writer etcd HOST:PORT KEY_PREFIX

Writes keys as fast as it can from several concurrent tasks (so SQLite group commit is busy)
and prints ``key revision`` for each put only after the put returned: every printed line is an
acknowledged write. Exits on the first store error (the test may kill the server under it).
"""

from __future__ import annotations

import asyncio
import sys

from stowage.store.base import Store, StoreError
from stowage.store.etcd import EtcdStore
from stowage.store.sqlite import SqliteStore

TASKS = 16


def value_for(key: str) -> bytes:
    return f"value of {key}".encode() * 8


async def writer(store: Store, task: int) -> None:
    n = 0
    while True:
        key = f"crash/{task:02d}/{n:08d}"
        rev = await store.put(key, value_for(key))
        sys.stdout.write(f"{key} {rev}\n")
        sys.stdout.flush()
        n += 1


async def main(argv: list[str]) -> int:
    store: Store
    if argv[0] == "sqlite":
        store = SqliteStore(argv[1])
    elif argv[0] == "etcd":
        store = EtcdStore(argv[1], key_prefix=argv[2])
    else:
        raise SystemExit(f"unknown backend {argv[0]!r}")
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    try:
        await asyncio.gather(*(writer(store, t) for t in range(TASKS)))
    except StoreError as e:
        sys.stderr.write(f"store error: {e}\n")
        return 3
    finally:
        await store.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
