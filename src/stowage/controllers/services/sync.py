"""One sync of one service: read the service and its tasks, take one step, write what it did.

Level-triggered and safe to crash anywhere: everything the step decides is derived from the
service record and the tasks in the index, and every task carries its deployment id in
``startedBy``, so a restarted controller recounts what a crashed one started. Tasks are
started (the launcher commits them with compare-and-swap) and stopped before the service
record is written; the index is waited for after each write, so the next sync of the same key
sees them. The service record is written with a compare on the revision read: if UpdateService
got there first, only the events are carried over and the key is synced again.

The order inside a step: retire a DRAINING service; classify tasks (deployment, health,
instance state); trip the circuit breaker; pause launches while tasks keep failing to start
(`throttle`); ``model.deployments.step`` (REPLICA) or the
per-instance daemon rule (DAEMON) says what to start and stop; start and stop; recount;
complete deployments and drop drained ones; events.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from stowage.controllers.ecs_index import EcsIndex
from stowage.controllers.services import breaker, throttle
from stowage.controllers.services.breaker import SCHEDULER
from stowage.controllers.services.launcher import Launcher
from stowage.controllers.services.tracker import ServiceRef
from stowage.model import container_instances as ci
from stowage.model import deployments as dm
from stowage.model import services as model
from stowage.model import tasks as task_model
from stowage.model.agent_tasks import TaskSpec
from stowage.resources import ecs_keys
from stowage.resources.records import Doc, Record, Records
from stowage.resources.services import ServiceRecords
from stowage.resources.tasks import TaskRecords
from stowage.store.base import Compare

log = logging.getLogger("stowage.controllers.services")

MAX_BACKOFF = 60.0
INACTIVE_RETENTION = 3600.0
STOP_BATCH = 500
CAPACITY_WAIT = 5.0
"""Seconds a Fargate task waits for pool capacity before the service's events say so."""
"""Stop requests in flight at once (one sync may stop thousands of tasks in a rollout)."""


@dataclass
class SyncConfig:
    deregistration_delay: float = 2.0
    """Seconds a load-balanced task leaves the listener's targets before it is stopped."""
    resync: float = 15.0
    """Every service is synced at least this often (time-based rules: back-off, grace)."""


@dataclass
class _Classified:
    live: list[Record] = field(default_factory=list)
    lost: list[Record] = field(default_factory=list)
    """Live tasks on a disconnected, draining-for-daemon, or deregistered instance."""
    draining: set[str] = field(default_factory=set)
    """Task keys on DRAINING instances (REPLICA moves them within the limits)."""
    owner: dict[str, str] = field(default_factory=dict)
    """task key -> deployment id."""
    orphans: list[Record] = field(default_factory=list)


class Health:
    """A task counts as healthy when RUNNING (and still wanted) and, if its task definition has
    container health checks, HEALTHY. Whether a task definition has health checks is read once
    per task definition ARN from the task's own spec (task definitions are immutable)."""

    def __init__(self) -> None:
        self._checked: dict[str, bool] = {}

    def checked(self, doc: Doc) -> bool:
        arn = str(doc.get("taskDefinitionArn", ""))
        known = self._checked.get(arn)
        if known is None:
            try:
                td = TaskSpec.decode(doc["_spec"]).task_definition
                known = any(c.get("healthCheck") for c in td.get("containerDefinitions", []))
            except (KeyError, ValueError, TypeError):
                known = any(c.get("healthStatus") == "HEALTHY" for c in doc.get("containers", []))
            self._checked[arn] = known
        return known

    def __call__(self, doc: Doc) -> bool:
        if doc.get("lastStatus") != task_model.RUNNING or doc.get("desiredStatus") != task_model.RUNNING:
            return False
        return not self.checked(doc) or doc.get("healthStatus") == "HEALTHY"


healthy = Health()


