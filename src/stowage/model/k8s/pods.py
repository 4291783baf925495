"""Pods as ECS tasks: the pod's defaults, the task definition a pod runs as, what it reserves,
and where it may go. Pure: the controller (``controllers/k8s/pods.py``) does the I/O.

The mapping (``docs/architecture.md``, "Pods are tasks")::

    pod                                    task definition (embedded in the task's TaskSpec)
    spec.containers[i].image               containerDefinitions[i].image
      command / args                       entryPoint / command
      env (valueFrom resolved), envFrom    environment
      workingDir, tty, stdin               workingDirectory, pseudoTerminal, interactive
      ports[].containerPort/protocol       portMappings (awsvpc: no host port)
      resources.requests.cpu               cpu (units, 1 CPU = 1024)      → placement needs
      resources.requests.memory            memoryReservation (MiB)        → placement needs
      resources.limits.memory              memory (hard limit)
      resources.limits.cpu                 _k8s.nanoCpus: a CFS quota, as the kubelet sets
      securityContext.privileged/runAsUser privileged / user
      volumeMounts                         mountPoints (``model/k8s/pod_volumes``)
    spec.initContainers[i]                 non-essential containers chained by dependsOn
                                           SUCCESS, first (``model/k8s/init_containers``)
    spec.volumes                           volumes; configMap/secret/downwardAPI/projected
                                           files in the TaskSpec (``model/k8s/pod_volumes``)
    spec.terminationGracePeriodSeconds     stopTimeout of every container
    (one pod)                              networkMode awsvpc: one namespace and IP per pod
    (logs)                                 awslogs: group /k8s/<cluster>/<namespace>,
                                           stream <pod>/<container>/<task id>

A request missing where a limit is given defaults to the limit, as the API server does. The
task's id is the pod's uid without dashes, so a pod can never be placed twice.
"""

from __future__ import annotations

import base64
import binascii
import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stowage.model.k8s import defaults, init_containers, pod_lifecycle, pod_volumes, taints
from stowage.model.k8s.errors import Cause
from stowage.model.k8s.quantity import QuantityError, cpu_units, memory_mib
from stowage.model.tasks import Needs

Obj = dict[str, Any]

DEFAULT_GRACE_SECONDS = 30
MAX_STOP_TIMEOUT = 120
"""ECS caps ``stopTimeout`` at 120 seconds."""
POD_GROUP_PREFIX = "k8s:"
LOG_GROUP_PREFIX = "/k8s/"


class PodConfigError(ValueError):
    """The pod cannot be turned into a task yet (a ConfigMap or Secret it needs is missing):
    the kubelet's ``CreateContainerConfigError``. ``str(exc)`` is the message."""


def qos_class(pod: Obj) -> str:
    spec = pod.get("spec") or {}
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    guaranteed = bool(containers)
    besteffort = True
    for c in containers:
        res = c.get("resources") or {}
        requests, limits = res.get("requests") or {}, res.get("limits") or {}
        if requests or limits:
            besteffort = False
        for name in ("cpu", "memory"):
            if name not in limits or str(limits.get(name)) != str(requests.get(name, limits.get(name))):
                guaranteed = False
    if besteffort:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def prepare_pod(pod: Obj) -> None:
    """What the API server fills in for a new or updated pod: the defaults
    (``model/k8s/defaults``; here too, as controllers write their pods to the store without the
    API), then admission's (priority, service account, default tolerations) and the status."""
    defaults.default_object("v1", "Pod", pod)
    spec = pod.setdefault("spec", {})
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    sa = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    spec["serviceAccountName"] = sa
    spec["serviceAccount"] = sa
    if isinstance(spec.get("tolerations") or [], list):
        spec["tolerations"] = taints.with_default_tolerations(spec.get("tolerations") or [])
    status = pod.setdefault("status", {})
    status.setdefault("phase", "Pending")
    status["qosClass"] = qos_class(pod)


# Fields the API server forbids on init containers (they run to completion: no probes).
_NOT_FOR_INIT = ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe")
_NO_SIDECARS = "sidecar init containers (restartPolicy Always) are not supported by this stowage release"


