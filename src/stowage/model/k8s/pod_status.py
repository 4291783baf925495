"""A pod's ``status`` from its task record, and the events a status change means.

The task is the truth (the agent reports it); the pod's status is a view of it, recomputed
whole on every task change::

    task lastStatus                      pod phase
    PROVISIONING / PENDING / ACTIVATING  Pending   (containers waiting: ContainerCreating)
    RUNNING ... DEPROVISIONING           Running
    STOPPED, every container exit 0      Succeeded
    STOPPED otherwise                    Failed

Conditions follow: PodScheduled once placed, Initialized, ContainersReady and Ready while
every container is ready (running, started, and passing its readiness probe: the agent's
``lifecycle`` report; without one, not UNHEALTHY). Container states: ``waiting`` until the agent
reports the container running (``CrashLoopBackOff`` while a restart waits for its back-off),
``running``, ``terminated`` with its exit code; ``restartCount`` and ``lastState.terminated``
from the agent's restarts. Events are derived by comparing the old status with the new one
(``transition_events``: Pulled, Created, Started, again on each restart, BackOff...), so each
transition is announced once, by whoever wrote the status change. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stowage.model.k8s.meta import rfc3339
from stowage.model.tasks import private_container

Obj = dict[str, Any]

_PENDING = frozenset({"PROVISIONING", "PENDING", "ACTIVATING"})
CRASH_LOOP = "CrashLoopBackOff"


@dataclass(frozen=True, slots=True)
class PodEvent:
    reason: str
    message: str
    type: str = "Normal"
    container: str = ""
    component: str = "kubelet"


def _ts(value: Any) -> str | None:
    return rfc3339(float(value)) if isinstance(value, int | float) else None


def _ip(task: Mapping[str, Any]) -> str | None:
    for c in task.get("containers") or []:
        for ni in c.get("networkInterfaces") or []:
            if ni.get("privateIpv4Address"):
                return str(ni["privateIpv4Address"])
    for a in task.get("attachments") or []:
        for d in a.get("details") or []:
            if d.get("name") == "privateIPv4Address" and d.get("value"):
                return str(d["value"])
    return None


def _condition(  # noqa: PLR0917
    kind: str, ok: bool, when: str, old: Mapping[str, Any], reason: str = "", message: str = ""
) -> Obj:
    """A condition, keeping its lastTransitionTime while its status does not change."""
    status = "True" if ok else "False"
    prev = next((c for c in old.get("conditions") or [] if c.get("type") == kind), None)
    since = prev["lastTransitionTime"] if prev and prev.get("status") == status else when
    out: Obj = {"type": kind, "status": status, "lastProbeTime": None, "lastTransitionTime": since}
    if reason:
        out["reason"] = reason
    if message:
        out["message"] = message
    return out


def _terminated_reason(c: Mapping[str, Any]) -> str:
    reason = str(c.get("reason") or "")
    if "OutOfMemory" in reason or "OOM" in reason:
        return "OOMKilled"
    if c.get("exitCode") is None:
        return "ContainerCannotRun" if reason else "Error"
    return "Completed" if c.get("exitCode") == 0 else "Error"


def _pod_ref(task: Mapping[str, Any]) -> str:
    """The kubelet's ``name_namespace(uid)`` of the task's pod."""
    pod = task.get("_pod") or {}
    return f"{pod.get('name', '')}_{pod.get('namespace', '')}({pod.get('uid', '')})"


def _last_state(last_exit: Any) -> Obj:
    """``lastState`` from the agent's ``lastExit`` (the run before a restart)."""
    if not isinstance(last_exit, Mapping):
        return {}
    term: Obj = {
        "exitCode": int(last_exit["exitCode"]) if last_exit.get("exitCode") is not None else 128,
        "reason": _terminated_reason(last_exit),
        "startedAt": _ts(last_exit.get("startedAt")),
        "finishedAt": _ts(last_exit.get("finishedAt")),
    }
    if last_exit.get("reason"):
        term["message"] = str(last_exit["reason"])
    if last_exit.get("runtimeId"):
        term["containerID"] = f"docker://{last_exit['runtimeId']}"
    return {"terminated": term}


