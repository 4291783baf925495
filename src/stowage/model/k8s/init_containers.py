"""Init containers (``spec.initContainers``) as ECS container dependencies, and the pod status
they give. Pure.

The kubelet runs init containers one after another, each to completion, before any app
container starts. ECS says the same with ``dependsOn``: every init container is a
non-essential container that waits for the previous one to exit 0 (``SUCCESS``), and every app
container waits for the last one (``chain``). The agent already resolves these dependencies:
while an init container runs, the app containers are PENDING and so is the task (the pod is
Pending, ``Init:0/1``); an init container that exits non-zero for good can never satisfy
``SUCCESS``, so the app containers fail to start and the task stops (the pod is Failed,
``Init:Error``).

restartPolicy: with ``Never`` that is the kubelet's behaviour. With ``OnFailure``/``Always``
the kubelet retries a failed init container with back-off (one that exited 0 never runs
again). The agent is told so by the private ``_k8s`` member every pod container's definition
carries (``model/k8s/pod_lifecycle``: ``init: true``, ``restartPolicy`` ``OnFailure``, or
``Never`` for a Never pod), which its restart support reads (``agent/restarts.py``): a
container waiting for its restart is not finished, so the ``SUCCESS`` dependency keeps waiting
and the app containers start once a later attempt exits 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stowage.model.k8s import pod_status as ps
from stowage.model.k8s.meta import rfc3339
from stowage.model.k8s.quantity import cpu_units, memory_mib
from stowage.model.tasks import Needs

Obj = dict[str, Any]

NEVER_TIMES_OUT = 10 * 365 * 24 * 3600
"""``startTimeout`` of a container waiting on an init container: the kubelet waits as long as
an init container runs (ECS's default of a few minutes would fail a slow one)."""
PODINITIALIZING = "PodInitializing"


def chain(inits: list[Obj], apps: list[Obj]) -> list[Obj]:
    """The task's container definitions: ``inits`` (one per init container, in order) made
    non-essential and chained by ``SUCCESS`` dependencies, then ``apps`` waiting for the last
    one. Changes the definitions in place; returns them all, init containers first."""
    if not inits:
        return apps
    previous: str | None = None
    for definition in inits:
        definition["essential"] = False
        if previous is not None:
            _wait_for(definition, previous)
        previous = str(definition["name"])
    assert previous is not None
    for definition in apps:
        _wait_for(definition, previous)
    return [*inits, *apps]


def _wait_for(definition: Obj, container: str) -> None:
    definition.setdefault("dependsOn", []).append({"containerName": container, "condition": "SUCCESS"})
    definition["startTimeout"] = NEVER_TIMES_OUT


def needs(pod: Mapping[str, Any], app: Needs) -> Needs:
    """What the pod reserves: the larger of the app containers' sum (``app``) and the biggest
    init container, per resource (init containers never run alongside the app ones)."""
    cpu, memory = app.cpu, app.memory
    for c in (pod.get("spec") or {}).get("initContainers") or []:
        res = c.get("resources") or {}
        requests = {**(res.get("limits") or {}), **(res.get("requests") or {})}
        if requests.get("cpu") is not None:
            cpu = max(cpu, cpu_units(requests["cpu"]))
        if requests.get("memory") is not None:
            memory = max(memory, memory_mib(requests["memory"]))
    return Needs(cpu, memory, app.tcp, app.udp)


# -- status -------------------------------------------------------------------------------------
def _waiting(spec: Mapping[str, Any], old: Mapping[str, Any] | None, reason: str = PODINITIALIZING) -> Obj:
    return {
        "name": spec["name"],
        "image": spec.get("image", ""),
        "imageID": "",
        "ready": False,
        "restartCount": int((old or {}).get("restartCount") or 0),
        "started": False,
        "state": {"waiting": {"reason": reason}},
    }


def _succeeded(status: Mapping[str, Any]) -> bool:
    term = (status.get("state") or {}).get("terminated")
    return term is not None and term.get("exitCode") == 0


def init_statuses(pod: Mapping[str, Any], task: Mapping[str, Any] | None, *, now: float) -> list[Obj]:
    """``initContainerStatuses``: each init container's state from the task's container (the
    same mapping as app containers); one that never started waits ``PodInitializing``. A
    finished init container is ``ready``, as the kubelet reports it; its ``finishedAt`` is when
    the control plane first saw it finished (the task's own times are the task's)."""
    inits = (pod.get("spec") or {}).get("initContainers") or []
    by_name = {c.get("name"): c for c in (task or {}).get("containers") or []}
    before = {s.get("name"): s for s in (pod.get("status") or {}).get("initContainerStatuses") or []}
    out: list[Obj] = []
    for spec in inits:
        c = by_name.get(spec.get("name"))
        if task is None or c is None or not c.get("runtimeId"):
            out.append(_waiting(spec, c))
            continue
        status = ps.container_status(spec, c, task)
        if "waiting" in status["state"]:
            status["state"] = {"waiting": {"reason": PODINITIALIZING}}
        status["ready"] = _succeeded(status)
        term = status["state"].get("terminated")
        if term is not None:
            status["started"] = False
            was = ((before.get(spec.get("name")) or {}).get("state") or {}).get("terminated") or {}
            if was.get("containerID") == term.get("containerID") and was.get("finishedAt"):
                term["finishedAt"] = was["finishedAt"]  # the task's stop time comes much later
            term["finishedAt"] = term.get("finishedAt") or rfc3339(now)
        out.append(status)
    return out


def with_init_status(
    pod: Mapping[str, Any], task: Mapping[str, Any] | None, status: Obj, *, now: float
) -> Obj:
    """``status`` (the pod's status computed for its app containers) with the init containers'
    part: ``initContainerStatuses``, and until every init container has exited 0, phase
    Pending (Failed once the task stopped), condition Initialized False, and app containers
    waiting ``PodInitializing``."""
    spec_inits = (pod.get("spec") or {}).get("initContainers") or []
    if not spec_inits:
        return status
    statuses = init_statuses(pod, task, now=now)
    status["initContainerStatuses"] = statuses
    incomplete = [s["name"] for s in statuses if not _succeeded(s)]
    if not incomplete:
        return status
    old = dict(pod.get("status") or {})
    when = rfc3339(now)
    olds = {s.get("name"): s for s in status.get("containerStatuses") or []}
    apps = (pod.get("spec") or {}).get("containers") or []
    if "containerStatuses" in status:
        status["containerStatuses"] = [_waiting(c, olds.get(c.get("name"))) for c in apps]
    stopped = task is not None and task.get("lastStatus") == "STOPPED"
    status["phase"] = "Failed" if stopped or status.get("phase") == "Failed" else "Pending"
    if old.get("phase") in ("Succeeded", "Failed"):
        status["phase"] = old["phase"]
    unready = f"containers with unready status: [{' '.join(str(c.get('name')) for c in apps)}]"
    incomplete_text = f"containers with incomplete status: [{' '.join(incomplete)}]"
    replaced = {
        "Initialized": _condition("Initialized", when, old, "ContainersNotInitialized", incomplete_text),
        "Ready": _condition("Ready", when, old, "ContainersNotReady", unready),
        "ContainersReady": _condition("ContainersReady", when, old, "ContainersNotReady", unready),
    }
    conditions = [replaced.get(str(c.get("type")), c) for c in status.get("conditions") or []]
    if not any(c.get("type") == "Initialized" for c in conditions):
        conditions.insert(0, replaced["Initialized"])
    status["conditions"] = conditions
    return status


def _condition(kind: str, when: str, old: Mapping[str, Any], reason: str, message: str) -> Obj:
    """A False condition, keeping its lastTransitionTime while it stays False."""
    prev = next((c for c in old.get("conditions") or [] if c.get("type") == kind), None)
    since = prev["lastTransitionTime"] if prev and prev.get("status") == "False" else when
    return {"type": kind, "status": "False", "lastProbeTime": None, "lastTransitionTime": since,
            "reason": reason, "message": message}  # fmt: skip


def init_events(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[ps.PodEvent]:
    """The kubelet's events for the init containers' part of a status change: as for app
    containers, plus Started for one that ran and finished between two looks (an init
    container is often done before its running state is ever reported)."""
    before = {s.get("name"): s for s in old.get("initContainerStatuses") or []}
    events: list[ps.PodEvent] = []
    for status in new.get("initContainerStatuses") or []:
        was = before.get(status.get("name")) or {}
        found = ps.transition_events({"containerStatuses": [was]}, {"containerStatuses": [status]})
        state, was_state = status.get("state") or {}, was.get("state") or {}
        if (
            "terminated" in state
            and status.get("containerID")
            and not ({"running", "terminated"} & set(was_state))
            and not any(ev.reason == "Started" for ev in found)
        ):
            name = str(status.get("name"))
            found.append(ps.PodEvent("Started", f"Started container {name}", container=name))
        events.extend(found)
    return events
