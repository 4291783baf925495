"""The EKS controller: brings each cluster's records to life, level-triggered.

Fed by a list+watch of ``/eks/`` (every account and region); one sync per cluster key (changes
to a cluster's updates re-queue their cluster; node groups and Fargate profiles have syncs of
their own in ``eks_nodegroups``):

- CREATING: the cluster's Kubernetes API is provisioned (``ClusterRuntime.provision``: its
  object space, controllers and endpoint), then the status becomes ACTIVE. Provisioning is
  idempotent, so ACTIVE and UPDATING clusters are provisioned again after a restart.
- UPDATING: each InProgress update is applied (its ``_apply`` merged into the cluster) and
  marked Successful in one transaction with the cluster, which is ACTIVE again after the last.
- DELETING: the Kubernetes API is torn down (its pods' tasks stopped, its objects deleted,
  its listener closed), then the cluster's remaining children are deleted, and the cluster
  record with its endpoint port's claim (``resources/eks_ports``), so the port is free again.

The runtime is a protocol: the Kubernetes side lives in the API layer (``api/eks/kube``) and
the composition root hands it in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from stowage.controllers.k8s.worker import work
from stowage.controllers.services.queue import WorkQueue
from stowage.model.eks import clusters as model
from stowage.model.eks import updates as updates_model
from stowage.resources import eks as keys
from stowage.resources import eks_ports
from stowage.resources.paging import collect
from stowage.resources.records import Doc, Record, Records
from stowage.store.base import Compacted, Compare, Delete, EventType, StoreError

log = logging.getLogger("stowage.controllers.eks")

RESYNC = 30.0
WORKERS = 2


class ClusterRuntime(Protocol):
    async def provision(self, key: str, cluster: Doc) -> None:
        """Make the cluster's Kubernetes API serve (idempotent; also after a restart)."""

    async def teardown(self, key: str, cluster: Doc | None = None) -> None:
        """Stop serving the cluster at ``key`` and remove its Kubernetes objects (``cluster``:
        its record when it still exists, for a runtime that is not serving it)."""


class ChildSync(Protocol):
    """Node group / Fargate profile reconciliation (``eks_nodegroups``)."""

    def attach(self, queue: WorkQueue) -> None:
        """Share the controller's work queue (a node joining re-queues its group)."""

    def wants(self, family: str) -> bool: ...

    async def sync(self, key: str) -> None: ...