def validate_pod(pod: Obj) -> list[Cause]:
    causes: list[Cause] = []
    spec = pod.get("spec") or {}
    containers = spec.get("containers") or []
    if not containers:
        causes.append(Cause("FieldValueRequired", "Required value", "spec.containers"))
    seen: set[str] = set()
    for group in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(group) or []):
            causes.extend(_validate_container(c, f"spec.{group}[{i}]", seen))
            if group == "initContainers":
                for member in _NOT_FOR_INIT:
                    if c.get(member) is not None:
                        field = f"spec.{group}[{i}].{member}"
                        causes.append(
                            Cause("FieldValueForbidden", "may not be set for init containers", field)
                        )
                if c.get("restartPolicy") is not None:
                    causes.append(
                        Cause("FieldValueNotSupported", _NO_SIDECARS, f"spec.{group}[{i}].restartPolicy")
                    )
    causes.extend(pod_volumes.validate_volumes(pod))
    causes.extend(pod_lifecycle.validate_probes(pod))
    causes.extend(taints.validate_tolerations(pod))
    policy = (pod.get("spec") or {}).get("restartPolicy")
    if policy not in (None, "Always", "OnFailure", "Never"):
        causes.append(Cause("FieldValueNotSupported", f'Unsupported value: "{policy}"', "spec.restartPolicy"))
    return causes


def _validate_container(c: Mapping[str, Any], field: str, seen: set[str]) -> list[Cause]:
    """Name (unique among init and app containers), image, resource quantities."""
    causes: list[Cause] = []
    name = str(c.get("name") or "")
    if not name:
        causes.append(Cause("FieldValueRequired", "Required value", f"{field}.name"))
    elif name in seen:
        causes.append(Cause("FieldValueDuplicate", f'Duplicate value: "{name}"', f"{field}.name"))
    seen.add(name)
    if not c.get("image"):
        causes.append(Cause("FieldValueRequired", "Required value", f"{field}.image"))
    for kind in ("requests", "limits"):
        for res, value in ((c.get("resources") or {}).get(kind) or {}).items():
            try:
                cpu_units(value) if res == "cpu" else memory_mib(value)
            except QuantityError as exc:
                causes.append(Cause("FieldValueInvalid", str(exc), f"{field}.resources.{kind}.{res}"))
    return causes


# -- identity --------------------------------------------------------------------------------
def meta(pod: Mapping[str, Any]) -> Obj:
    return dict(pod.get("metadata") or {})


def task_id_of(uid: str) -> str:
    """The task id of a pod: its uid's 32 hex digits (ECS's task id format)."""
    return uid.replace("-", "").lower()


def family_of(namespace: str, name: str) -> str:
    """The (unregistered) task definition family a pod's task shows: ``k8s-<ns>-<name>``."""
    return f"k8s-{namespace}-{name}".replace(".", "_")[:255]


def group_of(pod: Mapping[str, Any]) -> str:
    """The task group: the pod's controller (a ReplicaSet's pods spread like a service's
    tasks), else the pod itself."""
    m = meta(pod)
    ns = m.get("namespace", "")
    for ref in m.get("ownerReferences") or []:
        if ref.get("controller"):
            return f"{POD_GROUP_PREFIX}{str(ref.get('kind', '')).lower()}/{ns}/{ref.get('name')}"
    return f"{POD_GROUP_PREFIX}pod/{ns}/{m.get('name')}"


def log_group(cluster: str, namespace: str) -> str:
    return f"{LOG_GROUP_PREFIX}{cluster}/{namespace}"


def log_stream(pod_name: str, container: str, task_id: str) -> str:
    """awslogs' ``prefix/container/task-id`` with the pod name as the prefix."""
    return f"{pod_name}/{container}/{task_id}"


