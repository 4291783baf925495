"""Node groups and Fargate profiles: the EKS controller's syncs for a cluster's children.

**Node groups** follow their nodes: the container instances of the cluster's ECS cluster that
carry ``eks.amazonaws.com/nodegroup=<name>`` (the task index tells us about every instance
change, so a node joining or leaving re-syncs its group). One sync:

- DELETING: the group's nodes are released (force-deregistered, as EKS terminates a group's
  instances: their agents are refused from then on and their tasks stop), then the record goes;
- UPDATING: the InProgress config updates of the group are applied (labels, taints, scaling);
- the group's labels and taints are written as attributes of its instances (so every node
  carries them: ``model/eks/nodegroups.node_taint_attributes``; labels and taints removed from
  the group are removed from the nodes);
- the status follows ``model/eks/nodegroups.status_for`` (joined vs ``desiredSize``).

**Fargate profiles**: CREATING becomes ACTIVE; DELETING has its pods deleted (as EKS does:
``release_profile``), then is removed.
"""

from __future__ import annotations

import logging
from typing import Protocol

from stowage.controllers.ecs_index import EcsIndex
from stowage.controllers.services.queue import WorkQueue
from stowage.model import container_instances as ci
from stowage.model.eks import clusters as cluster_model
from stowage.model.eks import fargate_profiles as profile_model
from stowage.model.eks import nodegroups as model
from stowage.model.eks import updates as updates_model
from stowage.resources import ecs_keys
from stowage.resources import eks as keys
from stowage.resources.container_instances import InstanceRecords
from stowage.resources.paging import collect
from stowage.resources.records import Doc, Record, RecordMissing, Records
from stowage.store.base import Compare, Delete

log = logging.getLogger("stowage.controllers.eks")


class NodeReleaser(Protocol):
    async def release(self, account: str, region: str, ecs_cluster: str, instance_ids: list[str]) -> None:
        """Take these instances out of service (a deleted node group's nodes)."""

    async def release_profile(self, account: str, region: str, cluster: str, profile: str) -> bool:
        """Delete the pods running under a Fargate profile being deleted; False: call again."""


def _attributes(doc: Doc) -> dict[str, str]:
    return {
        str(a["name"]): str(a.get("value")) for a in doc.get("attributes") or [] if a.get("value") is not None
    }


