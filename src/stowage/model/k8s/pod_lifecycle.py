"""A pod's restart policy and probes: the API server's defaults and checks, and what the agent
is told (the ``_k8s`` member of each container definition of the pod's task). Pure.

The agent restarts and probes containers itself (``agent/restarts.py``, ``agent/probes.py``);
all it needs per container is in ``_k8s``::

    {"restartPolicy": "Always",                 # the pod's; init containers: OnFailure or Never
     "livenessProbe": {...}, "readinessProbe": {...}, "startupProbe": {...},   # as in the pod
     "ports": {"http": 8080},                   # named container ports, for named probe ports
     "nanoCpus": 500000000,                     # resources.limits.cpu: a CFS quota, as the kubelet
     "init": true}                              # only on init containers

The member is private (an ECS task definition has no such field, and nothing shows it). An
init container restarts on failure unless the pod's policy is Never, as the kubelet does; its
ECS ``restartPolicy`` (``init_containers``) is then not what decides.

Probes: exec, httpGet, tcpSocket and grpc (``grpc.health.v1.Health/Check``), all run by the agent.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from stowage.model.k8s.errors import Cause
from stowage.model.k8s.quantity import parse_quantity

Obj = dict[str, Any]

PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
_NON_NEGATIVE = ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold",
                 "failureThreshold", "terminationGracePeriodSeconds")  # fmt: skip


def _containers(pod: Mapping[str, Any]) -> list[tuple[str, Obj]]:
    spec = pod.get("spec") or {}
    return [("containers", c) for c in spec.get("containers") or []] + [
        ("initContainers", c) for c in spec.get("initContainers") or []
    ]


def _port_causes(port: Any, field: str) -> list[Cause]:
    if isinstance(port, int):
        if not 1 <= port <= 65535:
            return [Cause("FieldValueInvalid", f"Invalid value: {port}: {_PORT_RANGE}", field)]
        return []
    if not isinstance(port, str) or not port:
        return [Cause("FieldValueRequired", "Required value", field)]
    return []


_PORT_RANGE = "must be between 1 and 65535, inclusive"
_NO_HANDLER = "Required value: must specify a handler type"
_TWO_HANDLERS = "Forbidden: may not specify more than 1 handler type"


def validate_probes(pod: Mapping[str, Any]) -> list[Cause]:
    """The API server's probe checks (one handler each, liveness/startup successThreshold 1,
    no negative numbers, valid ports)."""
    causes: list[Cause] = []
    for group, index, c in _indexed(pod):
        for member in PROBES:
            probe = c.get(member)
            if isinstance(probe, Mapping):
                causes.extend(_probe_causes(probe, member, f"spec.{group}[{index}].{member}"))
    return causes


def _probe_causes(probe: Mapping[str, Any], member: str, path: str) -> list[Cause]:
    causes: list[Cause] = []
    handlers = [h for h in _HANDLERS if probe.get(h) is not None]
    if not handlers:
        causes.append(Cause("FieldValueRequired", _NO_HANDLER, path))
    causes.extend(Cause("FieldValueForbidden", _TWO_HANDLERS, f"{path}.{h}") for h in handlers[1:])
    for field in _NON_NEGATIVE:
        value = probe.get(field)
        if isinstance(value, int) and value < 0:
            message = f"Invalid value: {value}: must be greater than or equal to 0"
            causes.append(Cause("FieldValueInvalid", message, f"{path}.{field}"))
    success = probe.get("successThreshold")
    if member != "readinessProbe" and isinstance(success, int) and success not in (0, 1):
        causes.append(
            Cause("FieldValueInvalid", f"Invalid value: {success}: must be 1", f"{path}.successThreshold")
        )
    for handler in ("httpGet", "tcpSocket"):
        if isinstance(probe.get(handler), Mapping):
            causes.extend(_port_causes(probe[handler].get("port"), f"{path}.{handler}.port"))
    if isinstance(probe.get("grpc"), Mapping):
        # an int32, not a name; unset decodes as 0, which the range check refuses
        causes.extend(_port_causes(probe["grpc"].get("port") or 0, f"{path}.grpc.port"))
    return causes


def _indexed(pod: Mapping[str, Any]) -> list[tuple[str, int, Mapping[str, Any]]]:
    spec = pod.get("spec") or {}
    out: list[tuple[str, int, Mapping[str, Any]]] = []
    for group in ("initContainers", "containers"):
        out.extend((group, i, c) for i, c in enumerate(spec.get(group) or []))
    return out


def lifecycle_member(pod: Mapping[str, Any], container: Mapping[str, Any], *, init: bool = False) -> Obj:
    """The ``_k8s`` member of one container's definition."""
    policy = str((pod.get("spec") or {}).get("restartPolicy") or "Always")
    limit = ((container.get("resources") or {}).get("limits") or {}).get("cpu")
    # the limit is a hard cap (the kubelet's CFS quota); the request stays the shares
    nano = {"nanoCpus": int(parse_quantity(limit) * 1_000_000_000)} if limit is not None else {}
    if init:
        return {"restartPolicy": "Never" if policy == "Never" else "OnFailure", "init": True, **nano}
    out: Obj = {"restartPolicy": policy, **nano}
    for member in PROBES:
        if isinstance(container.get(member), Mapping):
            out[member] = copy.deepcopy(dict(container[member]))
    ports = {
        str(p["name"]): int(p["containerPort"])
        for p in container.get("ports") or []
        if p.get("name") and p.get("containerPort")
    }
    if ports:
        out["ports"] = ports
    return out


def attach(pod: Mapping[str, Any], task_definition: Obj) -> Obj:
    """``task_definition`` (a pod's, ``pods.task_definition``) with ``_k8s`` on each of the pod's
    containers' definitions. Changes it in place and returns it."""
    by_name = {str(c.get("name")): (group, c) for group, c in _containers(pod)}
    for definition in task_definition.get("containerDefinitions") or []:
        found = by_name.get(str(definition.get("name")))
        if found is not None:
            group, container = found
            definition["_k8s"] = lifecycle_member(pod, container, init=group == "initContainers")
    return task_definition