# -- what a pod needs ------------------------------------------------------------------------
def needs_of(pod: Mapping[str, Any]) -> Needs:
    """The sum of the containers' requests, or the biggest init container's if larger
    (awsvpc: no host ports)."""
    cpu = memory = 0
    for c in (pod.get("spec") or {}).get("containers") or []:
        res = c.get("resources") or {}
        requests = {**(res.get("limits") or {}), **(res.get("requests") or {})}
        if requests.get("cpu") is not None:
            cpu += cpu_units(requests["cpu"])
        if requests.get("memory") is not None:
            memory += memory_mib(requests["memory"])
    return init_containers.needs(pod, Needs(cpu, memory))


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a pod may go: ``node`` (``spec.nodeName``) and a memberOf expression."""

    node: str | None
    expression: str | None


# Well-known node labels and the ECS attribute (or field) each stands for.
_LABEL_SUBJECTS = {
    "kubernetes.io/hostname": "ec2InstanceId",
    "topology.kubernetes.io/zone": "attribute:ecs.availability-zone",
    "failure-domain.beta.kubernetes.io/zone": "attribute:ecs.availability-zone",
    "kubernetes.io/os": "attribute:ecs.os-type",
    "kubernetes.io/arch": "attribute:ecs.cpu-architecture",
    "node.kubernetes.io/instance-type": "attribute:ecs.instance-type",
}
ARCH_TO_K8S = {"x86_64": "amd64", "arm64": "arm64"}
_ARCH_TO_ECS = {v: k for k, v in ARCH_TO_K8S.items()}


def _quote(value: str) -> str:
    return "'" + value.replace("'", "") + "'"


def placement_of(pod: Mapping[str, Any]) -> Placement:
    """``nodeSelector`` and required node affinity (``In``/``NotIn``/``Exists``/
    ``DoesNotExist`` on labels) as an ECS cluster query."""
    spec = pod.get("spec") or {}
    terms: list[str] = []
    for key, value in (spec.get("nodeSelector") or {}).items():
        terms.append(_label_term(str(key), "In", [str(value)]))
    affinity = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    alternatives: list[str] = []
    for term in affinity.get("nodeSelectorTerms") or []:
        parts = [
            _label_term(str(e.get("key")), str(e.get("operator")), [str(v) for v in e.get("values") or []])
            for e in term.get("matchExpressions") or []
        ]
        if parts:
            alternatives.append("(" + " and ".join(parts) + ")")
    if alternatives:
        terms.append("(" + " or ".join(alternatives) + ")")
    node = spec.get("nodeName") or None
    return Placement(str(node) if node else None, " and ".join(terms) if terms else None)


def _label_term(key: str, op: str, values: list[str]) -> str:
    subject = _LABEL_SUBJECTS.get(key, f"attribute:{key}")
    if key == "kubernetes.io/os":
        values = [v.lower() for v in values]
    if key == "kubernetes.io/arch":
        values = [_ARCH_TO_ECS.get(v, v) for v in values]
    quoted = "[" + ", ".join(_quote(v) for v in values) + "]"
    if op == "In":
        return f"{subject} in {quoted}"
    if op == "NotIn":
        return f"{subject} not_in {quoted}"
    if op == "Exists":
        return f"{subject} exists"
    if op == "DoesNotExist":
        return f"{subject} not_exists"
    if op in ("Gt", "Lt") and values:
        return f"{subject} {'>' if op == 'Gt' else '<'} {_quote(values[0])}"
    return "ec2InstanceId == ''"  # an operator we do not know matches no node


# -- ConfigMaps and Secrets a pod refers to ----------------------------------------------------
def references(pod: Mapping[str, Any]) -> set[tuple[str, str]]:
    """``(kind, name)`` of every ConfigMap/Secret the containers' env and envFrom read (the
    volumes': ``pod_volumes.volume_refs``)."""
    out: set[tuple[str, str]] = set()
    spec = pod.get("spec") or {}
    for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        for e in c.get("env") or []:
            source = e.get("valueFrom") or {}
            if source.get("configMapKeyRef"):
                out.add(("configmaps", str(source["configMapKeyRef"].get("name", ""))))
            if source.get("secretKeyRef"):
                out.add(("secrets", str(source["secretKeyRef"].get("name", ""))))
        for f in c.get("envFrom") or []:
            if f.get("configMapRef"):
                out.add(("configmaps", str(f["configMapRef"].get("name", ""))))
            if f.get("secretRef"):
                out.add(("secrets", str(f["secretRef"].get("name", ""))))
    return out


