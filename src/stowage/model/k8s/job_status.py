"""Job controller arithmetic, pure: which pods count as active, finished or failed, the
completed-index sets of Indexed Jobs, the pod-creation back-off after failures, conditions,
the pods a Job makes, and how many it wants running.

Kubernetes' rules, kept as they are:

- a pod is *active* while it is neither Succeeded nor Failed and not being deleted; a pod being
  deleted (``deletionTimestamp``) that did not succeed counts as failed (the default
  ``podReplacementPolicy`` TerminatingOrFailed replaces it at once).
- wanted active pods: ``min(parallelism, completions - succeeded)`` (never below 0); a work
  queue (no ``completions``) runs ``parallelism`` pods until one succeeds, then lets the rest
  finish and starts none.
- after failures, new pods wait ``10 s * 2^(n-1)`` (capped at 6 minutes) from the last failure,
  ``n`` being the failures since the last success (``backoff_remaining``).
- ``completedIndexes`` is the text form ``"1,3-5,7"`` (runs of three or more compressed).

Terminal conditions are reached in two steps, as Kubernetes ≥ 1.31 does: an interim
``SuccessCriteriaMet`` / ``FailureTarget`` when the outcome is known (active pods are then
deleted), and ``Complete`` / ``Failed`` once no pod of the Job is still terminating.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from stowage.model.k8s import jobs as jm
from stowage.model.k8s.meta import parse_rfc3339, rfc3339
from stowage.model.k8s.replicasets import owner_ref, ready_since

Obj = dict[str, Any]

SUCCEEDED, FAILED = "Succeeded", "Failed"
COMPLETE, FAILED_COND = "Complete", "Failed"
SUCCESS_CRITERIA_MET, FAILURE_TARGET, SUSPENDED = "SuccessCriteriaMet", "FailureTarget", "Suspended"
BACKOFF_LIMIT_EXCEEDED = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
DEADLINE_EXCEEDED = ("DeadlineExceeded", "Job was active longer than specified deadline")
COMPLETIONS_REACHED = ("CompletionsReached", "Reached expected number of succeeded pods")
DEFAULT_BACKOFF = 10.0
MAX_BACKOFF = 360.0
MAX_PODS_PER_SYNC = 500


# -- pods ------------------------------------------------------------------------------------------
def phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def deleting(pod: Obj) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def terminal(pod: Obj) -> bool:
    return phase(pod) in (SUCCEEDED, FAILED)


def active(pod: Obj) -> bool:
    return not terminal(pod) and not deleting(pod)


def terminating(pod: Obj) -> bool:
    return deleting(pod) and not terminal(pod)


def ready(pod: Obj) -> bool:
    return ready_since(pod) is not None


def tracked(pod: Obj) -> bool:
    """Still carries the tracking finalizer: its end is not yet in the Job's counters."""
    return jm.TRACKING_FINALIZER in ((pod.get("metadata") or {}).get("finalizers") or [])


def uid_of(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("uid") or "")


def completion_index(pod: Obj) -> int | None:
    value = ((pod.get("metadata") or {}).get("annotations") or {}).get(jm.COMPLETION_INDEX)
    try:
        index = int(str(value))
    except (TypeError, ValueError):
        return None
    return index if index >= 0 else None


def finish_time(pod: Obj) -> float:
    """When the pod ended: its containers' latest ``finishedAt``, else the latest condition
    transition, else its creation."""
    status = pod.get("status") or {}
    times = [
        parse_rfc3339(str(((s.get("state") or {}).get("terminated") or {}).get("finishedAt") or ""))
        for s in status.get("containerStatuses") or []
    ]
    found = [t for t in times if t is not None]
    if found:
        return max(found)
    times = [parse_rfc3339(str(c.get("lastTransitionTime") or "")) for c in status.get("conditions") or []]
    found = [t for t in times if t is not None]
    if found:
        return max(found)
    return parse_rfc3339(str((pod.get("metadata") or {}).get("creationTimestamp") or "")) or 0.0