class EksChildren:
    def __init__(self, records: Records, index: EcsIndex, releaser: NodeReleaser) -> None:
        self.records = records
        self.index = index
        self.releaser = releaser
        self.queue: WorkQueue | None = None
        self.nodegroups: set[str] = set()

    # -- wiring (EksController) --------------------------------------------------------------------
    def attach(self, queue: WorkQueue) -> None:
        self.queue = queue
        self.index.subscribe(self)

    def wants(self, family: str) -> bool:
        return family in (keys.NODEGROUPS, keys.FARGATE)

    # -- IndexListener: a node joining or leaving re-syncs its cluster's groups ------------------------
    def task_changed(self, key: str, old: Record | None, new: Record | None) -> None:
        return

    def instance_changed(self, key: str, rec: Record | None) -> None:
        parsed = ecs_keys.parse(key)
        if parsed is None or self.queue is None or not parsed[3].startswith("eks-"):
            return
        prefix = keys.child_prefix(parsed[0], parsed[1], keys.NODEGROUPS, parsed[3][len("eks-") :])
        for group in self.nodegroups:
            if group.startswith(prefix):
                self.queue.add(group)

    def reset(self) -> None:
        if self.queue is not None:
            for group in self.nodegroups:
                self.queue.add(group)

    # -- syncs ---------------------------------------------------------------------------------------
    async def sync(self, key: str) -> None:
        parsed = keys.parse(key)
        if parsed is None:
            return
        if parsed[2] == keys.FARGATE:
            await self._sync_profile(key)
        elif parsed[2] == keys.NODEGROUPS:
            await self._sync_nodegroup(key, *parsed[:2], parsed[3], parsed[4])

    async def _sync_profile(self, key: str) -> None:
        rec = await self.records.get(key)
        if rec is None:
            return
        status = rec.doc.get("status")
        if status == profile_model.DELETING:
            account, region, _family, cluster, name = keys.parse(key) or ("", "", "", "", "")
            if not await self.releaser.release_profile(account, region, cluster, name):
                if self.queue is not None:
                    self.queue.add(key)  # a pod changed under us: again
                return
            await self.records.store.txn([Compare.mod_revision(key, rec.mod_revision)], [Delete(key)])
        elif status == profile_model.CREATING:
            await self._write(rec, {**rec.doc, "status": profile_model.ACTIVE})

    def _members(self, account: str, region: str, cluster: str, name: str) -> list[Record]:
        out = []
        for ikey in self.index.instance_keys(account, region, cluster_model.backing_cluster(cluster)):
            inst = self.index.instance(ikey)
            if inst is None or inst.doc.get("status") == ci.INACTIVE:
                continue
            if _attributes(inst.doc).get(model.LABEL) == name:
                out.append(inst)
        return out

    async def _sync_nodegroup(self, key: str, account: str, region: str, cluster: str, name: str) -> None:
        rec = await self.records.get(key)
        if rec is None:
            self.nodegroups.discard(key)
            return
        self.nodegroups.add(key)
        members = self._members(account, region, cluster, name)
        doc = dict(rec.doc)
        if doc.get("status") == model.DELETING:
            ids = [m.key.rsplit("/", 1)[-1] for m in members]
            await self.releaser.release(account, region, cluster_model.backing_cluster(cluster), ids)
            result = await self.records.store.txn(
                [Compare.mod_revision(key, rec.mod_revision)], [Delete(key)]
            )
            if result.succeeded:
                self.nodegroups.discard(key)
                log.info("EKS node group %s deleted (%d nodes released)", doc.get("nodegroupArn"), len(ids))
            return
        finished: list[Record] = []
        if doc.get("status") == model.UPDATING:
            prefix = keys.child_prefix(account, region, keys.UPDATES, cluster)
            for update in sorted(await collect(self.records, prefix), key=lambda u: u.doc["createdAt"]):
                if (
                    update.doc.get("_nodegroup") == name
                    and update.doc.get("status") == updates_model.IN_PROGRESS
                ):
                    doc = model.with_config(doc, update.doc.get("_apply") or {})
                    finished.append(update)
            doc["status"] = model.ACTIVE
        applied = await self._apply_labels(account, region, cluster, doc, members)
        joined = sum(1 for m in members if m.doc.get("status") == ci.ACTIVE and m.doc.get("agentConnected"))
        status, health = model.status_for(doc, joined)
        new = {**doc, "status": status, "health": health, "_applied": applied}
        if new == rec.doc and not finished:
            return
        compares = [Compare.mod_revision(key, rec.mod_revision)]
        compares += [Compare.mod_revision(u.key, u.mod_revision) for u in finished]
        writes = [(key, new), *((u.key, updates_model.finished(u.doc)) for u in finished)]
        if not (await self.records.commit(compares, writes)).succeeded and self.queue is not None:
            self.queue.add(key)

    async def _apply_labels(
        self, account: str, region: str, cluster: str, doc: Doc, members: list[Record]
    ) -> list[str]:
        """Each member's attributes carry the group's labels and taints; returns the attribute
        names applied."""
        want = {**model.node_labels(doc), **model.node_taint_attributes(doc)}
        drop = set(doc.get("_applied") or []) - set(want)
        instances = InstanceRecords(self.records)
        for member in members:
            have = _attributes(member.doc)
            if all(have.get(k) == v for k, v in want.items()) and not drop & set(have):
                continue

            def change(current: Doc | None) -> Doc | None:
                if current is None or current.get("status") == ci.INACTIVE:
                    return None
                kept = [a for a in current.get("attributes") or [] if a.get("name") not in drop | set(want)]
                current["attributes"] = kept + [{"name": k, "value": v} for k, v in sorted(want.items())]
                return ci.touch(current)

            iid = member.key.rsplit("/", 1)[-1]
            try:
                await instances.change(account, region, cluster_model.backing_cluster(cluster), iid, change)
            except RecordMissing:
                continue
        return sorted(want)

    async def _write(self, rec: Record, doc: Doc) -> None:
        result = await self.records.commit(
            [Compare.mod_revision(rec.key, rec.mod_revision)], [(rec.key, doc)]
        )
        if not result.succeeded and self.queue is not None:
            self.queue.add(rec.key)
