"""Pods on EKS Fargate, pure: which pods run on Fargate, how big their capacity is, what
Fargate refuses, and the one Node each such pod shows on.

- **Admission** (``admit``): EKS's mutating webhook, on pod create. A pod that matches an
  ACTIVE Fargate profile of its cluster (``fargate_profiles.pick``: the selectors' namespace and
  labels; the pod's ``eks.amazonaws.com/fargate-profile`` label names the profile when several
  match; otherwise the first by name) gets ``spec.schedulerName: fargate-scheduler`` and the
  annotation ``eks.amazonaws.com/fargate-profile: <profile>``. A pod that names another
  scheduler, or whose template says ``eks.amazonaws.com/compute-type: ec2`` (as EKS's own
  CoreDNS does), is left to the nodes.
- **Size** (``size``): as EKS sizes a Fargate pod: the larger of the biggest init container's
  and the sum of the app containers' requests (per resource; limits stand in for absent
  requests, as the API server defaults them), plus 256 MiB for the Kubernetes components,
  rounded up to the next Fargate vCPU/memory combination (0.25 vCPU and 0.5 GB at least);
  ``capacity_provisioned`` is the pod's ``CapacityProvisioned`` annotation (``0.25vCPU 0.5GB``).
- **Refusals** (``unsupported``): what the fargate-scheduler reports for a pod Fargate cannot
  run, in EKS's words (``Pod not supported on Fargate: fields not supported: HostNetwork, ...``):
  host network, host ports, privileged containers, hostPath volumes, DaemonSet pods.
- **The node** (``node_name``, ``node_object``): one Node per Fargate pod, named after the pod's
  address as AWS names private DNS (``fargate-ip-10-0-0-5.ec2.internal`` in us-east-1,
  ``fargate-ip-...<region>.compute.internal`` elsewhere), labelled
  ``eks.amazonaws.com/compute-type: fargate`` and tainted
  ``eks.amazonaws.com/compute-type=fargate:NoSchedule`` so nothing else lands on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from stowage.model import fargate as sizes
from stowage.model.eks import fargate_profiles as profiles_model
from stowage.model.k8s import pods as pod_model
from stowage.model.k8s.meta import rfc3339
from stowage.model.k8s.quantity import format_cpu, format_memory

Obj = dict[str, Any]

SCHEDULER = "fargate-scheduler"
DEFAULT_SCHEDULER = "default-scheduler"
PROFILE_ANNOTATION = profiles_model.PROFILE_LABEL
"""``eks.amazonaws.com/fargate-profile``: the profile a Fargate pod runs under (annotation),
and the profile a pod asks for (label)."""
CAPACITY_ANNOTATION = "CapacityProvisioned"
COMPUTE_TYPE = "eks.amazonaws.com/compute-type"
FARGATE = "fargate"
KUBERNETES_MEMORY_MIB = 256
"""What Fargate adds to every pod's memory for the kubelet, kube-proxy and containerd."""
NODE_TAINT = {"key": COMPUTE_TYPE, "value": FARGATE, "effect": "NoSchedule"}
POD_ANNOTATION = "eks.stowage.io/fargate-pod"
"""On a Fargate node: the uid of the pod it exists for (so a late clean-up of one pod never
removes the node of another pod that got the same address)."""
KUBELET_VERSION = "v1.32.0-eks-stowage"
_NOT_SUPPORTED = "Pod not supported on Fargate"


# -- admission --------------------------------------------------------------------------------------
def choose(profiles: Iterable[Mapping[str, Any]], pod: Mapping[str, Any]) -> Obj | None:
    """The profile the pod runs under on Fargate, or None (it runs on the nodes)."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    if spec.get("schedulerName") not in (None, "", DEFAULT_SCHEDULER, SCHEDULER):
        return None
    if (meta.get("annotations") or {}).get(COMPUTE_TYPE) == "ec2":
        return None
    labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
    return profiles_model.pick(profiles, str(meta.get("namespace") or ""), labels)


def admit(pod: Obj, profiles: Iterable[Mapping[str, Any]]) -> str | None:
    """EKS's webhook on pod create: mark ``pod`` (in place) for the fargate-scheduler when it
    matches a profile; the profile's name, or None."""
    profile = choose(profiles, pod)
    if profile is None:
        return None
    name = str(profile["fargateProfileName"])
    pod.setdefault("spec", {})["schedulerName"] = SCHEDULER
    meta = pod.setdefault("metadata", {})
    annotations = meta.get("annotations")
    meta["annotations"] = {**(annotations if isinstance(annotations, dict) else {}), PROFILE_ANNOTATION: name}
    return name


def profile_of(pod: Mapping[str, Any]) -> str | None:
    """The profile of a pod admitted to Fargate (None for a pod of the nodes)."""
    if (pod.get("spec") or {}).get("schedulerName") != SCHEDULER:
        return None
    name = ((pod.get("metadata") or {}).get("annotations") or {}).get(PROFILE_ANNOTATION)
    return str(name) if name else None