def backoff_remaining(
    pods: list[Obj], now: float, base: float = DEFAULT_BACKOFF, cap: float = MAX_BACKOFF
) -> float:
    """Seconds before the next pod may be created: ``base * 2^(n-1)`` (≤ ``cap``) after the
    last failure, ``n`` the pods failed since the last success; 0 when none failed."""
    last_success = max((finish_time(p) for p in pods if phase(p) == SUCCEEDED), default=float("-inf"))
    failures = [t for p in pods if phase(p) == FAILED and (t := finish_time(p)) > last_success]
    if not failures:
        return 0.0
    delay = min(cap, base * 2.0 ** (len(failures) - 1))
    return max(0.0, max(failures) + delay - now)


# -- indexes ---------------------------------------------------------------------------------------
def parse_indexes(text: Any, completions: int | None) -> set[int]:
    """``"1,3-5,7"`` as a set, dropping anything at or past ``completions``."""
    out: set[int] = set()
    limit = completions if completions is not None else 0
    for part in str(text or "").split(","):
        first, _, last = part.strip().partition("-")
        try:
            lo, hi = int(first), int(last or first)
        except ValueError:
            continue
        out.update(i for i in range(max(lo, 0), min(hi, limit - 1) + 1))
    return out


def format_indexes(indexes: set[int]) -> str:
    """The sorted set as ``completedIndexes`` text; runs of three or more as ``first-last``."""
    parts: list[str] = []
    ordered = sorted(indexes)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        if j - i >= 2:
            parts.append(f"{ordered[i]}-{ordered[j]}")
        else:
            parts.extend(str(n) for n in ordered[i : j + 1])
        i = j + 1
    return ",".join(parts)


def pending_indexes(completions: int, done: set[int], running: set[int], count: int) -> list[int]:
    """The lowest ``count`` indexes neither completed nor running."""
    out: list[int] = []
    for index in range(completions):
        if len(out) >= count:
            break
        if index not in done and index not in running:
            out.append(index)
    return out


# -- spec -----------------------------------------------------------------------------------------
def spec_of(job: Obj) -> Obj:
    spec = job.get("spec")
    return spec if isinstance(spec, dict) else {}


def indexed(job: Obj) -> bool:
    return spec_of(job).get("completionMode") == jm.INDEXED


def completions_of(job: Obj) -> int | None:
    value = spec_of(job).get("completions")
    return int(value) if value is not None else None


def parallelism_of(job: Obj) -> int:
    return int(spec_of(job).get("parallelism", 1) or 0)


def backoff_limit_of(job: Obj) -> int:
    return int(spec_of(job).get("backoffLimit", jm.DEFAULT_BACKOFF_LIMIT))


def restarts_past_limit(job: Obj, active_pods: list[Obj]) -> bool:
    """restartPolicy OnFailure: the container restarts of the running pods count against
    ``backoffLimit`` too (Kubernetes' ``pastBackoffLimitOnFailure``)."""
    template = spec_of(job).get("template") or {}
    if (template.get("spec") or {}).get("restartPolicy") != "OnFailure":
        return False
    restarts = sum(
        int(s.get("restartCount") or 0)
        for p in active_pods
        for s in [
            *((p.get("status") or {}).get("initContainerStatuses") or []),
            *((p.get("status") or {}).get("containerStatuses") or []),
        ]
    )
    limit = backoff_limit_of(job)
    return restarts > 0 if limit == 0 else restarts >= limit


def want_active(job: Obj, succeeded: int, active_now: int) -> int:
    """How many pods should be running now (Kubernetes' ``manageJob`` arithmetic)."""
    if spec_of(job).get("suspend"):
        return 0
    parallelism = parallelism_of(job)
    completions = completions_of(job)
    if completions is None:
        return active_now if succeeded > 0 else parallelism
    return max(0, min(parallelism, completions - succeeded))


