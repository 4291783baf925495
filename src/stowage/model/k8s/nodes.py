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

What users set on a Node stays (``old``: the Node as stored): its spec (``kubectl cordon``'s
``spec.unschedulable``, ``kubectl taint``'s ``spec.taints``), the labels and annotations they
added. The sync owns the status, the labels it derives from the instance (remembered in the
``ecs.stowage.io/instance-labels`` annotation, so one the instance loses goes), and the taints of
``model/k8s/taints.managed_taints`` (remembered in ``ecs.stowage.io/managed-taints``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from stowage.model.container_instances import CPU, MEMORY, resource_int
from stowage.model.k8s import taints as tm
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
INSTANCE_LABELS = "ecs.stowage.io/instance-labels"
MANAGED_TAINTS = "ecs.stowage.io/managed-taints"
DRAIN_CORDON = "ecs.stowage.io/cordoned-while-draining"
"""Set while the sync cordoned the node because its instance is DRAINING (so it uncordons it
when the instance is ACTIVE again, and leaves a user's cordon alone)."""
_OWN_ANNOTATIONS = (
    "ecs.stowage.io/container-instance-arn",
    "ecs.stowage.io/cluster",
    INSTANCE_LABELS,
    MANAGED_TAINTS,
    DRAIN_CORDON,
)


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
    spec = _spec(instance, meta, old or {}, cluster=cluster, custom=custom, now=now)
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


def _spec(
    instance: Mapping[str, Any],
    meta: Obj,
    old: Mapping[str, Any],
    *,
    cluster: str,
    custom: Sequence[Mapping[str, Any]],
    now: float,
) -> Obj:
    """The Node's spec, and its labels and annotations merged with what users set on ``old``."""
    old_meta = old.get("metadata") or {}
    old_annotations = dict(old_meta.get("annotations") or {})
    derived = meta["labels"]
    was_derived = set(filter(None, str(old_annotations.get(INSTANCE_LABELS, "")).split(",")))
    users = {
        k: v for k, v in (old_meta.get("labels") or {}).items() if k not in was_derived and k not in derived
    }
    meta["labels"] = {**users, **derived}
    annotations = {k: v for k, v in old_annotations.items() if k not in _OWN_ANNOTATIONS}
    annotations.update(meta["annotations"])
    annotations[INSTANCE_LABELS] = ",".join(sorted(derived))
    spec: Obj = {k: v for k, v in (old.get("spec") or {}).items() if k not in ("providerID", "taints")}
    spec["providerID"] = f"stowage:///{cluster}/{meta['name']}"
    draining = instance.get("status") == "DRAINING"
    if draining and not spec.get("unschedulable"):
        spec["unschedulable"] = True
        annotations[DRAIN_CORDON] = "true"
    elif draining and old_annotations.get(DRAIN_CORDON):
        annotations[DRAIN_CORDON] = "true"
    elif not draining and old_annotations.get(DRAIN_CORDON):
        spec.pop("unschedulable", None)
    if not spec.get("unschedulable"):
        spec.pop("unschedulable", None)
    managed = tm.managed_taints(
        unschedulable=bool(spec.get("unschedulable")),
        connected=bool(instance.get("agentConnected")),
        attributes=_attributes(instance, custom),
    )
    was_managed = filter(None, str(old_annotations.get(MANAGED_TAINTS, "")).split(","))
    taints, owned = tm.merge_taints(tm.taints_of(old), managed, was_managed, now=now)
    taints = tm.stamp_no_execute(taints, now=now)  # a user's NoExecute taint's clock starts now
    if taints:
        spec["taints"] = taints
    annotations[MANAGED_TAINTS] = ",".join(owned)
    meta["annotations"] = annotations
    return spec
