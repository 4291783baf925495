"""The pod controller: every pod becomes one ECS task, placed by the same scheduler and plan
applier as RunTask and run by the same agents; the pod's status follows its task.

Feeds: a list+watch of the pods prefix, and the task index's change feed (a task carrying
``_pod`` re-queues its pod; an instance change re-queues its Node and the unscheduled pods).
One sync per pod key, level-triggered (``sync``):

- no task yet: resolve the ConfigMaps/Secrets its volumes and env read (a volume's missing:
  the kubelet's FailedMount, the pod stays ContainerCreating; env's missing: the kubelet's
  CreateContainerConfigError; both retried), then place it (``spec.nodeName`` → only that node;
  ``nodeSelector``/required node affinity → a memberOf constraint; requests → the needs; the
  nodes whose taints it does not tolerate, and cordoned ones, are excluded: ``node_watch``).
  Placed: the pod is bound (``spec.nodeName``, the task ARN annotation) and a Scheduled event
  written. Not placed: it stays Pending with PodScheduled=False/Unschedulable and a
  FailedScheduling event whenever the reason changes; retried on any instance change and
  periodically.
- a task: the pod's status is recomputed from it (``model/k8s/pod_status``, with the init
  containers' part from ``model/k8s/init_containers``) and the events of the transition
  written (Pulled, Created, Started...).
- on a node with a NoExecute taint it does not tolerate: evicted (``taint_eviction``).
- deletionTimestamp set (graceful delete): the task is stopped (Killing events); once it is
  STOPPED the pod object is removed. A pod deleted outright has its task stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from stowage.controllers.ecs_index import EcsIndex
from stowage.controllers.k8s.fargate_pods import FargatePods
from stowage.controllers.k8s.node_watch import NodeWatch
from stowage.controllers.k8s.nodes import NodeSync
from stowage.controllers.k8s.objects import EventSpec, ObjectWriter
from stowage.controllers.k8s.pod_tasks import Backing, build_task, placement_request, pod_of
from stowage.controllers.k8s.taint_eviction import TaintEviction
from stowage.controllers.k8s.worker import work
from stowage.controllers.placement import ClusterChanged
from stowage.controllers.services.queue import WorkQueue
from stowage.controllers.task_plane import TaskPlane
from stowage.model import container_instances as ci
from stowage.model import placement as pm
from stowage.model import tasks as task_model
from stowage.model.k8s import init_containers, pod_volumes, pods
from stowage.model.k8s import pod_status as ps
from stowage.model.k8s.nodes import node_name
from stowage.model.k8s.pod_probe_events import Seen, probe_changes, probe_event
from stowage.resources import ecs_keys
from stowage.resources.k8s_objects import K8sObjects, Stored, resource_prefix
from stowage.resources.records import Record
from stowage.resources.tasks import TaskRecords
from stowage.scheduler.snapshot import Instance
from stowage.store.base import Compacted, EventType, StoreError

log = logging.getLogger("stowage.controllers.k8s")

Obj = dict[str, Any]
TASK_ANNOTATION = "ecs.stowage.io/task-arn"
NODE_KEY = "node:"
WORKERS = 4
RESYNC = 30.0
RETRY_UNSCHEDULABLE = 10.0
RETRY_CONFIG = 3.0
_SCHEDULER = "default-scheduler"
_REASONS = {
    pm.RESOURCE_CPU: "Insufficient cpu",
    pm.RESOURCE_MEMORY: "Insufficient memory",
    pm.RESOURCE_PORTS: "node(s) didn't have free ports for the requested pod ports",
    pm.RESOURCE_PORTS_UDP: "node(s) didn't have free ports for the requested pod ports",
    pm.AGENT: "node(s) had untolerated taint {node.kubernetes.io/unreachable: }",
    pm.MEMBER_OF: "node(s) didn't match Pod's node affinity/selector",
    pm.ATTRIBUTE: "node(s) didn't match Pod's node affinity/selector",
}


def unschedulable_message(failures: list[tuple[str, str]], nodes: int) -> str:
    """The scheduler's FailedScheduling message: ``0/3 nodes are available: 2 Insufficient
    cpu, 1 node(s) didn't match Pod's node affinity/selector.``"""
    if nodes == 0:
        return "no nodes available to schedule pods"
    counts: dict[str, int] = {}
    for _arn, reason in dict.fromkeys(failures):
        text = _REASONS.get(reason, reason.rstrip("."))
        counts[text] = counts.get(text, 0) + 1
    # upstream sorts the "<count> <reason>" strings themselves
    parts = ", ".join(sorted(f"{n} {text}" for text, n in counts.items()))
    return f"0/{nodes} nodes are available: {parts}." if parts else f"0/{nodes} nodes are available."


class PodController:
    def __init__(
        self,
        objects: K8sObjects,
        plane: TaskPlane,
        backing: Backing,
        *,
        clock: Callable[[], float] = time.time,
        fargate_cluster: str | None = None,
    ) -> None:
        self.objects = objects
        self.plane = plane
        self.index: EcsIndex = plane.index
        self.backing = backing
        self.clock = clock
        self.writer = ObjectWriter(objects, backing.space, clock)
        self.nodes = NodeSync(
            plane.index, self.writer, (backing.account, backing.region, backing.cluster), clock
        )
        self.queue = WorkQueue()
        self.node_watch = NodeWatch(objects, backing.space, self._node_edited)
        """Taints and cordons, for placement (``restrict``) and the taint eviction."""
        self.evictions = TaintEviction(self.writer, self.node_watch, clock)
        self.tasks = TaskRecords(plane.records)
        self.task_of: dict[str, str] = {}
        """pod key -> task key, from the index's change feed."""
        self.pod_keys: set[str] = set()
        self.unscheduled: set[str] = set()
        self.mount_errors: dict[str, str] = {}
        self.probes_seen: dict[str, dict[str, Seen]] = {}
        """pod key -> per container, the probe failures and kill last announced (Unhealthy and
        Killing events: ``model/k8s/pod_probe_events``)."""
        """pod key -> the FailedMount message last announced (announced again when it changes)."""
        self._loops: list[asyncio.Task[None]] = []
        self.fargate = FargatePods(self, fargate_cluster) if fargate_cluster else None
        """The fargate-scheduler of an EKS cluster (``fargate_cluster``: its name)."""

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        self.index.subscribe(self)
        for rec in self.index.tasks():
            self.task_changed(rec.key, None, rec)
        for key in self.index.instance_keys(self.backing.account, self.backing.region, self.backing.cluster):
            self.queue.add(NODE_KEY + key)
        self._loops.append(asyncio.create_task(self._watch(), name="k8s-pods-watch"))
        self._loops.append(asyncio.create_task(self._resync(), name="k8s-pods-resync"))
        self._loops.append(asyncio.create_task(self.node_watch.run(), name="k8s-pods-nodes"))
        self._loops.extend(self.evictions.start())
        self._loops.extend(
            asyncio.create_task(work(self.queue, self.sync, "pod"), name=f"k8s-pods-{i}")
            for i in range(WORKERS)
        )
        with contextlib.suppress(StoreError):
            await self.nodes.sync_all()

    async def stop(self) -> None:
        for loop in self._loops:
            loop.cancel()
        for loop in self._loops:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await loop
        self._loops.clear()
        self.queue.close()
        self.evictions.stop()

    # -- feeds (IndexListener) ---------------------------------------------------------------------
    def _ours(self, key: str) -> bool:
        parsed = ecs_keys.parse(key)
        b = self.backing
        return parsed is not None and (parsed[0], parsed[1], parsed[3]) == (b.account, b.region, b.cluster)

    def task_changed(self, key: str, old: Record | None, new: Record | None) -> None:
        rec = new or old
        pod = pod_of(rec.doc) if rec is not None else None
        if pod is None or not self._ours(key):
            return
        pod_key = str(pod["key"])
        if new is None:
            if self.task_of.get(pod_key) == key:
                del self.task_of[pod_key]
        else:
            self.task_of[pod_key] = key
        self.queue.add(pod_key)

    def instance_changed(self, key: str, rec: Record | None) -> None:
        if not self._ours(key):
            return
        self.queue.add(NODE_KEY + key)
        for pod_key in self.unscheduled:
            self.queue.add(pod_key)

    def reset(self) -> None:
        for key in list(self.pod_keys) + list(self.task_of):
            self.queue.add(key)

    def _node_edited(self, name: str) -> None:
        """A Node changed (a cordon, a taint, or our own sync): its managed taints follow, the
        pods waiting for a node try again, its pods' NoExecute tolerations are checked."""
        instance_key = self.nodes.instance_for(name)
        if instance_key is not None:
            self.queue.add(NODE_KEY + instance_key)
        for pod_key in self.unscheduled:
            self.queue.add(pod_key)
        self.evictions.node_changed(name)

    async def _watch(self) -> None:
        prefix = resource_prefix(self.backing.space, "", "pods")
        while True:
            try:
                page, _more, revision = await self.objects.list(prefix)
                self.pod_keys = {s.key for s in page}
                for stored in page:
                    self.queue.add(stored.key)
                for key in list(self.task_of):
                    self.queue.add(key)  # tasks whose pod was deleted while we were away
                watch = self.objects.watch(prefix, revision + 1)
                try:
                    async for batch in watch:
                        for ev in batch:
                            if ev.type is EventType.PUT:
                                self.pod_keys.add(ev.kv.key)
                            else:
                                self.pod_keys.discard(ev.kv.key)
                            self.queue.add(ev.kv.key)
                finally:
                    await watch.close()
            except (Compacted, StoreError) as exc:
                log.info("pod controller re-listing after %s", exc)
                await asyncio.sleep(0.5)

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(RESYNC)
            self.reset()

    # -- one sync ------------------------------------------------------------------------------------
    async def sync(self, key: str) -> None:
        if key.startswith(NODE_KEY):
            await self.nodes.sync(key[len(NODE_KEY) :])
            return
        found = await self.objects.get(key)
        if found is None:
            self.unscheduled.discard(key)
            self.mount_errors.pop(key, None)
            self.probes_seen.pop(key, None)
            task_key = self.task_of.get(key)
            if task_key is not None:
                await self._stop(task_key, None, "Pod deleted")
                if self.fargate is not None:
                    await self.fargate.gone(task_key)
            return
        pod = found.obj
        meta = pod.get("metadata") or {}
        task_key = self.backing.task_key(str(meta.get("uid", "")))
        task = self.index.record(task_key)
        bound = bool((meta.get("annotations") or {}).get(TASK_ANNOTATION))
        if task is None and bound:
            task = await self.plane.records.get(task_key)
        if meta.get("deletionTimestamp"):
            self.unscheduled.discard(key)
            self.mount_errors.pop(key, None)
            if task is not None and task.doc.get("lastStatus") != task_model.STOPPED:
                await self._stop(task_key, found, "Pod deleted")
                return
            await self.objects.delete(key, found.revision)
            return
        if task is None:
            if bound:
                await self._lost(key, pod)
            else:
                await self._place(key, found)
            return
        await self._follow(key, task)

    # -- placement -----------------------------------------------------------------------------------
    async def _sources(
        self, pod: Obj
    ) -> tuple[dict[tuple[str, str], dict[str, str]], dict[tuple[str, str], dict[str, bytes]]]:
        """The ConfigMaps and Secrets the pod reads that exist: for env (text) and for volumes
        (bytes)."""
        namespace = str((pod.get("metadata") or {}).get("namespace", ""))
        env_refs, volume_refs = pods.references(pod), pod_volumes.volume_refs(pod)
        env: dict[tuple[str, str], dict[str, str]] = {}
        files: dict[tuple[str, str], dict[str, bytes]] = {}
        for kind, name in sorted(env_refs | volume_refs):
            stored = await self.objects.get(self.writer.key(kind, namespace, name))
            if stored is None:
                continue
            if (kind, name) in env_refs:
                env[(kind, name)] = pods.object_data(kind, stored.obj)
            if (kind, name) in volume_refs:
                files[(kind, name)] = pod_volumes.object_bytes(kind, stored.obj)
        return env, files

    async def _place(self, key: str, found: Stored) -> None:
        pod = found.obj
        b = self.backing
        sources, contents = await self._sources(pod)
        try:
            files = pod_volumes.pod_files(pod, contents)
        except pod_volumes.MountError as exc:
            await self._mount_failed(key, str(exc))
            return
        self.mount_errors.pop(key, None)
        try:
            spec = pod.get("spec") or {}
            for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
                pods.environment(pod, c, sources, None)
        except pods.PodConfigError as exc:
            message = str(exc)
            await self._set_status(
                key,
                lambda p: init_containers.with_init_status(
                    p, None, ps.config_error_status(p, message, now=self.clock()), now=self.clock()
                ),
            )
            self.queue.add_after(key, RETRY_CONFIG)
            return
        cluster = await self.plane.records.get(ecs_keys.cluster(b.account, b.region, b.cluster))
        if cluster is None or cluster.doc.get("status") != "ACTIVE":
            await self._unschedulable(key, "no nodes available to schedule pods")
            return
        if self.fargate is not None and self.fargate.wants(pod):
            await self.fargate.place(key, found, sources, files)
            return
        where = pods.placement_of(pod)
        request = placement_request(pod, b, where.expression)
        if where.node is not None:
            instance_key = self.nodes.instance_for(where.node)
            if instance_key is None:
                await self._unschedulable(
                    key, f'0/{self.nodes.node_count()} nodes are available: node "{where.node}" not found.'
                )
                return
            only = [instance_key.rsplit("/", 1)[-1]]
            snapshot = await self.plane.placement.snapshot(b.account, b.region, b.cluster, only)
            request = replace(request, strategy=())
        else:
            await self.node_watch.synced.wait()  # never place before the taints are known
            request = self.node_watch.restrict(request, pod)  # taints and cordons
            snapshot = await self.plane.placement.snapshot(b.account, b.region, b.cluster)
        live = [i for i in snapshot.instances if i.status != ci.INACTIVE]

        def build(inst: Instance) -> tuple[str, Obj]:
            return build_task(pod, b, inst, sources, now=self.clock(), files=files)

        try:
            outcome = await self.plane.placement.place(
                cluster=cluster, snapshot=snapshot, request=request, count=1, build=build
            )
        except ClusterChanged:
            await self._unschedulable(key, "no nodes available to schedule pods")
            return
        if not outcome.tasks:
            total = len(live) if where.node is None else self.nodes.node_count()
            await self._unschedulable(key, unschedulable_message(outcome.failures, total))
            return
        self.unscheduled.discard(key)
        task = outcome.tasks[0]
        await self.plane.written(task.mod_revision)
        node = self._node_of(task.doc)
        uid = (pod.get("metadata") or {}).get("uid")

        def bind(current: Obj) -> Obj | None:
            meta = current.get("metadata") or {}
            if meta.get("uid") != uid:
                return None
            meta.setdefault("annotations", {})[TASK_ANNOTATION] = task.doc["taskArn"]
            current.setdefault("spec", {})["nodeName"] = node
            current["status"] = self._status(current, task.doc)
            return current

        bound = await self.writer.update(key, bind)
        if bound is not None:
            meta = bound.obj.get("metadata") or {}
            text = f"Successfully assigned {meta.get('namespace')}/{meta.get('name')} to {node}"
            await self.writer.event(bound.obj, EventSpec("Scheduled", text, component=_SCHEDULER))
            self.evictions.node_changed(node)  # a NoExecute taint it tolerates for a while

    async def _mount_failed(self, key: str, message: str) -> None:
        """A volume's ConfigMap or Secret is missing: the pod waits (ContainerCreating) with a
        FailedMount event, and starts once it exists (retried)."""
        self.queue.add_after(key, RETRY_CONFIG)
        now = self.clock()
        written = await self.writer.update(
            key, lambda p: _with_status(p, pod_volumes.waiting_status(p, now=now))
        )
        if self.mount_errors.get(key) == message:
            return
        found = written or await self.objects.get(key)
        if found is not None:
            self.mount_errors[key] = message
            await self.writer.event(found.obj, EventSpec("FailedMount", message, "Warning"))

    async def _unschedulable(self, key: str, message: str) -> None:
        self.unscheduled.add(key)
        self.queue.add_after(key, RETRY_UNSCHEDULABLE)
        changed: list[Obj] = []

        def change(pod: Obj) -> Obj | None:
            old = _scheduled_condition(pod)
            if old is not None and old.get("status") == "False" and old.get("message") == message:
                return None
            pod["status"] = ps.unschedulable_status(pod, message, now=self.clock())
            changed.append(pod)
            return pod

        written = await self.writer.update(key, change)
        if written is not None:
            await self.writer.event(
                written.obj, EventSpec("FailedScheduling", message, "Warning", component=_SCHEDULER)
            )

    def _node_of(self, task: Obj) -> str:
        b = self.backing
        rec = self.index.instance(
            ecs_keys.container_instance(b.account, b.region, b.cluster, str(task.get("_instance")))
        )
        return node_name(rec.doc) if rec is not None else str(task.get("_instance", ""))

    # -- following the task --------------------------------------------------------------------------
    async def _set_status(self, key: str, make: Callable[[Obj], Obj]) -> None:
        """Write the status ``make`` computes from the pod as stored; then its events."""
        pairs: list[tuple[Obj, Obj]] = []

        def change(pod: Obj) -> Obj | None:
            old = dict(pod.get("status") or {})
            new = make(pod)
            new["qosClass"] = old.get("qosClass", new.get("qosClass"))
            if new == old:
                return None
            pod["status"] = new
            pairs.append((old, new))
            return pod

        written = await self.writer.update(key, change)
        if written is None or not pairs:
            return
        old, new = pairs[-1]
        host = str((written.obj.get("spec") or {}).get("nodeName") or "")
        events = [(ev, "containers") for ev in ps.transition_events(old, new)]
        events[:0] = [(ev, "initContainers") for ev in init_containers.init_events(old, new)]
        for ev, group in events:
            path = f"spec.{group}{{{ev.container}}}" if ev.container else ""
            await self.writer.event(
                written.obj, EventSpec(ev.reason, ev.message, ev.type, path, ev.component, host)
            )

    def _status(self, pod: Obj, task: Obj) -> Obj:
        """The pod's status for its task: app containers, then the init containers' part."""
        now = self.clock()
        host_ip = self.fargate.host_ip(task) if self.fargate is not None else None
        status = ps.status_from_task(pod, task, now=now, host_ip=host_ip)
        return init_containers.with_init_status(pod, task, status, now=now)

    async def _follow(self, key: str, task: Record) -> None:
        if self.fargate is not None and not await self.fargate.follow(key, task):
            return  # a Fargate pod waits for its capacity before it is bound
        await self._set_status(key, lambda pod: self._status(pod, task.doc))
        await self._probe_events(key, task.doc)

    async def _probe_events(self, key: str, task: Obj) -> None:
        """Unhealthy and Killing events for what the agent reported of the probes since the
        last look."""
        seen = self.probes_seen.get(key, {})
        changes, now_seen = probe_changes(task, seen)
        if now_seen != seen:
            self.probes_seen[key] = now_seen
        if not changes:
            return
        found = await self.objects.get(key)
        if found is None:
            return
        spec = found.obj.get("spec") or {}
        host = str(spec.get("nodeName") or "")
        for change in changes:
            ev = probe_event(change, str(spec.get("restartPolicy") or "Always"))
            path = f"spec.containers{{{ev.container}}}"
            event = EventSpec(ev.reason, ev.message, ev.type, path, ev.component, host)
            await self.writer.event(found.obj, event)

    async def _lost(self, key: str, pod: Obj) -> None:
        """Bound, but its task is gone (reaped, or the store was restored): a pod that had not
        finished failed."""
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return

        def failed(p: Obj) -> Obj:
            status = dict(p.get("status") or {})
            status.update(phase="Failed", reason="TaskLost", message="The pod's ECS task no longer exists.")
            return status

        await self._set_status(key, failed)

    async def _stop(self, task_key: str, found: Stored | None, reason: str) -> None:
        before = self.index.record(task_key) or await self.plane.records.get(task_key)
        if before is None or before.doc.get("lastStatus") == task_model.STOPPED:
            return
        now = self.clock()
        rec = await self.tasks.change(task_key, lambda d: task_model.stop_requested(d, reason, now))
        if rec is None:
            return
        if before.doc.get("desiredStatus") != task_model.STOPPED and found is not None:
            host = str((found.obj.get("spec") or {}).get("nodeName") or "")
            for c in (found.obj.get("spec") or {}).get("containers") or []:
                await self.writer.event(
                    found.obj,
                    EventSpec(
                        "Killing",
                        f"Stopping container {c.get('name')}",
                        field_path=f"spec.containers{{{c.get('name')}}}",
                        host=host,
                    ),
                )
        await self._stop_orphan(rec)

    async def _stop_orphan(self, rec: Record) -> None:
        """A task whose instance is gone has no agent to stop it: it stops here (as StopTask)."""
        host = ecs_keys.task_instance(rec.key, rec.doc)  # the pool's host for a Fargate pod
        if host is None:
            return  # a Fargate task still waiting: the Fargate provisioner stops it
        instance = await self.plane.records.get(host)
        if instance is not None and instance.doc.get("status") != ci.INACTIVE:
            return
        report = task_model.Report(last_status=task_model.STOPPED, from_agent=False)
        now = self.clock()
        await self.tasks.change(rec.key, lambda d: task_model.apply_report(d, report, now))


def _with_status(pod: Obj, status: Obj) -> Obj | None:
    """``pod`` with ``status`` (its qosClass kept), or None when nothing changes."""
    status["qosClass"] = (pod.get("status") or {}).get("qosClass", status.get("qosClass"))
    if status == pod.get("status"):
        return None
    pod["status"] = status
    return pod


def _scheduled_condition(pod: Obj) -> Obj | None:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "PodScheduled":
            return dict(c)
    return None
