"""Pod and Node: their declarations (table columns as the API server prints them, field
selectors, subresources, defaults). What runs a pod is ``controllers/k8s`` (pods are ECS tasks);
``pods/log`` is served by ``pod_logs.py``.

Pods are deleted gracefully, as on a real cluster: DELETE sets ``deletionTimestamp`` (the pod
shows Terminating) and the pod controller removes the object once its task has stopped, so
``kubectl delete pod`` returns when the containers are gone. ``gracePeriodSeconds=0`` deletes at
once (``--force``); the controller then stops the task on its own.
"""

from __future__ import annotations

from typing import Any

from stowage.api.k8s.columns import AGE, NAME, age_of
from stowage.api.k8s.registry import Column, ResourceType, Subresource
from stowage.model.k8s.pods import prepare_pod, validate_pod
from stowage.model.k8s.taints import validate_node

Obj = dict[str, Any]


def _statuses(o: Obj) -> list[Obj]:
    return list((o.get("status") or {}).get("containerStatuses") or [])


def _ready(o: Obj, _: float) -> str:
    total = len((o.get("spec") or {}).get("containers") or [])
    ready = sum(1 for s in _statuses(o) if s.get("ready") and "running" in (s.get("state") or {}))
    return f"{ready}/{total}"


def _init_reason(o: Obj) -> str | None:
    """STATUS while init containers have not all succeeded: ``Init:<done>/<total>``, or
    ``Init:<reason>`` for a failed or stuck one; None once they are done."""
    status = o.get("status") or {}
    total = len((o.get("spec") or {}).get("initContainers") or [])
    if not total or any(
        c.get("type") == "Initialized" and c.get("status") == "True" for c in status.get("conditions") or []
    ):
        return None
    for i, s in enumerate(status.get("initContainerStatuses") or []):
        state = s.get("state") or {}
        term, waiting = state.get("terminated"), state.get("waiting") or {}
        if term is not None and term.get("exitCode") == 0:
            continue
        if term is not None:
            if term.get("reason"):
                return f"Init:{term['reason']}"
            signal = term.get("signal")
            return f"Init:Signal:{signal}" if signal else f"Init:ExitCode:{term.get('exitCode')}"
        if waiting.get("reason") and waiting["reason"] != "PodInitializing":
            return f"Init:{waiting['reason']}"
        return f"Init:{i}/{total}"
    return None


def pod_phase_reason(o: Obj) -> str:
    """kubectl's STATUS column (the API server's ``printPod``)."""
    status = o.get("status") or {}
    reason = str(status.get("reason") or status.get("phase") or "")
    has_running = False
    init = _init_reason(o)
    for s in reversed(_statuses(o) if init is None else []):
        state = s.get("state") or {}
        waiting, term = state.get("waiting") or {}, state.get("terminated") or {}
        if waiting.get("reason"):
            reason = str(waiting["reason"])
        elif term.get("reason"):
            reason = str(term["reason"])
        elif "terminated" in state:
            code = term.get("exitCode", 0)
            reason = f"Signal:{term['signal']}" if term.get("signal") else f"ExitCode:{code}"
        elif s.get("ready") and "running" in state:
            has_running = True
    if reason == "Completed" and has_running:
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
        )
        reason = "Running" if ready else "NotReady"
    if init is not None:
        reason = init
    if (o.get("metadata") or {}).get("deletionTimestamp"):
        reason = "Terminating"
    return reason


def _restarts(o: Obj, now: float) -> str:
    total = 0
    last: str | None = None
    for s in [*((o.get("status") or {}).get("initContainerStatuses") or []), *_statuses(o)]:
        total += int(s.get("restartCount") or 0)
        finished = ((s.get("lastState") or {}).get("terminated") or {}).get("finishedAt")
        if finished and (last is None or finished > last):
            last = finished
    if total and last:
        return f"{total} ({age_of(last, now)} ago)"
    return str(total)


def _node_status(o: Obj, _: float) -> str:
    conditions = (o.get("status") or {}).get("conditions") or []
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    text = "Ready" if ready and ready.get("status") == "True" else ("NotReady" if ready else "Unknown")
    if (o.get("spec") or {}).get("unschedulable"):
        text += ",SchedulingDisabled"
    return text


def _node_roles(o: Obj, _: float) -> str:
    labels = (o.get("metadata") or {}).get("labels") or {}
    roles = sorted(
        k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/") and k.split("/", 1)[1]
    )
    return ",".join(roles) or "<none>"