def object_data(kind: str, obj: Mapping[str, Any]) -> dict[str, str]:
    """A ConfigMap's data, or a Secret's data decoded."""
    if kind == "configmaps":
        return {str(k): str(v) for k, v in (obj.get("data") or {}).items()}
    out: dict[str, str] = {}
    for k, v in (obj.get("data") or {}).items():
        try:
            out[str(k)] = base64.b64decode(str(v)).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            continue
    return out


Sources = Mapping[tuple[str, str], Mapping[str, str]]
"""``(kind, name)`` → data, for the ConfigMaps and Secrets that exist."""


def _field_ref(pod: Mapping[str, Any], path: str, node: str | None) -> str:
    m = meta(pod)
    spec = pod.get("spec") or {}
    simple = {
        "metadata.name": m.get("name"),
        "metadata.namespace": m.get("namespace"),
        "metadata.uid": m.get("uid"),
        "spec.nodeName": node or spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
    }
    if path in simple:
        return str(simple[path] or "")
    for prefix, source in (("metadata.labels", "labels"), ("metadata.annotations", "annotations")):
        if path.startswith(prefix + "['") and path.endswith("']"):
            return str((m.get(source) or {}).get(path[len(prefix) + 2 : -2], ""))
    return ""  # status.podIP / status.hostIP are not known before the agent starts the pod


def _key_ref(kind: str, ref: Mapping[str, Any], sources: Sources) -> str | None:
    name, key = str(ref.get("name", "")), str(ref.get("key", ""))
    data = sources.get((kind, name))
    label = "configmap" if kind == "configmaps" else "secret"
    if data is None:
        if ref.get("optional"):
            return None
        raise PodConfigError(f'{label} "{name}" not found')
    if key not in data:
        if ref.get("optional"):
            return None
        raise PodConfigError(f"couldn't find key {key} in {label.capitalize()} {name}")
    return data[key]


def environment(
    pod: Mapping[str, Any], container: Mapping[str, Any], sources: Sources, node: str | None
) -> list[Obj]:
    """The container's environment, as the kubelet builds it: ``envFrom`` first (later
    sources win), then ``env`` (wins over envFrom); ``$(VAR)`` references expanded."""
    env: dict[str, str] = {}
    for f in container.get("envFrom") or []:
        prefix = str(f.get("prefix") or "")
        for kind, member in (("configmaps", "configMapRef"), ("secrets", "secretRef")):
            ref = f.get(member)
            if not ref:
                continue
            data = sources.get((kind, str(ref.get("name", ""))))
            if data is None:
                if ref.get("optional"):
                    continue
                label = "configmap" if kind == "configmaps" else "secret"
                raise PodConfigError(f'{label} "{ref.get("name")}" not found')
            for k, v in data.items():
                env[prefix + k] = v
    for e in container.get("env") or []:
        name = str(e.get("name", ""))
        source = e.get("valueFrom")
        if not source:
            env[name] = _expand(str(e.get("value", "")), env)
            continue
        value: str | None
        if source.get("fieldRef"):
            value = _field_ref(pod, str(source["fieldRef"].get("fieldPath", "")), node)
        elif source.get("configMapKeyRef"):
            value = _key_ref("configmaps", source["configMapKeyRef"], sources)
        elif source.get("secretKeyRef"):
            value = _key_ref("secrets", source["secretKeyRef"], sources)
        elif source.get("resourceFieldRef"):
            value = _resource_field(container, source["resourceFieldRef"])
        else:
            value = ""
        if value is not None:
            env[name] = value
    return [{"name": k, "value": v} for k, v in env.items()]