def deadline_remaining(job: Obj, now: float) -> float | None:
    """Seconds left before ``activeDeadlineSeconds`` runs out (None: no deadline, or not
    started, or suspended)."""
    spec = spec_of(job)
    seconds = spec.get("activeDeadlineSeconds")
    start = parse_rfc3339(str((job.get("status") or {}).get("startTime") or ""))
    if seconds is None or start is None or spec.get("suspend"):
        return None
    return start + int(seconds) - now


# -- conditions -----------------------------------------------------------------------------------
def condition(job: Obj, kind: str) -> Obj | None:
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("type") == kind and c.get("status") == "True":
            return dict(c)
    return None


def finished(job: Obj) -> Obj | None:
    """The Complete or Failed condition, if the Job has finished."""
    return condition(job, COMPLETE) or condition(job, FAILED_COND)


def new_condition(kind: str, reason: str, message: str, now: float, status: str = "True") -> Obj:
    when = rfc3339(now)
    return {
        "type": kind,
        "status": status,
        "lastProbeTime": when,
        "lastTransitionTime": when,
        "reason": reason,
        "message": message,
    }


def set_condition(conditions: list[Obj], new: Obj) -> list[Obj]:
    """``conditions`` with ``new`` in place of its type (unchanged if equal but for times)."""
    out: list[Obj] = []
    replaced = False
    for c in conditions:
        if c.get("type") == new["type"]:
            replaced = True
            same = all(c.get(k) == new.get(k) for k in ("status", "reason", "message"))
            out.append(c if same else new)
        else:
            out.append(c)
    if not replaced:
        out.append(new)
    return out


def final_of(interim: Obj, now: float) -> Obj:
    """The terminal condition that follows an interim one."""
    kind = COMPLETE if interim["type"] == SUCCESS_CRITERIA_MET else FAILED_COND
    return new_condition(kind, str(interim.get("reason", "")), str(interim.get("message", "")), now)


# -- one pass of the controller ----------------------------------------------------------------
@dataclass
class Tally:
    """What a pass of the controller found ended: the uids for ``uncountedTerminatedPods``,
    the completed indexes (Indexed Jobs), and the pods whose tracking finalizer can go."""

    succeeded: list[str]
    failed: list[str]
    done: set[int]
    release: list[Obj] = field(default_factory=list)

    @property
    def uncounted(self) -> Obj:
        return {"succeeded": self.succeeded, "failed": self.failed}


def account(job: Obj, owned: list[Obj], vanished: list[Obj]) -> Tally:
    """Add the pods that ended (or are being deleted, or are gone: ``vanished``) and still
    carry the tracking finalizer to what the Job's status has not counted yet. A pod stopped
    by a suspension is no failure; with ``podReplacementPolicy`` Failed, a pod being deleted
    counts only once it has failed or is gone; an Indexed Job counts a success by its index."""
    spec = spec_of(job)
    status = job.get("status") or {}
    is_indexed = indexed(job)
    completions = completions_of(job) or 0
    suspended = bool(spec.get("suspend"))
    only_failed = spec.get("podReplacementPolicy") == "Failed"
    uncounted = status.get("uncountedTerminatedPods") or {}
    tally = Tally(
        list(uncounted.get("succeeded") or []),
        list(uncounted.get("failed") or []),
        parse_indexes(status.get("completedIndexes"), completions) if is_indexed else set(),
    )
    present = {uid_of(p) for p in owned}
    known = {*tally.succeeded, *tally.failed}  # recorded by an earlier pass
    for pod in [*(p for p in owned if tracked(p)), *vanished]:
        uid = uid_of(pod)
        gone = uid not in present
        if uid in known:
            pass
        elif not (terminal(pod) or gone or (deleting(pod) and not only_failed)):
            continue  # still running
        else:
            index = completion_index(pod)
            in_range = not is_indexed or (index is not None and index < completions)
            if phase(pod) == SUCCEEDED:
                if is_indexed and index is not None and in_range:
                    tally.done.add(index)
                elif not is_indexed:
                    tally.succeeded.append(uid)
            elif suspended and (deleting(pod) or gone):
                pass  # stopped by the suspension: not a failure
            elif in_range:
                tally.failed.append(uid)
        if not gone:
            tally.release.append(pod)
    return tally


