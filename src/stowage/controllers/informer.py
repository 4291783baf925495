"""The ECS informer: one list + one watch on ``/ecs/`` keeping the ``EcsIndex`` current.

Every key family lives under ``/ecs/{account}/{region}/``, so one watch on ``/ecs/`` sees every
task and container instance of every account; the index ignores other families after a cheap
key parse (no JSON decoding), but for noting which clusters' custom attributes changed. The
list is paged, so it is not one snapshot: the watch starts from the first page's revision and
replays what changed meanwhile, and the index applies events idempotently by ``mod_revision``.
A compacted start revision or a lost store connection means a fresh list, as Kubernetes'
reflector does after a 410.
"""

from __future__ import annotations

import asyncio
import logging

from stowage.controllers.ecs_index import EcsIndex
from stowage.resources import ecs_keys
from stowage.resources.records import HANDED, Record, decode
from stowage.store.base import Compacted, EventType, Store, StoreError

log = logging.getLogger("stowage.controllers.informer")

_PAGE = 1000


class EcsInformer:
    def __init__(self, store: Store, index: EcsIndex, *, retry_delay: float = 1.0) -> None:
        self.store = store
        self.index = index
        self.retry_delay = retry_delay

    async def run(self) -> None:
        while True:
            try:
                start = await self._list()
                await self._watch(start)
                await asyncio.sleep(self.retry_delay)  # the watch ended: the store is closing
            except Compacted:
                log.info("ECS watch fell behind compaction; re-listing")
            except StoreError as exc:
                log.warning("ECS informer lost the store (%s); retrying", exc)
                await asyncio.sleep(self.retry_delay)

    async def _list(self) -> int:
        """Load every task and container instance; return the revision to watch from."""
        records: list[Record] = []
        after: str | None = None
        first_revision: int | None = None
        while True:
            page = await self.store.range(ecs_keys.ROOT, start_after=after, limit=_PAGE)
            if first_revision is None:
                first_revision = page.revision
            records.extend(
                Record(kv.key, decode(kv.value), kv.mod_revision)
                for kv in page.kvs
                if ecs_keys.parse(kv.key) is not None
            )
            if not page.more or not page.kvs:
                break
            after = page.kvs[-1].key
        self.index.reset(records, first_revision)
        return first_revision + 1

    async def _watch(self, start: int) -> None:
        watch = self.store.watch(ecs_keys.ROOT, start_revision=start)
        try:
            async for batch in watch:
                for event in batch:
                    kv = event.kv
                    if ecs_keys.parse(kv.key) is None:
                        attribute_of = ecs_keys.parse_attribute(kv.key)
                        if attribute_of is not None:
                            self.index.attributes_changed(attribute_of, kv.mod_revision)
                        continue
                    if event.type is EventType.DELETE:
                        self.index.apply(kv.key, None, kv.mod_revision)
                    else:
                        doc = HANDED.doc_of(kv.key, kv.value)
                        self.index.apply(kv.key, Record(kv.key, doc, kv.mod_revision), kv.mod_revision)
                if batch:
                    self.index.advance(batch[-1].kv.mod_revision)
        finally:
            await watch.close()