def _resource_field(container: Mapping[str, Any], ref: Mapping[str, Any]) -> str:
    kind, _, res = str(ref.get("resource", "")).partition(".")
    value = ((container.get("resources") or {}).get(kind) or {}).get(res)
    if value is None:
        return "0"
    if res == "cpu":
        return str(-(-cpu_units(value) // 1024))  # whole cores, rounded up (divisor 1)
    return str(memory_mib(value) * 2**20)


def _expand(text: str, env: Mapping[str, str]) -> str:
    """``$(VAR)`` → its value if defined before; ``$$`` → ``$``; anything else kept."""
    if "$" not in text:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("$(", i) and (end := text.find(")", i)) != -1 and text[i + 2 : end] in env:
            out.append(env[text[i + 2 : end]])
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


# -- the task definition -----------------------------------------------------------------------
def task_definition(
    pod: Mapping[str, Any],
    *,
    arn: str,
    cluster: str,
    region: str,
    sources: Sources,
    node: str | None,
) -> Obj:
    """The ECS task definition a pod runs as (not registered: embedded in its TaskSpec)."""
    m = meta(pod)
    spec = pod.get("spec") or {}
    ns, name = str(m.get("namespace", "")), str(m.get("name", ""))
    grace = int(spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS))
    inits, apps = (
        [_container(pod, c, cluster=cluster, region=region, sources=sources, node=node, grace=grace)
         for c in spec.get(group) or []]
        for group in ("initContainers", "containers")
    )  # fmt: skip
    containers = init_containers.chain(inits, apps)
    family = family_of(ns, name)
    return {
        "taskDefinitionArn": arn,
        "family": family,
        "revision": 1,
        "networkMode": "awsvpc",
        "containerDefinitions": containers,
        "volumes": pod_volumes.ecs_volumes(pod),
        "status": "ACTIVE",
        "requiresCompatibilities": ["EC2"],
        "compatibilities": ["EC2"],
    }


def _container(
    pod: Mapping[str, Any], c: Mapping[str, Any], *, cluster: str, region: str, sources: Sources,
    node: str | None, grace: int,
) -> Obj:  # fmt: skip
    m = meta(pod)
    res = c.get("resources") or {}
    requests = {**(res.get("limits") or {}), **(res.get("requests") or {})}
    limits = res.get("limits") or {}
    security = c.get("securityContext") or {}
    out: Obj = {
        "name": c["name"],
        "image": c["image"],
        "essential": True,
        "environment": environment(pod, c, sources, node),
        "portMappings": [
            {"containerPort": int(p["containerPort"]), "protocol": str(p.get("protocol", "TCP")).lower()}
            for p in c.get("ports") or []
            if p.get("containerPort")
        ],
        "stopTimeout": max(0, min(grace, MAX_STOP_TIMEOUT)),
        "dockerLabels": {
            "io.kubernetes.pod.name": str(m.get("name", "")),
            "io.kubernetes.pod.namespace": str(m.get("namespace", "")),
            "io.kubernetes.pod.uid": str(m.get("uid", "")),
            "io.kubernetes.container.name": str(c["name"]),
        },
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": log_group(cluster, str(m.get("namespace", ""))),
                "awslogs-stream-prefix": str(m.get("name", "")),
                "awslogs-region": region,
                "awslogs-create-group": "true",
            },
        },
    }
    mounts = pod_volumes.mount_points(pod, c)
    if mounts:
        out["mountPoints"] = mounts
    if c.get("command"):
        out["entryPoint"] = [str(x) for x in c["command"]]
    if c.get("args"):
        out["command"] = [str(x) for x in c["args"]]
    if requests.get("cpu") is not None:
        out["cpu"] = cpu_units(requests["cpu"])
    if requests.get("memory") is not None:
        out["memoryReservation"] = memory_mib(requests["memory"])
    if limits.get("memory") is not None:
        out["memory"] = max(memory_mib(limits["memory"]), out.get("memoryReservation", 0))
    if c.get("workingDir"):
        out["workingDirectory"] = str(c["workingDir"])
    if security.get("privileged"):
        out["privileged"] = True
    if security.get("runAsUser") is not None:
        group = security.get("runAsGroup")
        out["user"] = str(security["runAsUser"]) + (f":{group}" if group is not None else "")
    if security.get("readOnlyRootFilesystem"):
        out["readonlyRootFilesystem"] = True
    if c.get("tty"):
        out["pseudoTerminal"] = True
    if c.get("stdin"):
        out["interactive"] = True
    return out


def with_node(pod: Obj, node: str) -> Obj:
    """The pod bound to ``node`` (what the scheduler's Binding does)."""
    new = copy.deepcopy(pod)
    new.setdefault("spec", {})["nodeName"] = node
    return new