def suspension(job: Obj, now: float) -> tuple[list[Obj], str | None, list[tuple[str, str]]]:
    """The conditions, ``startTime`` and Events (reason, message) after this pass's view of
    ``suspend``: suspending clears ``startTime``; resuming restarts it."""
    status = job.get("status") or {}
    conditions: list[Obj] = list(status.get("conditions") or [])
    start = status.get("startTime")
    was = condition(job, SUSPENDED) is not None
    if spec_of(job).get("suspend"):
        if was:
            return conditions, None, []
        new = new_condition(SUSPENDED, "JobSuspended", "Job suspended", now)
        return set_condition(conditions, new), None, [("Suspended", "Job suspended")]
    if was:
        new = new_condition(SUSPENDED, "JobResumed", "Job resumed", now, status="False")
        return set_condition(conditions, new), rfc3339(now), [("Resumed", "Job resumed")]
    return conditions, str(start) if start else rfc3339(now), []


# -- making pods ---------------------------------------------------------------------------------
def pod_from_template(job: Obj, name: str, index: int | None) -> Obj:
    """A new pod of ``job``: its template, owned by it (controller, blockOwnerDeletion), with
    the tracking finalizer; for an Indexed Job, the index (annotation, label, hostname and
    ``JOB_COMPLETION_INDEX``)."""
    meta = job.get("metadata") or {}
    template = copy.deepcopy(spec_of(job).get("template") or {})
    tmeta = template.get("metadata") or {}
    spec = template.get("spec") or {}
    labels = dict(tmeta.get("labels") or {})
    annotations = dict(tmeta.get("annotations") or {})
    if index is not None:
        annotations[jm.COMPLETION_INDEX] = str(index)
        labels[jm.COMPLETION_INDEX] = str(index)
        spec["hostname"] = f"{meta.get('name')}-{index}"
        ref = f"metadata.labels['{jm.COMPLETION_INDEX}']"
        for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
            env = c.setdefault("env", [])
            if not any(e.get("name") == jm.INDEX_ENV for e in env):
                env.append({"name": jm.INDEX_ENV, "valueFrom": {"fieldRef": {"fieldPath": ref}}})
    pod_meta: Obj = {
        "name": name,
        "generateName": f"{meta.get('name')}-" if index is None else f"{meta.get('name')}-{index}-",
        "namespace": meta.get("namespace"),
        "labels": labels,
        "ownerReferences": [owner_ref(job, "Job", "batch/v1")],
        "finalizers": [jm.TRACKING_FINALIZER],
    }
    if annotations:
        pod_meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": spec}


def removal_order(job: Obj, pods: list[Obj], count: int, done: set[int]) -> list[Obj]:
    """The active pods to delete when ``count`` too many run: for an Indexed Job, pods of
    completed or duplicate indexes first; then unscheduled, not ready, newest."""
    first: list[Obj] = []
    rest: list[Obj] = []
    if indexed(job):
        seen: set[int] = set()
        completions = completions_of(job) or 0
        for pod in sorted(pods, key=lambda p: (not ready(p), str(p["metadata"].get("creationTimestamp")))):
            index = completion_index(pod)
            if index is None or index >= completions or index in done or index in seen:
                first.append(pod)
            else:
                seen.add(index)
                rest.append(pod)
    else:
        rest = list(pods)

    def rank(pod: Obj) -> tuple[int, int]:
        return (1 if (pod.get("spec") or {}).get("nodeName") else 0, 1 if ready(pod) else 0)

    ordered = sorted(
        sorted(
            rest, key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp") or ""), reverse=True
        ),
        key=rank,
    )
    return (first + ordered)[: max(count, len(first))]