def container_status(spec: Mapping[str, Any], c: Mapping[str, Any] | None, task: Mapping[str, Any]) -> Obj:
    """One ``containerStatuses`` entry from the task's container (None: not placed yet)."""
    c = {**(c or {}), **private_container(task, str(spec["name"]))} if c else {}
    runtime_id = c.get("runtimeId")
    status: Obj = {
        "name": spec["name"],
        "image": spec.get("image", ""),
        "imageID": f"docker-pullable://{c['imageDigest']}" if c.get("imageDigest") else "",
        "ready": False,
        "restartCount": int(c.get("restartCount") or 0),
        "started": False,
        "lastState": _last_state(c.get("lastExit")),
    }
    if runtime_id:
        status["containerID"] = f"docker://{runtime_id}"
    last = c.get("lastStatus", "PENDING")
    life = c.get("lifecycle") if isinstance(c.get("lifecycle"), Mapping) else None
    started_at = _ts(c.get("startedAt")) or _ts(task.get("startedAt")) or _ts(task.get("createdAt"))
    if last == "RUNNING" and task.get("lastStatus") != "STOPPED" and life and life.get("waitingReason"):
        back_off = int(life.get("backOffSeconds") or 0)
        message = f"back-off {back_off}s restarting failed container={spec['name']} pod={_pod_ref(task)}"
        status["state"] = {"waiting": {"reason": str(life["waitingReason"]), "message": message}}
    elif last == "RUNNING" and task.get("lastStatus") != "STOPPED":
        status["state"] = {"running": {"startedAt": started_at}}
        if life is not None:
            status["started"] = bool(life.get("started"))
            status["ready"] = bool(life.get("ready"))
        else:
            status["started"] = True
            status["ready"] = c.get("healthStatus") != "UNHEALTHY"
    elif last == "STOPPED" or task.get("lastStatus") == "STOPPED":
        term: Obj = {
            "exitCode": int(c["exitCode"]) if c.get("exitCode") is not None else 128,
            "reason": _terminated_reason(c),
            "startedAt": started_at if runtime_id else None,
            "finishedAt": _ts(task.get("executionStoppedAt")) or _ts(task.get("stoppedAt")),
        }
        if c.get("reason"):
            term["message"] = str(c["reason"])
        if runtime_id:
            term["containerID"] = f"docker://{runtime_id}"
        status["state"] = {"terminated": term}
    else:
        status["state"] = {"waiting": {"reason": "ContainerCreating"}}
    return status


def status_from_task(
    pod: Mapping[str, Any], task: Mapping[str, Any], *, now: float, host_ip: str | None
) -> Obj:
    """The pod's status for its task record."""
    old = dict(pod.get("status") or {})
    when = rfc3339(now)
    spec = pod.get("spec") or {}
    by_name = {c.get("name"): c for c in task.get("containers") or []}
    statuses = [
        container_status(cs, by_name.get(cs.get("name")), task) for cs in spec.get("containers") or []
    ]
    last = str(task.get("lastStatus", "PENDING"))
    if last in _PENDING:
        phase = "Pending"
    elif last != "STOPPED":
        phase = "Running"
    else:
        codes = [(s.get("state") or {}).get("terminated", {}).get("exitCode") for s in statuses]
        phase = "Succeeded" if codes and all(code == 0 for code in codes) else "Failed"
    # A pod that ran to completion keeps its last phase when its task is stopped for deletion.
    if old.get("phase") in ("Succeeded", "Failed"):
        phase = str(old["phase"])
    ready = phase == "Running" and all(s["ready"] for s in statuses)
    not_ready = [s["name"] for s in statuses if not s["ready"]]
    why = "" if ready else ("PodCompleted" if phase in ("Succeeded", "Failed") else "ContainersNotReady")
    message = (
        "" if ready or why == "PodCompleted" else f"containers with unready status: [{' '.join(not_ready)}]"
    )
    status: Obj = {
        "phase": phase,
        "conditions": [
            _condition("PodReadyToStartContainers", last not in _PENDING or bool(_ip(task)), when, old),
            _condition("Initialized", True, when, old),
            _condition("Ready", ready, when, old, why, message),
            _condition("ContainersReady", ready, when, old, why, message),
            _condition("PodScheduled", True, when, old),
        ],
        "containerStatuses": statuses,
        "qosClass": old.get("qosClass", "BestEffort"),
        "startTime": _ts(task.get("createdAt")) or when,
    }
    ip = _ip(task)
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    if host_ip:
        status["hostIP"] = host_ip
        status["hostIPs"] = [{"ip": host_ip}]
    return status


