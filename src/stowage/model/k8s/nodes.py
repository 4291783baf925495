"""Node objects from ECS container instance records: one Node per instance of the ECS cluster
that backs the Kubernetes API. Pure.

- name: the instance's ``ec2InstanceId`` (the host id its agent keeps across restarts);
- capacity: registered CPU (1024 units = 1 CPU, shown as cores or millicores) and MEMORY
  (MiB, shown in Ki), ``pods: 110``; allocatable: the same (the agent already subtracts its
  memory reserve at registration);
- conditions: Ready is True while ``agentConnected``; the pressure conditions are False;
- labels: kubernetes.io/hostname, topology.kubernetes.io/zone (``ecs.availability-zone``),
  kubernetes.io/os and /arch, node.kubernetes.io/instance-type, and every ECS attribute with a
  value that is a valid label (so ``nodeSelector`` can use custom attributes);
- ``spec.unschedulable`` while the instance is DRAINING.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from stowage.model.container_instances import CPU, MEMORY, resource_int
from stowage.model.k8s.meta import rfc3339
from stowage.model.k8s.pods import ARCH_TO_K8S
from stowage.model.k8s.quantity import format_cpu, format_memory

Obj = dict[str, Any]

MAX_PODS = "110"
_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")
KUBELET_VERSION = "v1.32.0-stowage"


def node_name(instance: Mapping[str, Any]) -> str:
    return str(
        instance.get("ec2InstanceId") or str(instance.get("containerInstanceArn", "")).rsplit("/", 1)[-1]
    )


def _attributes(instance: Mapping[str, Any], custom: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for a in [*(instance.get("attributes") or []), *custom]:
        if a.get("value") is not None:
            out[str(a["name"])] = str(a["value"])
    return out


def node_labels(instance: Mapping[str, Any], custom: Sequence[Mapping[str, Any]] = ()) -> dict[str, str]:
    attrs = _attributes(instance, custom)
    labels = {
        name: value
        for name, value in attrs.items()
        if len(name) <= 316 and _KEY.match(name) and _VALUE.match(value)
    }
    name = node_name(instance)
    labels["kubernetes.io/hostname"] = name
    labels["kubernetes.io/os"] = attrs.get("ecs.os-type", "linux").lower()
    arch = attrs.get("ecs.cpu-architecture", "x86_64")
    labels["kubernetes.io/arch"] = ARCH_TO_K8S.get(arch, arch)
    labels["beta.kubernetes.io/os"] = labels["kubernetes.io/os"]
    labels["beta.kubernetes.io/arch"] = labels["kubernetes.io/arch"]
    zone = attrs.get("ecs.availability-zone")
    if zone and _VALUE.match(zone):
        labels["topology.kubernetes.io/zone"] = zone
        region = zone.rstrip("abcdefghijklmnopqrstuvwxyz")
        if region and _VALUE.match(region):
            labels["topology.kubernetes.io/region"] = region
    itype = attrs.get("ecs.instance-type")
    if itype and _VALUE.match(itype):
        labels["node.kubernetes.io/instance-type"] = itype
    return labels


def node_object(
    instance: Mapping[str, Any],
    *,
    cluster: str,
    custom: Sequence[Mapping[str, Any]] = (),
    old: Mapping[str, Any] | None = None,
    now: float,
) -> Obj:
    """The Node for an instance record (``old``: the Node as stored, for transition times)."""
    registered = instance.get("registeredResources") or []
    cpu, memory = resource_int(registered, CPU), resource_int(registered, MEMORY)
    capacity = {
        "cpu": format_cpu(cpu),
        "memory": format_memory(memory),
        "pods": MAX_PODS,
        "ephemeral-storage": "0",
    }
    connected = bool(instance.get("agentConnected"))
    when = rfc3339(now)
    old_conditions = {c.get("type"): c for c in ((old or {}).get("status") or {}).get("conditions") or []}

    def condition(kind: str, ok: bool, reason: str, message: str) -> Obj:
        prev = old_conditions.get(kind)
        status = "True" if ok else "False"
        since = prev.get("lastTransitionTime") if prev and prev.get("status") == status else when
        return {
            "type": kind, "status": status, "reason": reason, "message": message,
            "lastHeartbeatTime": since, "lastTransitionTime": since,
        }  # fmt: skip

    version = instance.get("versionInfo") or {}
    registered_at = instance.get("registeredAt")
    name = node_name(instance)
    meta: Obj = {"name": name, "labels": node_labels(instance, custom), "annotations": {
        "ecs.stowage.io/container-instance-arn": str(instance.get("containerInstanceArn", "")),
        "ecs.stowage.io/cluster": cluster,
    }}  # fmt: skip
    if isinstance(registered_at, int | float):
        meta["creationTimestamp"] = rfc3339(float(registered_at))
    spec: Obj = {"providerID": f"stowage:///{cluster}/{name}"}
    if instance.get("status") == "DRAINING":
        spec["unschedulable"] = True
        spec["taints"] = [
            {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule", "timeAdded": when}
        ]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": meta,
        "spec": spec,
        "status": {
            "capacity": capacity,
            "allocatable": dict(capacity),
            "conditions": [
                condition(
                    "MemoryPressure",
                    False,
                    "KubeletHasSufficientMemory",
                    "kubelet has sufficient memory available",
                ),
                condition("DiskPressure", False, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                condition(
                    "PIDPressure", False, "KubeletHasSufficientPID", "kubelet has sufficient PID available"
                ),
                condition(
                    "Ready",
                    connected,
                    "KubeletReady" if connected else "NodeStatusUnknown",
                    "stowage agent is connected"
                    if connected
                    else "stowage agent stopped posting node status",
                ),
            ],
            "addresses": [{"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
            "nodeInfo": {
                "machineID": name,
                "systemUUID": name,
                "bootID": "",
                "kernelVersion": "",
                "osImage": "stowage",
                "containerRuntimeVersion": "docker://"
                + str(version.get("dockerVersion", "")).removeprefix("DockerVersion: "),
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": "",
                "operatingSystem": node_labels(instance)["kubernetes.io/os"],
                "architecture": node_labels(instance)["kubernetes.io/arch"],
            },
        },
    }
