"""The Fargate provisioner: places Fargate tasks waiting for capacity on the pool's hosts.

RunTask and the service scheduler write a Fargate task PROVISIONING with no instance
(``api.ecs.fargate_tasks``). The provisioner keeps them in the order they came (the index's
``unplaced``), and on every change that could let one start (a new waiting task, a pool host
joining or changing, a task on the pool stopping) plans each against a snapshot of the pool:
the task's size, its cpu architecture as a required host attribute, spread over instances
so neighbours share hosts evenly. A placement is one compare-and-swap transaction: the host's
record at the revision planned on (its resources reserved) and the task still as read (it
gets its instance, its host cluster and its TaskSpec naming the host). A task that does not
fit waits; one stopped while waiting is written STOPPED here, as no agent has it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import replace

from stowage.controllers.ecs_index import EcsIndex
from stowage.controllers.placement import TaskPlacement, instance_after
from stowage.model import container_instances as ci
from stowage.model import tasks as task_model
from stowage.model.agent_tasks import TaskSpec
from stowage.model.fargate import POOL_CLUSTER
from stowage.model.placement import PlacementRequest
from stowage.resources.records import Record, Records
from stowage.resources.tasks import TaskRecords
from stowage.scheduler import planner
from stowage.scheduler.snapshot import Snapshot
from stowage.store.base import Compare

log = logging.getLogger("stowage.controllers.fargate")

SPREAD = ({"type": "spread", "field": "instanceId"},)
RETRY = 0.2
"""Seconds before another pass after a lost compare-and-swap."""


def _pool_key(key: str) -> bool:
    return f"/{POOL_CLUSTER}/" in key


class FargateProvisioner:
    """An ``IndexListener``: woken by the changes that matter, one pass at a time."""

    def __init__(
        self,
        records: Records,
        index: EcsIndex,
        placement: TaskPlacement,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.records = records
        self.index = index
        self.placement = placement
        self.clock = clock
        self.rng = rng or random.Random()
        self._wake = asyncio.Event()
        self.waiting_since: dict[str, float] = {}
        """task key -> when a pass first found no room for it (what service events report)."""
        index.subscribe(self)

    # -- IndexListener ------------------------------------------------------------------------
    def task_changed(self, key: str, old: Record | None, new: Record | None) -> None:
        if new is not None and task_model.is_unplaced(new.doc):
            self._wake.set()
        elif (
            old is not None
            and new is not None
            and old.doc.get("_hostCluster") == POOL_CLUSTER
            and new.doc.get("lastStatus") == task_model.STOPPED != old.doc.get("lastStatus")
        ):
            self._wake.set()  # capacity freed on the pool
        if new is None or not task_model.is_unplaced(new.doc):
            self.waiting_since.pop(key, None)

    def instance_changed(self, key: str, rec: Record | None) -> None:
        if _pool_key(key) and self.index.unplaced():
            self._wake.set()

    def reset(self) -> None:
        self._wake.set()

    # -- the loop -----------------------------------------------------------------------------
    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                again = await self.provision()
            except Exception:  # a pass must never kill the loop; the next change retries
                log.exception("Fargate provisioning pass failed")
                again = True
            if again:
                await asyncio.sleep(RETRY)
                self._wake.set()

    async def provision(self) -> bool:
        """One pass over the waiting tasks. Returns True if a lost race asks for another."""
        waiting = self.index.unplaced()
        by_scope: dict[tuple[str, str], list[Record]] = {}
        for rec in waiting:
            parts = rec.key.split("/")
            by_scope.setdefault((parts[2], parts[3]), []).append(rec)
        again = False
        for (account, region), recs in by_scope.items():
            snapshot = await self.placement.snapshot(account, region, POOL_CLUSTER)
            for rec in recs:
                if rec.doc.get("desiredStatus") == task_model.STOPPED:
                    await self._stop_waiting(rec)
                    continue
                outcome = await self._place(rec, snapshot)
                if outcome is None:
                    again = True
                elif outcome is snapshot:
                    self.waiting_since.setdefault(rec.key, self.clock())
                else:
                    snapshot = outcome
        return again

    def _request(self, rec: Record) -> PlacementRequest:
        doc = rec.doc
        arch = next(
            (a.get("value") for a in doc.get("attributes") or [] if a.get("name") == "ecs.cpu-architecture"),
            "x86_64",
        )
        return PlacementRequest(
            task_model.Needs.from_doc(doc["_needs"]),
            str(doc.get("group", "")),
            strategy=SPREAD,
            launch_type="FARGATE",
            requires_attributes=[{"name": "ecs.cpu-architecture", "value": arch}],
        )

    async def _place(self, rec: Record, snapshot: Snapshot) -> Snapshot | None:
        """Place one task: the snapshot as it is after (the same object: no room), or None
        when the commit lost a race (the task or the host changed)."""
        plan = planner.plan(snapshot, self._request(rec), 1, self.rng)
        if not plan.placements:
            return snapshot
        assignment = plan.assignments[plan.placements[0]]
        inst = assignment.instance
        current = self.index.instance(inst.key)
        if current is None or current.mod_revision != inst.mod_revision:
            return None
        spec = TaskSpec.decode(str(rec.doc["_spec"]))
        spec = replace(spec, container_instance_arn=inst.arn)
        placed = task_model.placed_on(
            rec.doc,
            instance_id=inst.instance_id,
            host_cluster=POOL_CLUSTER,
            availability_zone=inst.attributes.get("ecs.availability-zone"),
            spec=spec.encode(),
        )
        host = dict(current.doc)
        host["remainingResources"] = ci.reserve(
            host["remainingResources"], assignment.cpu, assignment.memory, assignment.tcp, assignment.udp
        )
        host["_activeTasks"] = int(host.get("_activeTasks", 0)) + 1
        host["version"] = int(host.get("version", 0)) + 1
        guards = [
            Compare.mod_revision(inst.key, inst.mod_revision),
            Compare.mod_revision(rec.key, rec.mod_revision),
        ]
        result = await self.records.commit(guards, [(inst.key, host), (rec.key, placed)])
        if not result.succeeded:
            return None
        return snapshot.with_instances([instance_after(inst, assignment, result.revision, 1)])

    async def _stop_waiting(self, rec: Record) -> None:
        report = task_model.Report(last_status=task_model.STOPPED, from_agent=False)
        now = self.clock()
        await TaskRecords(self.records).change(
            rec.key,
            lambda d: task_model.apply_report(d, report, now) if task_model.is_unplaced(d) else None,
        )