class EksController:
    def __init__(self, records: Records, runtime: ClusterRuntime, children: ChildSync | None = None) -> None:
        self.records = records
        self.runtime = runtime
        self.children = children
        self.queue = WorkQueue()
        self.known: set[str] = set()
        self._loops: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        if self.children is not None:
            self.children.attach(self.queue)
        self._loops.append(asyncio.create_task(self._watch(), name="eks-watch"))
        self._loops.append(asyncio.create_task(self._resync(), name="eks-resync"))
        self._loops.extend(
            asyncio.create_task(work(self.queue, self.sync, "eks"), name=f"eks-{i}") for i in range(WORKERS)
        )

    async def stop(self) -> None:
        for loop in self._loops:
            loop.cancel()
        for loop in self._loops:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await loop
        self._loops.clear()
        self.queue.close()

    # -- feeds -----------------------------------------------------------------------------------
    def _enqueue(self, key: str) -> None:
        parsed = keys.parse(key)
        if parsed is None:
            return
        account, region, family, cluster, _name = parsed
        if family == keys.CLUSTERS:
            self.known.add(key)
            self.queue.add(key)
        elif family == keys.UPDATES:
            self.queue.add(keys.cluster_key(account, region, cluster))
        elif self.children is not None and self.children.wants(family):
            self.known.add(key)
            self.queue.add(key)

    async def _watch(self) -> None:
        while True:
            try:
                # the revision first: a change between it and the listing is seen twice, which a
                # level-triggered sync does not mind
                revision = await self.records.store.revision()
                for rec in await collect(self.records, keys.PREFIX):
                    self._enqueue(rec.key)
                watch = self.records.store.watch(keys.PREFIX, start_revision=revision + 1)
                try:
                    async for batch in watch:
                        for ev in batch:
                            if ev.type is EventType.DELETE and ev.kv.key in self.known:
                                self.queue.add(ev.kv.key)
                            self._enqueue(ev.kv.key)
                finally:
                    await watch.close()
            except (Compacted, StoreError) as exc:
                log.info("EKS controller re-listing after %s", exc)
                await asyncio.sleep(0.5)

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(RESYNC)
            for key in list(self.known):
                self.queue.add(key)

    # -- one sync ----------------------------------------------------------------------------------
    async def sync(self, key: str) -> None:
        parsed = keys.parse(key)
        if parsed is None:
            return
        if parsed[2] != keys.CLUSTERS:
            if self.children is not None:
                await self.children.sync(key)
            return
        rec = await self.records.get(key)
        if rec is None:
            self.known.discard(key)
            await self.runtime.teardown(key)
            return
        status = rec.doc.get("status")
        if status == model.DELETING:
            await self._delete(rec)
            return
        await self.runtime.provision(key, rec.doc)
        if status == model.CREATING:
            await self._set_active(rec)
        elif status == model.UPDATING:
            await self._apply_updates(rec)

    async def _set_active(self, rec: Record) -> None:
        def active(doc: Doc) -> Doc | None:
            if doc.get("status") != model.CREATING or doc.get("_id") != rec.doc.get("_id"):
                return None
            return {**doc, "status": model.ACTIVE}

        await self.records.update(rec.key, active)
        log.info("EKS cluster %s is ACTIVE", rec.doc.get("arn"))

    async def _apply_updates(self, rec: Record) -> None:
        account, region, _family, name, _ = keys.parse(rec.key) or ("", "", "", "", "")
        prefix = keys.child_prefix(account, region, keys.UPDATES, name)
        pending = [
            u
            for u in await collect(self.records, prefix)
            if u.doc.get("status") == updates_model.IN_PROGRESS and u.doc.get("_nodegroup") is None
        ]
        if not pending:
            # nothing left to apply: an UPDATING cluster with no update (a crash between writes)
            await self._commit(rec, [], {**rec.doc, "status": model.ACTIVE})
            return
        doc = dict(rec.doc)
        for update in sorted(pending, key=lambda u: u.doc["createdAt"]):
            doc.update(update.doc.get("_apply") or {})
        doc["status"] = model.ACTIVE
        if await self._commit(rec, pending, doc):
            await self.runtime.provision(rec.key, doc)

    async def _commit(self, rec: Record, updates: list[Record], doc: Doc) -> bool:
        compares = [Compare.mod_revision(rec.key, rec.mod_revision)]
        compares += [Compare.mod_revision(u.key, u.mod_revision) for u in updates]
        writes = [(rec.key, doc), *((u.key, updates_model.finished(u.doc)) for u in updates)]
        result = await self.records.commit(compares, writes)
        if not result.succeeded:
            self.queue.add(rec.key)  # someone else wrote first: look again
        return result.succeeded

    async def _delete(self, rec: Record) -> None:
        account, region, _family, name, _ = keys.parse(rec.key) or ("", "", "", "", "")
        await self.runtime.teardown(rec.key, rec.doc)
        for family in keys.CHILDREN:
            children = await collect(self.records, keys.child_prefix(account, region, family, name))
            for i in range(0, len(children), 64):
                await self.records.store.txn([], [Delete(c.key) for c in children[i : i + 64]])
        ops = [Delete(rec.key)]
        port = model.port_of(rec.doc)
        if port is not None:
            holder = await eks_ports.holder_of(self.records.store, port)
            if holder is not None and holder.id == rec.doc.get("_id"):
                ops.append(eks_ports.release(port))
        result = await self.records.store.txn([Compare.mod_revision(rec.key, rec.mod_revision)], ops)
        if not result.succeeded:
            self.queue.add(rec.key)
            return
        self.known.discard(rec.key)
        log.info("EKS cluster %s deleted", rec.doc.get("arn"))