# -- what Fargate refuses --------------------------------------------------------------------------------
def unsupported(pod: Mapping[str, Any]) -> str | None:
    """The fargate-scheduler's FailedScheduling message for a pod Fargate cannot run, else None."""
    spec = pod.get("spec") or {}
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    problems: list[str] = []
    for ref in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == "DaemonSet":
            problems.append("DaemonSet pods are not supported")
    fields = [name for name, member in (("HostNetwork", "hostNetwork"), ("HostPID", "hostPID"),
                                       ("HostIPC", "hostIPC")) if spec.get(member)]  # fmt: skip
    if fields:
        problems.append("fields not supported: " + ", ".join(fields))
    if any((c.get("securityContext") or {}).get("privileged") for c in containers):
        problems.append("invalid SecurityContext fields: Privileged")
    if any(p.get("hostPort") or p.get("hostIP") for c in containers for p in c.get("ports") or []):
        problems.append("port contains HostIP or HostPort")
    for volume in spec.get("volumes") or []:
        if volume.get("hostPath") is not None:
            problems.append(f"volumes not supported: {volume.get('name')} is of an unsupported volume Type")
    return f"{_NOT_SUPPORTED}: " + ", ".join(problems) if problems else None


# -- size -------------------------------------------------------------------------------------------
def size(pod: Mapping[str, Any]) -> tuple[int, int] | None:
    """The Fargate size (cpu units, memory MiB) the pod runs with; None when its requests are
    more than the largest Fargate size."""
    needs = pod_model.needs_of(pod)
    return sizes.smallest_fitting(needs.cpu, needs.memory + KUBERNETES_MEMORY_MIB)


def too_big(pod: Mapping[str, Any]) -> str:
    needs = pod_model.needs_of(pod)
    largest_cpu, largest_memory = sizes.all_sizes()[-1]
    return (
        f"{_NOT_SUPPORTED}: the pod's requests ({_amount(needs.cpu)} vCPU, "
        f"{_amount(needs.memory + KUBERNETES_MEMORY_MIB)} GB with the Kubernetes components) exceed "
        f"the largest Fargate configuration ({_amount(largest_cpu)} vCPU, {_amount(largest_memory)} GB)"
    )


def _amount(units: int) -> str:
    """cpu units as vCPU, or MiB as GB: ``0.25``, ``0.5``, ``1``, ``30``."""
    value = (Decimal(units) / 1024).normalize()
    return f"{value:f}"


def capacity_provisioned(cpu: int, memory: int) -> str:
    """The ``CapacityProvisioned`` annotation: ``0.25vCPU 0.5GB``, ``1vCPU 2GB``."""
    return f"{_amount(cpu)}vCPU {_amount(memory)}GB"


# -- the node ---------------------------------------------------------------------------------------
def node_name(ip: str, region: str) -> str:
    domain = "ec2.internal" if region == "us-east-1" else f"{region}.compute.internal"
    return f"fargate-ip-{ip.replace('.', '-')}.{domain}"


def node_object(
    *,
    name: str,
    ip: str,
    region: str,
    zone: str | None,
    profile: str,
    pod_uid: str,
    task_id: str,
    cpu: int,
    memory: int,
    architecture: str,
    now: float,
) -> Obj:
    """The Node of one Fargate pod: its capacity is the pod's Fargate size, one pod."""
    arch = pod_model.ARCH_TO_K8S.get(architecture, architecture)
    labels = {
        COMPUTE_TYPE: FARGATE,
        PROFILE_ANNOTATION: profile,
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": arch,
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": arch,
        "topology.kubernetes.io/region": region,
        "failure-domain.beta.kubernetes.io/region": region,
    }
    if zone:
        labels["topology.kubernetes.io/zone"] = zone
        labels["failure-domain.beta.kubernetes.io/zone"] = zone
    capacity = {
        "cpu": format_cpu(cpu),
        "memory": format_memory(memory),
        "pods": "1",
        "ephemeral-storage": "0",
    }
    when = rfc3339(now)

    def condition(kind: str, ok: bool, reason: str, message: str) -> Obj:
        return {
            "type": kind, "status": "True" if ok else "False", "reason": reason, "message": message,
            "lastHeartbeatTime": when, "lastTransitionTime": when,
        }  # fmt: skip

    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels, "annotations": {POD_ANNOTATION: pod_uid}},
        "spec": {
            "providerID": f"aws:///{zone or region}/{task_id}/{name}",
            "taints": [dict(NODE_TAINT)],
        },
        "status": {
            "capacity": capacity,
            "allocatable": dict(capacity),
            "conditions": [
                condition(
                    "MemoryPressure", False, "KubeletHasSufficientMemory", "kubelet has sufficient memory"
                ),
                condition("DiskPressure", False, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                condition("PIDPressure", False, "KubeletHasSufficientPID", "kubelet has sufficient PID"),
                condition("Ready", True, "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [
                {"type": "InternalIP", "address": ip},
                {"type": "Hostname", "address": name},
                {"type": "InternalDNS", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": task_id,
                "systemUUID": task_id,
                "bootID": "",
                "kernelVersion": "",
                "osImage": "Amazon Linux 2 (stowage Fargate)",
                "containerRuntimeVersion": "docker://",
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": arch,
            },
        },
    }


def node_pod_uid(node: Mapping[str, Any]) -> str | None:
    """The uid of the pod a Fargate node exists for (None for any other node)."""
    value = ((node.get("metadata") or {}).get("annotations") or {}).get(POD_ANNOTATION)
    return str(value) if value else None


def pod_group(pod: Mapping[str, Any]) -> str:
    """The task group of a Fargate pod: the pod itself (``k8s:pod/<namespace>/<name>``), so its
    usage lines in ``GetUsage``/``stowage bill`` name the pod."""
    meta = pod.get("metadata") or {}
    return f"{pod_model.POD_GROUP_PREFIX}pod/{meta.get('namespace', '')}/{meta.get('name', '')}"
