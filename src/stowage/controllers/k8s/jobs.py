"""The Job controller: runs each batch/v1 Job's pods until ``completions`` of them succeed
(or, for a work queue, until one does and the rest have finished), replaces failed ones until
``backoffLimit`` failures, stops at ``activeDeadlineSeconds``, and reports status and Events
as Kubernetes' job controller does.

Fed by a list+watch of Jobs and of pods (a pod re-queues its controlling Job). One sync per
Job key, level-triggered; the pods a Job owns are listed from the store each time:

- **Counting** is Kubernetes' finalizer protocol, so a pod's end is counted once even if the pod
  is deleted right after: every pod is made with the ``batch.kubernetes.io/job-tracking``
  finalizer; a pod that ended (or is being deleted) while it still has it goes first into
  ``status.uncountedTerminatedPods`` (Indexed Jobs: its index into ``completedIndexes``), then
  loses the finalizer, then moves into ``succeeded``/``failed``. A pod deleted from the store
  before it was counted (the pod controller removes pods whatever their finalizers) is still
  counted from the watch's DELETE event, unless this process restarted in between. Pods left
  with the finalizer by a deleted or orphaning Job lose it (nobody will count them).
- **Running**: ``parallelism`` pods at most, never more than the completions left (Indexed: the
  lowest indexes neither completed nor running); new pods wait out the failure back-off
  (``model/k8s/job_status.backoff_remaining``: 10 s doubling to 6 min); extra pods are deleted.
- **Ending**: more failures than ``backoffLimit`` → ``FailureTarget`` BackoffLimitExceeded;
  ``activeDeadlineSeconds`` since ``startTime`` → ``FailureTarget`` DeadlineExceeded (active
  pods are deleted); enough successes → ``SuccessCriteriaMet``. Once no pod is still
  terminating, ``Complete`` (with ``completionTime``) or ``Failed`` follows, with its Event.
- **suspend**: active pods are deleted (not counted as failures), ``startTime`` cleared,
  condition Suspended; on resume, ``startTime`` restarts.
- **ttlSecondsAfterFinished**: that long after finishing, the Job is deleted with foreground
  propagation (the garbage collector removes its pods first), as the TTL controller does.

Pods are deleted the way the API server would (``deletionTimestamp``; the pod controller stops
the task and removes the object). A pod whose restartPolicy is OnFailure is not restarted in
place yet (the agent ends the task when its container exits), so it fails and is replaced,
counting against ``backoffLimit`` as a Never pod would (the restarts of running OnFailure pods
are counted against it too, ready for when the agent restarts containers in place).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from stowage.controllers.k8s.objects import EventSpec
from stowage.controllers.k8s.replicasets import MAX_RETRIES, Reconciler, owner_key
from stowage.model.k8s import job_status as js
from stowage.model.k8s import jobs as jm
from stowage.model.k8s.errors import K8sError
from stowage.model.k8s.meta import generated_suffix, new_uid, parse_rfc3339, rfc3339
from stowage.model.k8s.pods import prepare_pod
from stowage.model.k8s.replicasets import controller_uid
from stowage.model.k8s.selectors import selector_from_object
from stowage.resources.k8s_objects import K8sObjects, decode, object_key, parse_key, resource_prefix
from stowage.store.base import Event, EventType

Obj = dict[str, Any]
FOREGROUND = "foregroundDeletion"
ORPHAN_KEY = "orphan:"
"""Work-queue keys of pods that kept the tracking finalizer but lost their Job (orphaned by a
``propagationPolicy: Orphan`` delete): nobody will count them, so the finalizer goes."""
_COMPONENT = "job-controller"


def _controller_name(pod: Obj) -> tuple[str, str] | None:
    for ref in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("kind")), str(ref.get("name"))
    return None


def _event(reason: str, message: str, kind: str = "Normal") -> EventSpec:
    return EventSpec(reason, message, kind, component=_COMPONENT)


class JobController(Reconciler):
    name = "jobs"
    workers = 4

    def __init__(
        self,
        objects: K8sObjects,
        space: str,
        *,
        clock: Callable[[], float] = time.time,
        backoff: float = js.DEFAULT_BACKOFF,
        max_backoff: float = js.MAX_BACKOFF,
    ) -> None:
        super().__init__(objects, space, clock=clock)
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.vanished: dict[str, dict[str, Obj]] = {}
        """Job key → uid → the last stored state of its pods deleted before being counted."""

    def prefixes(self) -> list[str]:
        return [resource_prefix(self.space, "batch", "jobs"), resource_prefix(self.space, "", "pods")]

    def keys_for(self, ev: Event) -> list[str]:
        if ev.kv.key.startswith(resource_prefix(self.space, "batch", "jobs")):
            if ev.type is EventType.PUT:
                self.keys.add(ev.kv.key)
            else:
                self.keys.discard(ev.kv.key)
            return [ev.kv.key]
        owner = owner_key(ev, self.space, "Job", "batch", "jobs")
        if owner is None:
            # (the bytes test first: most pods never had the finalizer, no need to decode them)
            if ev.type is EventType.PUT and jm.TRACKING_FINALIZER.encode() in ev.kv.value:
                pod = decode(ev.kv)
                if js.tracked(pod) and not _controller_name(pod):
                    return [ORPHAN_KEY + ev.kv.key]
            return []
        if ev.type is EventType.DELETE and ev.prev_kv is not None and ev.prev_kv.value:
            pod = decode(ev.prev_kv)
            if js.tracked(pod):
                self.vanished.setdefault(owner, {})[js.uid_of(pod)] = pod
        return [owner]

    def _pod_key(self, pod: Obj) -> str:
        meta = pod.get("metadata") or {}
        return object_key(self.space, "", "pods", str(meta.get("namespace")), str(meta.get("name")))

    # -- one sync ------------------------------------------------------------------------------------
    async def sync(self, key: str) -> None:
        if key.startswith(ORPHAN_KEY):
            found = await self.objects.get(key[len(ORPHAN_KEY) :])
            if found is not None and js.tracked(found.obj) and not _controller_name(found.obj):
                await self._release(found.obj)
            return
        parsed = parse_key(key)
        if parsed is None:
            return
        namespace, name = parsed[3], parsed[4]
        found = await self.objects.get(key)
        page, _more, _rev = await self.objects.list(resource_prefix(self.space, "", "pods", namespace))
        pods = [s.obj for s in page]
        uid = js.uid_of(found.obj) if found is not None else ""
        for pod in pods:
            # pods of a deleted (or deleted and re-created) Job of this name: nobody counts them
            if _controller_name(pod) == ("Job", name) and controller_uid(pod) != uid and js.tracked(pod):
                await self._release(pod)
        if found is None:
            self.vanished.pop(key, None)
            return
        job = found.obj
        if not jm.managed_here(job):
            return
        try:
            selector = selector_from_object(js.spec_of(job).get("selector"))
        except K8sError:
            return  # validation keeps such selectors out; one written around it is ignored
        owned = [
            p
            for p in pods
            if controller_uid(p) == uid and selector.matches((p.get("metadata") or {}).get("labels"))
        ]
        if (job.get("metadata") or {}).get("deletionTimestamp") or js.finished(job):
            for pod in owned:
                if js.tracked(pod):
                    await self._release(pod)
            self.vanished.pop(key, None)
            if js.finished(job):
                await self._expire(key, job)
            return
        await self._run(key, job, owned)

    async def _run(self, key: str, job: Obj, owned: list[Obj]) -> None:
        now = self.clock()
        spec = js.spec_of(job)
        status: Obj = dict(job.get("status") or {})
        indexed = js.indexed(job)
        completions = js.completions_of(job)
        suspended = bool(spec.get("suspend"))
        present = {js.uid_of(p) for p in owned}
        vanished = {u: p for u, p in self.vanished.get(key, {}).items() if u not in present}

        # 1. what ended and is not counted yet; suspension and start time
        tally = js.account(job, owned, list(vanished.values()))
        done = tally.done
        succeeded = len(done) if indexed else int(status.get("succeeded") or 0) + len(tally.succeeded)
        failed = int(status.get("failed") or 0) + len(tally.failed)
        conditions, start, changes = js.suspension(job, now)
        events = [_event(reason, message) for reason, message in changes]

        # 2. the outcome, if known; else run the pods
        active = [p for p in owned if js.active(p)]
        interim = js.condition(job, js.FAILURE_TARGET) or js.condition(job, js.SUCCESS_CRITERIA_MET)
        if interim is None and (failed > js.backoff_limit_of(job) or js.restarts_past_limit(job, active)):
            interim = js.new_condition(js.FAILURE_TARGET, *js.BACKOFF_LIMIT_EXCEEDED, now)
        seconds = spec.get("activeDeadlineSeconds")
        started = parse_rfc3339(str(start or ""))
        if interim is None and seconds is not None and started is not None and not suspended:
            left = started + int(seconds) - now
            if left <= 0:
                interim = js.new_condition(js.FAILURE_TARGET, *js.DEADLINE_EXCEEDED, now)
            else:
                self.queue.add_after(key, left)
        deleted: list[Obj] = []
        created = 0
        if interim is not None:
            deleted = active
        else:
            want = js.want_active(job, succeeded, len(active))
            deleted = js.removal_order(job, active, len(active) - want, done)
            if not deleted and want > len(active):
                names = await self._start_pods(key, job, owned, want=want, done=done, now=now)
                events += [_event("SuccessfulCreate", f"Created pod: {name}") for name in names]
                created = len(names)
        for pod in deleted:
            await self._delete_pod(pod)
            events.append(_event("SuccessfulDelete", f"Deleted pod: {pod['metadata'].get('name')}"))
        running_now = len(active) - len(deleted) + created
        if interim is None:
            target = completions if completions is not None else 1
            if succeeded >= target and running_now == 0:
                interim = js.new_condition(js.SUCCESS_CRITERIA_MET, *js.COMPLETIONS_REACHED, now)
        if interim is not None:
            conditions = js.set_condition(conditions, interim)

        # 3. record what was accounted, release those pods, then count them
        gone_ids = {js.uid_of(p) for p in deleted}
        ready = sum(1 for p in active if js.ready(p) and js.uid_of(p) not in gone_ids)
        terminating = sum(1 for p in owned if js.terminating(p)) + len(deleted)
        first: Obj = {
            "startTime": start,
            "active": running_now,
            "ready": ready,
            "terminating": terminating,
            "succeeded": status.get("succeeded"),
            "failed": status.get("failed"),
            "conditions": conditions,
            "uncountedTerminatedPods": tally.uncounted,
            "completedIndexes": js.format_indexes(done) if indexed else None,
        }
        await self._write_status(key, job, first)
        for u in vanished:
            self.vanished.get(key, {}).pop(u, None)
        for pod in tally.release:
            await self._release(pod)
        final = {
            **first,
            "succeeded": succeeded,
            "failed": failed,
            "uncountedTerminatedPods": {},
        }
        if interim is not None and terminating == 0 and running_now == 0:
            end = js.final_of(interim, now)
            final["conditions"] = js.set_condition(conditions, end)
            if end["type"] == js.COMPLETE:
                final["completionTime"] = rfc3339(now)
                events.append(_event("Completed", "Job completed"))
            else:
                events.append(_event(str(end["reason"]), str(end["message"]), "Warning"))
        await self._write_status(key, job, final)
        for ev in events:
            await self.writer.event(job, ev)

    async def _start_pods(
        self, key: str, job: Obj, owned: list[Obj], *, want: int, done: set[int], now: float
    ) -> list[str]:
        """Create pods up to ``want`` running, unless the failure back-off says wait (then
        look again when it ends); their names."""
        active = [p for p in owned if js.active(p)]
        # podReplacementPolicy Failed: pods being deleted are not replaced until they are gone
        only_failed = js.spec_of(job).get("podReplacementPolicy") == "Failed"
        waiting = [p for p in owned if only_failed and js.terminating(p)]
        count = min(want - len(active) - len(waiting), js.MAX_PODS_PER_SYNC)
        if count <= 0:
            return []
        wait = js.backoff_remaining(owned, now, self.backoff, self.max_backoff)
        if wait > 0:
            self.queue.add_after(key, wait)
            return []
        indexes: list[int | None] = [None] * count
        if js.indexed(job):
            running = {i for p in [*active, *waiting] if (i := js.completion_index(p)) is not None}
            indexes = list(js.pending_indexes(js.completions_of(job) or 0, done, running, count))
        namespace = str((job.get("metadata") or {}).get("namespace"))
        return [await self._create_pod(job, namespace, index) for index in indexes]

    # -- writes --------------------------------------------------------------------------------------
    async def _write_status(self, key: str, job: Obj, fields: Obj) -> None:
        uid = js.uid_of(job)
        status = {k: v for k, v in fields.items() if v not in (None, "", [])}
        for member in ("active", "succeeded", "failed"):
            if not status.get(member):
                status.pop(member, None)
        uncounted = {k: v for k, v in (status.get("uncountedTerminatedPods") or {}).items() if v}
        status["uncountedTerminatedPods"] = uncounted

        def change(obj: Obj) -> Obj | None:
            if js.uid_of(obj) != uid or (obj.get("status") or {}) == status:
                return None
            obj["status"] = status
            return obj

        await self.update(key, change)

    async def _create_pod(self, job: Obj, namespace: str, index: int | None) -> str:
        base = str((job.get("metadata") or {}).get("name"))
        for _ in range(MAX_RETRIES):  # a generated name taken already: another suffix
            name = f"{base}-{generated_suffix()}" if index is None else f"{base}-{index}-{generated_suffix()}"
            pod = js.pod_from_template(job, name, index)
            prepare_pod(pod)
            pod["metadata"]["uid"] = new_uid()
            pod["metadata"]["creationTimestamp"] = rfc3339(self.clock())
            if (
                await self.objects.create(object_key(self.space, "", "pods", namespace, name), pod)
                is not None
            ):
                return name
        raise RuntimeError(f"no free pod name for {base}")

    async def _delete_pod(self, pod: Obj) -> None:
        """As a DELETE through the API: a bound pod gets its grace period (the pod controller
        stops the task, then removes it), an unbound one none."""
        spec = pod.get("spec") or {}
        grace = int(spec.get("terminationGracePeriodSeconds", 30) or 0) if spec.get("nodeName") else 0
        uid = js.uid_of(pod)
        now = self.clock()

        def mark(obj: Obj) -> Obj | None:
            meta = obj.setdefault("metadata", {})
            if meta.get("uid") != uid or meta.get("deletionTimestamp"):
                return None
            meta["deletionTimestamp"] = rfc3339(now + grace)
            meta["deletionGracePeriodSeconds"] = grace
            return obj

        await self.update(self._pod_key(pod), mark)

    async def _release(self, pod: Obj) -> None:
        """Drop the tracking finalizer: the pod's end is in the Job's status (or nobody counts it)."""
        uid = js.uid_of(pod)

        def change(obj: Obj) -> Obj | None:
            meta = obj.get("metadata") or {}
            finalizers = list(meta.get("finalizers") or [])
            if meta.get("uid") != uid or jm.TRACKING_FINALIZER not in finalizers:
                return None
            finalizers.remove(jm.TRACKING_FINALIZER)
            if finalizers:
                meta["finalizers"] = finalizers
            else:
                meta.pop("finalizers", None)
            return obj

        await self.update(self._pod_key(pod), change)

    async def _expire(self, key: str, job: Obj) -> None:
        """``ttlSecondsAfterFinished``: delete the finished Job (foreground: pods first)."""
        ttl = js.spec_of(job).get("ttlSecondsAfterFinished")
        ended = js.finished(job)
        if ttl is None or ended is None:
            return
        at = parse_rfc3339(str(ended.get("lastTransitionTime") or ""))
        now = self.clock()
        if at is not None and at + int(ttl) > now:
            self.queue.add_after(key, at + int(ttl) - now)
            return
        uid = js.uid_of(job)

        def delete(obj: Obj) -> Obj | None:
            meta = obj.setdefault("metadata", {})
            if meta.get("uid") != uid or meta.get("deletionTimestamp"):
                return None
            meta["deletionTimestamp"] = rfc3339(now)
            meta["deletionGracePeriodSeconds"] = 0
            meta["finalizers"] = [*(meta.get("finalizers") or []), FOREGROUND]
            return obj

        await self.update(key, delete)