def _address(kind: str) -> Any:
    def cell(o: Obj, _: float) -> str:
        for a in (o.get("status") or {}).get("addresses") or []:
            if a.get("type") == kind:
                return str(a.get("address", ""))
        return "<none>"

    return cell


def _info(member: str) -> Any:
    return lambda o, _: str(((o.get("status") or {}).get("nodeInfo") or {}).get(member, "")) or "<unknown>"


def _grace(o: Obj) -> int:
    """An unscheduled pod has no agent to wait for: it goes at once, as on a real cluster."""
    spec = o.get("spec") or {}
    if not spec.get("nodeName"):
        return 0
    return int(spec.get("terminationGracePeriodSeconds", 30) or 0) or 1


POD = ResourceType(
    "", "v1", "pods", "Pod", True, "io.k8s.api.core.v1.Pod",
    short_names=("po",),
    categories=("all",),
    columns=(
        NAME,
        Column("Ready", _ready,
               description="The aggregate readiness state of this pod for accepting traffic."),
        Column("Status", lambda o, _: pod_phase_reason(o), description="The aggregate status of the containers in this pod."),  # noqa: E501
        Column("Restarts", _restarts, description="The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),  # noqa: E501
        AGE,
        Column("IP", lambda o, _: (o.get("status") or {}).get("podIP") or "<none>", priority=1,
               description="IP address allocated to the pod. Routable at least within the cluster."),
        Column("Node", lambda o, _: (o.get("spec") or {}).get("nodeName") or "<none>", priority=1,
               description="NodeName is the node the pod is scheduled on."),
        Column("Nominated Node", lambda o, _: (o.get("status") or {}).get("nominatedNodeName") or "<none>",
               priority=1, description="nominatedNodeName is set when this pod preempts other pods."),
        Column("Readiness Gates", lambda o, _: "<none>", priority=1,
               description="If specified, all readiness gates will be evaluated for pod readiness."),
    ),
    fields={
        "spec.nodeName": lambda o: str((o.get("spec") or {}).get("nodeName") or ""),
        "spec.restartPolicy": lambda o: (o.get("spec") or {}).get("restartPolicy"),
        "spec.schedulerName": lambda o: (o.get("spec") or {}).get("schedulerName"),
        "spec.serviceAccountName": lambda o: (o.get("spec") or {}).get("serviceAccountName"),
        "spec.hostNetwork": lambda o: str(bool((o.get("spec") or {}).get("hostNetwork"))).lower(),
        "status.phase": lambda o: (o.get("status") or {}).get("phase"),
        "status.podIP": lambda o: str((o.get("status") or {}).get("podIP") or ""),
        "status.nominatedNodeName": lambda o: str((o.get("status") or {}).get("nominatedNodeName") or ""),
    },
    subresources=(
        Subresource("status", "Pod"),
        Subresource("log", "Pod", verbs=("get",)),
        Subresource("eviction", "Eviction", "policy", "v1", verbs=("create",)),  # api/k8s/policy.py
    ),
    prepare=prepare_pod,
    validate=validate_pod,
    graceful_delete=_grace,
)  # fmt: skip

NODE = ResourceType(
    "", "v1", "nodes", "Node", False, "io.k8s.api.core.v1.Node",
    short_names=("no",),
    columns=(
        NAME,
        Column("Status", _node_status, description="The status of the node"),
        Column("Roles", _node_roles, description="The roles of the node"),
        AGE,
        Column("Version", _info("kubeletVersion"), description="Kubelet Version reported by the node."),
        Column("Internal-IP", _address("InternalIP"), priority=1, description="List of internal IPs."),
        Column("External-IP", _address("ExternalIP"), priority=1, description="List of external IPs."),
        Column("OS-Image", _info("osImage"), priority=1, description="OS Image reported by the node."),
        Column("Kernel-Version", _info("kernelVersion"), priority=1, description="Kernel Version reported by the node."),  # noqa: E501
        Column("Container-Runtime", _info("containerRuntimeVersion"), priority=1,
               description="Container Runtime Version reported by the node."),
    ),
    fields={"spec.unschedulable": lambda o: str(bool((o.get("spec") or {}).get("unschedulable"))).lower()},
    subresources=(Subresource("status", "Node"),),
    validate=validate_node,
)  # fmt: skip

WORKLOADS = (POD, NODE)
