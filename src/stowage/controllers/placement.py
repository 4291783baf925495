"""Placing tasks: this issue's first-fit placer, and the applier that commits its decisions.

``FirstFit`` (a ``model.placement.Placer``) takes the first ACTIVE, connected instance, in
registration order, that satisfies the constraints and has the CPU, memory and fixed host ports
the task needs. ``TaskPlacement`` builds candidates from the in-memory index, asks the placer,
and commits with ``TaskRecords.place`` (one transaction, guarded by the instance's and the
cluster's mod revisions). A lost compare re-reads that instance from the store and asks again,
so a stale index costs a retry, never an over-commit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from stowage.controllers.ecs_index import EcsIndex
from stowage.model import placement as pm
from stowage.resources import ecs_keys
from stowage.resources.container_instances import InstanceRecords
from stowage.resources.records import Doc, Record, Records
from stowage.resources.tasks import TaskRecords
from stowage.scheduler import query

MAX_ATTEMPTS = 64


class FirstFit:
    """The first instance with room. Instances that are not ACTIVE are skipped silently (ECS
    never places on DRAINING instances); every other rejection is reported."""

    def choose(self, request: pm.PlacementRequest, candidates: Sequence[pm.Candidate]) -> pm.Decision:
        failures: list[tuple[str, str]] = []
        ordered = sorted(candidates, key=lambda c: (float(c.doc.get("registeredAt", 0)), c.key))
        for c in ordered:
            if not c.active:
                continue
            if not c.connected:
                failures.append((c.arn, pm.AGENT))
                continue
            reason = constraint_failure(request, c) or c.misfit(request.needs)
            if reason is not None:
                failures.append((c.arn, reason))
                continue
            return pm.Decision(c)
        return pm.Decision(None, failures)


def query_target(c: pm.Candidate) -> query.QueryTarget:
    return query.QueryTarget(
        attributes=c.attributes(),
        ec2_instance_id=c.doc.get("ec2InstanceId"),
        registered_at=c.doc.get("registeredAt"),
        running_tasks_count=c.running_tasks,
        task_groups=c.task_groups,
    )


def constraint_failure(request: pm.PlacementRequest, c: pm.Candidate) -> str | None:
    for constraint in request.constraints:
        kind = constraint.get("type")
        if kind == "distinctInstance" and request.group in c.task_groups:
            return pm.DISTINCT_INSTANCE
        if kind == "memberOf":
            try:
                ok = query.matches(str(constraint.get("expression", "")), query_target(c))
            except query.QueryError:
                ok = False
            if not ok:
                return pm.MEMBER_OF
    return None


@dataclass(frozen=True, slots=True)
class Placed:
    task: Record
    instance: pm.Candidate


class ClusterChanged(Exception):
    """The cluster stopped being ACTIVE during placement."""


class TaskPlacement:
    def __init__(self, records: Records, index: EcsIndex, placer: pm.Placer) -> None:
        self.records = records
        self.index = index
        self.placer = placer
        self.tasks = TaskRecords(records)
        self.instances = InstanceRecords(records)

    async def candidates(
        self, account: str, region: str, cluster: str, only: Sequence[str] | None = None
    ) -> list[pm.Candidate]:
        """The cluster's instances as placement sees them (``only``: these instance ids, read
        from the store, for StartTask)."""
        if only is not None:
            recs = [await self.instances.get(account, region, cluster, i) for i in only]
            found = [r for r in recs if r is not None]
        else:
            found = [
                rec
                for key in self.index.instance_keys(account, region, cluster)
                if (rec := self.index.instance(key))
            ]
        custom = await self.instances.custom_attributes(account, region, cluster)
        return [self._candidate(rec, custom) for rec in found]

    def _candidate(self, rec: Record, custom: Mapping[str, list[Doc]]) -> pm.Candidate:
        instance_id = rec.key.rsplit("/", 1)[-1]
        slot = self.index.slot(rec.key)
        groups: set[str] = set()
        families: set[str] = set()
        running = 0
        if slot is not None:
            running = slot.running
            for t in slot.tasks.values():
                if t.doc.get("lastStatus") != "STOPPED":
                    groups.add(str(t.doc.get("group", "")))
                    families.add(str(t.doc.get("taskDefinitionArn", "")))
        return pm.Candidate(
            key=rec.key,
            instance_id=instance_id,
            doc=rec.doc,
            mod_revision=rec.mod_revision,
            custom_attributes={a["name"]: a.get("value") for a in custom.get(instance_id, [])},
            running_tasks=running,
            task_groups=frozenset(groups),
            task_families=frozenset(families),
        )

    async def place(
        self,
        *,
        account: str,
        region: str,
        cluster: Record,
        candidates: list[pm.Candidate],
        request: pm.PlacementRequest,
        build: Callable[[pm.Candidate], tuple[str, Doc]],
    ) -> tuple[Placed | None, list[tuple[str, str]], Record]:
        """Place one task. ``build(candidate)`` makes its key and record for that instance.
        ``candidates`` is updated in place with what the commit changed, so a batch (RunTask
        with count > 1) places its next task against fresh numbers. Returns the placement (or
        None with the failures) and the cluster record as last read."""
        for _ in range(MAX_ATTEMPTS):
            decision = self.placer.choose(request, candidates)
            chosen = decision.chosen
            if chosen is None:
                return None, decision.failures, cluster
            key, doc = build(chosen)
            inst = Record(chosen.key, chosen.doc, chosen.mod_revision)
            result, written = await self.tasks.place(key, doc, inst, cluster.key, cluster.mod_revision)
            i = candidates.index(chosen)
            if result.succeeded:
                groups = chosen.task_groups | {request.group}
                candidates[i] = replace(chosen, doc=written, mod_revision=result.revision, task_groups=groups)
                return Placed(Record(key, doc, result.revision), candidates[i]), [], cluster
            # Lost a race: refresh what we compared and ask the placer again.
            fresh_cluster = await self.records.get(cluster.key)
            if fresh_cluster is None or fresh_cluster.doc.get("status") != "ACTIVE":
                raise ClusterChanged(cluster.key)
            cluster = fresh_cluster
            fresh = await self.records.get(chosen.key)
            if fresh is None:
                candidates.pop(i)
            else:
                candidates[i] = replace(chosen, doc=fresh.doc, mod_revision=fresh.mod_revision)
        raise RuntimeError("placement kept losing its compare-and-swap")


def instance_key(account: str, region: str, cluster: str, instance_id: str) -> str:
    return ecs_keys.container_instance(account, region, cluster, instance_id)