def _orphan_stopped(doc: Doc, *, now: float) -> Doc | None:
    report = task_model.Report(last_status=task_model.STOPPED, from_agent=False)
    return task_model.apply_report(doc, report, now)


def _sooner(again: float | None, delay: float) -> float:
    """When to sync again: the earlier of what the step has asked for so far and ``delay``."""
    return min(again or delay, delay)


def _short(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


class ServiceSync:
    def __init__(
        self,
        records: Records,
        index: EcsIndex,
        launcher: Launcher,
        *,
        clock: Callable[[], float],
        config: SyncConfig,
    ) -> None:
        self.records = records
        self.index = index
        self.launcher = launcher
        self.clock = clock
        self.config = config
        self.services = ServiceRecords(records)
        self.tasks = TaskRecords(records)

    # -- entry ------------------------------------------------------------------------------
    async def sync(self, key: str, tasks: list[Record]) -> float | None:
        """One step for the service at ``key``. Returns seconds until it wants another sync
        (None: only when something changes or at the periodic resync)."""
        rec = await self.records.get(key)
        if rec is None:
            return None
        status = rec.doc.get("status")
        if status == model.INACTIVE:
            return await self._reap(rec)
        if status == model.DRAINING:
            return await self._drain(rec, tasks)
        return await self._step(rec, tasks)

    async def _reap(self, rec: Record) -> float | None:
        left = float(rec.doc.get("_deletedAt", 0)) + INACTIVE_RETENTION - self.clock()
        if left > 0:
            return left
        await self.services.delete(rec)
        return None

    async def _drain(self, rec: Record, tasks: list[Record]) -> float | None:
        now = self.clock()
        live = [t for t in tasks if t.doc.get("lastStatus") != task_model.STOPPED]
        await self._stop([t for t in live if t.doc.get("desiredStatus") != task_model.STOPPED], None, now)
        if any(not self._lost(t) for t in live):
            return None

        def retire(doc: Doc) -> Doc | None:
            if doc.get("status") != model.DRAINING:
                return None
            doc["status"] = model.INACTIVE
            doc["_deletedAt"] = now
            doc["runningCount"] = doc["pendingCount"] = 0
            for dep in doc.get("deployments", []):
                dep["runningCount"] = dep["pendingCount"] = 0
            return doc

        await self.services.change(rec.key, retire)
        return INACTIVE_RETENTION

    # -- classification ---------------------------------------------------------------------
    def _instance(self, key: str, doc: Doc) -> Doc | None:
        ikey = ecs_keys.task_instance(key, doc)
        inst = None if ikey is None else self.index.instance(ikey)
        return None if inst is None else inst.doc

    def _lost(self, task: Record) -> bool:
        if task_model.is_unplaced(task.doc):
            return False  # a Fargate task waiting for capacity: the provisioner has it
        inst = self._instance(task.key, task.doc)
        return inst is None or inst.get("status") == ci.INACTIVE or not inst.get("agentConnected", True)

    def _classify(self, doc: Doc, tasks: list[Record]) -> _Classified:
        out = _Classified()
        seen: dict[str, Doc | None] = {}
        owners = {o: dep["id"] for dep in doc.get("deployments", []) for o in dep.get("_owns", [dep["id"]])}
        for t in tasks:
            if t.doc.get("lastStatus") == task_model.STOPPED:
                continue
            owner = owners.get(str(t.doc.get("startedBy", "")))
            if owner is None:
                out.orphans.append(t)
                continue
            out.owner[t.key] = owner
            # thousands of tasks share a few hundred instances: look each one up once
            if task_model.is_unplaced(t.doc):
                out.live.append(t)  # waiting for Fargate capacity: pending, on no instance yet
                continue
            iid = f"{t.doc.get('_hostCluster', '')}/{t.doc.get('_instance')}"
            if iid in seen:
                inst = seen[iid]
            else:
                inst = seen[iid] = self._instance(t.key, t.doc)
            if inst is None or inst.get("status") == ci.INACTIVE or not inst.get("agentConnected", True):
                out.lost.append(t)
                continue
            if inst.get("status") == ci.DRAINING:
                out.draining.add(t.key)
            out.live.append(t)
        return out

    # -- the step ---------------------------------------------------------------------------
    async def _step(self, rec: Record, tasks: list[Record]) -> float | None:
        now = self.clock()
        doc = copy.deepcopy(rec.doc)
        name = doc["serviceName"]
        events: list[str] = []
        again: float | None = None
        prim = model.primary(doc)
        if prim is None:
            return None
        c = self._classify(doc, tasks)
        # Tasks on lost instances: asked to stop (the agent stops them if it comes back) and
        # replaced; tasks of no deployment (a dropped one): stopped.
        await self._stop(
            [t for t in c.lost + c.orphans if t.doc.get("desiredStatus") != task_model.STOPPED], None, now
        )
        breaker.count_failures(doc, tasks)
        prim = model.primary(doc)
        assert prim is not None
        breaker.trip(doc, events, now)
        prim = model.primary(doc)
        assert prim is not None
        held = throttle.hold(doc, tasks, events, now)
        if held is not None:
            again = held
        # Unhealthy tasks past their grace period are replaced.
        grace = float(doc.get("healthCheckGracePeriodSeconds") or 0)
        sick = [
            t
            for t in c.live
            if t.doc.get("healthStatus") == "UNHEALTHY"
            and t.doc.get("desiredStatus") == task_model.RUNNING
            and now - float(t.doc.get("startedAt") or now) >= grace
        ]
        if sick:
            for t in sick:
                events.append(
                    f"(service {name}) (task {_short(t.doc['taskArn'])}) failed container health checks."
                )
            await self._stop(sick, "Task failed container health checks", now, failed=True)
            c.live = [t for t in c.live if t not in sick]
            again = _sooner(again, grace or 1.0)

        deregistering: dict[str, float] = dict(doc.get("_deregistering") or {})
        live_keys = {t.key for t in c.live}
        deregistering = {k: v for k, v in deregistering.items() if k in live_keys}
        can_start = (
            prim.get("rolloutState") != model.FAILED and now >= float(doc.get("_retryAt", 0)) and held is None
        )
        if doc.get("schedulingStrategy") == model.DAEMON:
            start_on, stop = await self._daemon_plan(doc, prim, c, deregistering, can_start)
            desired = int(doc["desiredCount"])
        else:
            desired = int(doc.get("desiredCount", 0))
            views = [
                dm.TaskView(
                    key=t.key,
                    primary=c.owner[t.key] == prim["id"] and t.key not in c.draining,
                    healthy=healthy(t.doc) and t.key not in deregistering,
                    stopping=t.doc.get("desiredStatus") == task_model.STOPPED or t.key in deregistering,
                    pending=task_model.rank(t.doc.get("lastStatus")) < task_model.rank(task_model.RUNNING),
                )
                for t in c.live
            ]
            low, high = model.limits(doc)
            plan = dm.step(desired, low, high, views, can_start=can_start)
            start_on, stop = [None] * plan.start, list(plan.stop)
        # Stop (load-balanced healthy targets leave the listener first).
        by_key = {t.key: t for t in c.live}
        # Tasks already in their deregistration delay stay on the way out.
        stop = list(dict.fromkeys([*stop, *deregistering]))
        to_stop: list[Record] = []
        for k in stop:
            t = by_key[k]
            if doc.get("loadBalancers") and healthy(t.doc) and self.config.deregistration_delay > 0:
                until = deregistering.setdefault(k, now + self.config.deregistration_delay)
                if until > now:
                    again = _sooner(again, until - now)
                    continue
            to_stop.append(t)
        if to_stop:
            reason = f"Scaling activity initiated by (deployment {prim['id']})"
            stopped = await self._stop(to_stop, reason, now)
            for t in stopped:
                deregistering.pop(t.key, None)
            if stopped:
                events.append(model.stopped_message(name, [_short(t.doc["taskArn"]) for t in stopped]))
        doc["_deregistering"] = deregistering
        # Start.
        if start_on:
            started, failures, error = await self._start(doc, prim, start_on)
            if started:
                events.append(model.started_message(name, [_short(t.doc["taskArn"]) for t in started]))
            if len(started) < len(start_on):
                retries = int(doc.get("_retries", 0)) + 1
                delay = min(2.0**retries, MAX_BACKOFF)
                doc["_retries"], doc["_retryAt"] = retries, now + delay
                again = _sooner(again, delay)
                message = error or model.unplaceable_message(name, failures)
                last = (doc.get("events") or [{}])[0]
                if last.get("message") != message or now - float(last.get("createdAt", 0)) > 60:
                    events.append(message)
            else:
                doc.pop("_retries", None)
                doc.pop("_retryAt", None)
            tasks = tasks + started
            c = self._classify(doc, tasks)
        elif not can_start and doc.get("_retryAt"):
            again = _sooner(again, max(float(doc["_retryAt"]) - now, 0.05))
        wait = self._capacity_wait(doc, c, now, events)
        if wait is not None:
            again = _sooner(again, wait)
        self._recount(doc, c, desired, now, events)
        for message in events:
            model.add_event(doc, message, now)
        steady = self._steady(doc, desired)
        if steady and not to_stop and not start_on:
            if now - float(doc.get("_steadyAt", 0)) >= model.STEADY_EVENT_INTERVAL:
                model.add_event(doc, model.steady_message(name), now)
                doc["_steadyAt"] = now
        elif not steady:
            doc.pop("_steadyAt", None)
        await self._write(rec, doc, events)
        return again

    # -- pieces -----------------------------------------------------------------------------
    async def _daemon_plan(
        self, doc: Doc, prim: Doc, c: _Classified, deregistering: dict[str, float], can_start: bool
    ) -> tuple[list[str | None], list[str]]:
        """DAEMON: one task per eligible instance. On an instance running an old deployment's
        task, that task stops first (within minimumHealthyPercent) and the new one starts on a
        later sync; tasks on instances no longer eligible stop."""
        cluster = doc["clusterArn"].rsplit("/", 1)[-1]
        account, region = doc["serviceArn"].split(":")[4], doc["serviceArn"].split(":")[3]
        ids: list[str] = []
        for key in self.index.instance_keys(account, region, cluster):
            inst = self.index.instance(key)
            if inst is None:
                continue
            if inst.doc.get("status") == ci.ACTIVE and inst.doc.get("agentConnected", True):
                ids.append(key.rsplit("/", 1)[-1])
        eligible = await self.launcher.eligible(doc, ids) if ids else []
        doc["desiredCount"] = len(eligible)
        on: dict[str, list[Record]] = {}
        for t in c.live:
            on.setdefault(str(t.doc["_instance"]), []).append(t)
        low, _high = model.limits(doc)
        lower = dm.lower_limit(len(eligible), low)
        healthy_now = sum(1 for t in c.live if healthy(t.doc) and t.key not in deregistering)
        stop: list[str] = []
        start_on: list[str | None] = []
        for iid, ts in on.items():
            if iid not in eligible:
                stop.extend(t.key for t in ts if t.doc.get("desiredStatus") != task_model.STOPPED)
        for iid in eligible:
            ts = [t for t in on.get(iid, []) if t.doc.get("desiredStatus") != task_model.STOPPED]
            mine = [t for t in ts if c.owner[t.key] == prim["id"]]
            old = [t for t in ts if c.owner[t.key] != prim["id"]]
            stop.extend(t.key for t in mine[1:])
            for t in old:
                if not healthy(t.doc) or healthy_now > lower:
                    stop.append(t.key)
                    healthy_now -= 1 if healthy(t.doc) else 0
            if not ts and not on.get(iid) and can_start:
                start_on.append(iid)
        return start_on, stop

    async def _start(
        self, doc: Doc, prim: Doc, start_on: list[str | None]
    ) -> tuple[list[Record], list[tuple[str, str]], str | None]:
        started: list[Record] = []
        failures: list[tuple[str, str]] = []
        error: str | None = None
        groups: dict[str | None, int] = {}
        for iid in start_on:
            groups[iid] = groups.get(iid, 0) + 1
        for iid, count in groups.items():
            result = await self.launcher.launch(doc, prim, count, instance_id=iid)
            started.extend(result.tasks)
            failures.extend(result.failures)
            error = error or result.error
        if started:
            await self.index.caught_up(max(t.mod_revision for t in started))
        return started, failures, error

    async def _stop(
        self, tasks: list[Record], reason: str | None, now: float, *, failed: bool = False
    ) -> list[Record]:
        """Ask ``tasks`` to stop. Each is its own compare-and-swap on the copy the index holds
        (no read first), and they are issued together, a bounded number at a time, so the
        store's writer commits them in a few group commits instead of one round trip each."""

        def change(d: Doc) -> Doc | None:
            new = task_model.stop_requested(d, reason or "Service was deleted", now, SCHEDULER)
            if new is not None and failed:
                new["_serviceFailure"] = True
            return new

        async def one(t: Record) -> Record | None:
            rec = await self.tasks.change(t.key, change, cached=self.index.record)
            if rec is None:
                return None
            if self._lost(rec) and rec.doc.get("lastStatus") != task_model.STOPPED:
                inst = self._instance(rec.key, rec.doc)
                if inst is None or inst.get("status") == ci.INACTIVE:
                    # No agent will ever stop it: stop it here (as StopTask does).
                    rec = await self.tasks.change(rec.key, functools.partial(_orphan_stopped, now=now)) or rec
            return rec

        done: list[Record] = []
        for i in range(0, len(tasks), STOP_BATCH):
            for rec in await asyncio.gather(*(one(t) for t in tasks[i : i + STOP_BATCH])):
                if rec is not None:
                    done.append(rec)
        if done:
            await self.index.caught_up(max(t.mod_revision for t in done))
        return done

    @staticmethod
    def _capacity_wait(doc: Doc, c: _Classified, now: float, events: list[str]) -> float | None:
        """Fargate tasks still waiting for pool capacity: an event once they have waited
        ``CAPACITY_WAIT`` (repeated at most once a minute), and when to look again."""
        waiting = [
            t
            for t in c.live
            if task_model.is_unplaced(t.doc) and t.doc.get("desiredStatus") == task_model.RUNNING
        ]
        if not waiting:
            return None
        oldest = min(float(t.doc.get("createdAt") or now) for t in waiting)
        if now - oldest >= CAPACITY_WAIT:
            message = model.capacity_wait_message(doc["serviceName"], len(waiting))
            last = (doc.get("events") or [{}])[0]
            if last.get("message") != message or now - float(last.get("createdAt", 0)) > 60:
                events.append(message)
        return CAPACITY_WAIT

    def _recount(self, doc: Doc, c: _Classified, desired: int, now: float, events: list[str]) -> None:
        name = doc["serviceName"]
        counts: dict[str, list[int]] = {d["id"]: [0, 0, 0] for d in doc["deployments"]}
        for t in c.live:
            n = counts[c.owner[t.key]]
            if t.doc.get("lastStatus") == task_model.RUNNING:
                n[0] += 1
            elif task_model.rank(t.doc.get("lastStatus")) < task_model.rank(task_model.RUNNING):
                n[1] += 1
            if healthy(t.doc) and t.key not in c.draining:
                n[2] += 1
        keep: list[Doc] = []
        prim = next(d for d in doc["deployments"] if d["status"] == model.PRIMARY)
        for dep in doc["deployments"]:
            running, pending, _ok = counts[dep["id"]]
            changed = (dep.get("runningCount"), dep.get("pendingCount")) != (running, pending)
            dep["runningCount"], dep["pendingCount"] = running, pending
            if dep is prim:
                dep["desiredCount"] = desired
            else:
                dep["desiredCount"] = running + pending
            if changed:
                dep["updatedAt"] = now
            if dep is not prim and running + pending == 0:
                continue  # drained: an ACTIVE deployment leaves the list
            keep.append(dep)
        doc["deployments"] = keep
        doc["runningCount"] = sum(d["runningCount"] for d in keep)
        doc["pendingCount"] = sum(d["pendingCount"] for d in keep)
        sd = breaker.service_deployment(doc, prim)
        if sd is not None:
            sd["targetServiceRevision"].update(
                requestedTaskCount=desired,
                runningTaskCount=prim["runningCount"],
                pendingTaskCount=prim["pendingCount"],
            )
        doc["currentServiceRevisions"] = [
            {
                "arn": self._rev_arn(doc, d),
                "requestedTaskCount": d["desiredCount"],
                "runningTaskCount": d["runningCount"],
                "pendingTaskCount": d["pendingCount"],
            }
            for d in keep
        ]
        healthy_primary = counts[prim["id"]][2]
        if (
            prim["rolloutState"] == model.IN_PROGRESS
            and len(keep) == 1
            and healthy_primary == desired
            and prim["runningCount"] == desired
            and prim["pendingCount"] == 0
        ):
            prim["rolloutState"] = model.COMPLETED
            prim["rolloutStateReason"] = f"ECS deployment {prim['id']} completed."
            prim["updatedAt"] = now
            events.append(f"(service {name}) (deployment {prim['id']}) deployment completed.")
            doc["_lastCompleted"] = {
                "id": prim["id"],
                "rev": prim["_rev"],
                "taskDefinition": prim["taskDefinition"],
                "networkConfiguration": prim.get("networkConfiguration"),
                "launchType": prim.get("launchType"),
            }
            if sd is not None:
                sd["status"] = (
                    "ROLLBACK_SUCCESSFUL" if sd.get("status") == "ROLLBACK_IN_PROGRESS" else "SUCCESSFUL"
                )
                sd["finishedAt"] = sd["updatedAt"] = now
                if sd["deploymentCircuitBreaker"]["status"] == "MONITORING":
                    sd["deploymentCircuitBreaker"]["status"] = "MONITORING_COMPLETE"

    @staticmethod
    def _rev_arn(doc: Doc, dep: Doc) -> str:
        arn = str(doc["serviceArn"])
        region, account = arn.split(":")[3], arn.split(":")[4]
        cluster = str(doc["clusterArn"]).rsplit("/", 1)[-1]
        return model.revision_arn(region, account, cluster, doc["serviceName"], str(dep.get("_rev")))

    @staticmethod
    def _steady(doc: Doc, desired: int) -> bool:
        deps = doc.get("deployments") or []
        return (
            len(deps) == 1
            and deps[0].get("rolloutState") == model.COMPLETED
            and doc.get("runningCount") == desired
            and doc.get("pendingCount") == 0
        )

    async def _write(self, rec: Record, doc: Doc, events: list[str]) -> None:
        if doc == rec.doc:
            return
        result = await self.records.commit(
            [Compare.mod_revision(rec.key, rec.mod_revision)], [(rec.key, doc)]
        )
        if result.succeeded:
            return
        # Someone (UpdateService) wrote first: keep our events, and sync again.
        if events:
            now = self.clock()

            def carry(current: Doc) -> Doc:
                for message in events:
                    model.add_event(current, message, now)
                return current

            await self.services.change(rec.key, carry)
        raise Retry()


class Retry(Exception):
    """The service changed under the sync: sync the key again at once."""


def service_ref(key: str) -> ServiceRef | None:
    return ecs_keys.parse_service(key)