def unschedulable_status(pod: Mapping[str, Any], message: str, *, now: float) -> Obj:
    old = dict(pod.get("status") or {})
    return {
        "phase": "Pending",
        "conditions": [
            _condition("PodScheduled", False, rfc3339(now), old, "Unschedulable", message),
        ],
        "qosClass": old.get("qosClass", "BestEffort"),
    }


def config_error_status(pod: Mapping[str, Any], message: str, *, now: float) -> Obj:
    """The kubelet's ``CreateContainerConfigError``: placed, but its env cannot be built."""
    old = dict(pod.get("status") or {})
    when = rfc3339(now)
    spec = pod.get("spec") or {}
    return {
        "phase": "Pending",
        "conditions": [
            _condition("Initialized", True, when, old),
            _condition("Ready", False, when, old, "ContainersNotReady"),
            _condition("ContainersReady", False, when, old, "ContainersNotReady"),
            _condition("PodScheduled", True, when, old),
        ],
        "containerStatuses": [
            {
                "name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": False,
                "restartCount": 0, "started": False,
                "state": {"waiting": {"reason": "CreateContainerConfigError", "message": message}},
            }
            for c in spec.get("containers") or []
        ],
        "qosClass": old.get("qosClass", "BestEffort"),
    }  # fmt: skip


def _state(status: Mapping[str, Any], name: str) -> Obj:
    for s in status.get("containerStatuses") or []:
        if s.get("name") == name:
            return dict(s)
    return {}


def transition_events(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[PodEvent]:
    """The kubelet's events for the change from status ``old`` to ``new``."""
    events: list[PodEvent] = []
    for s in new.get("containerStatuses") or []:
        name = str(s.get("name"))
        before = _state(old, name)
        # A restart is a new container (the kubelet's Pulled, Created, Started once more).
        recreated = bool(before.get("containerID")) and s.get("containerID") != before.get("containerID")
        restarted = int(s.get("restartCount") or 0) > int(before.get("restartCount") or 0)
        if s.get("imageID") and (not before.get("imageID") or recreated):
            events.append(
                PodEvent(
                    "Pulled", f'Container image "{s.get("image")}" already present on machine', container=name
                )
            )
        if s.get("containerID") and (not before.get("containerID") or recreated):
            events.append(PodEvent("Created", f"Created container {name}", container=name))
        state, was = s.get("state") or {}, before.get("state") or {}
        if "running" in state and ("running" not in was or restarted):
            events.append(PodEvent("Started", f"Started container {name}", container=name))
        if (state.get("waiting") or {}).get("reason") == CRASH_LOOP and (
            (was.get("waiting") or {}).get("reason") != CRASH_LOOP or restarted
        ):
            pod = str(state["waiting"].get("message", "")).rpartition(" pod=")[2]
            text = f"Back-off restarting failed container {name}" + (f" in pod {pod}" if pod else "")
            events.append(PodEvent("BackOff", text, "Warning", name))
        waiting = state.get("waiting") or {}
        if waiting.get("reason") == "CreateContainerConfigError" and (was.get("waiting") or {}) != waiting:
            events.append(PodEvent("Failed", f"Error: {waiting.get('message', '')}", "Warning", name))
        term = state.get("terminated") or {}
        if term.get("reason") == "ContainerCannotRun" and "terminated" not in was:
            events.append(PodEvent("Failed", f"Error: {term.get('message', '')}", "Warning", name))
    return events
