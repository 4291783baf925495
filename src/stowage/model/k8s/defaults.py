"""Defaulting, pure: the values a Kubernetes 1.32 API server fills in when an object is written
(and when it is read back from storage), per served ``apiVersion`` and kind, declared as tables.

A table is a tuple of rules applied to an object, each relative to the node it is given:

- ``Fill(path, value)``: set ``path`` (dotted; missing objects on the way are created) when it
  is unset: absent or null, ``""`` (Go's zero string, what upstream tests), or with
  ``zero=True`` an integer 0 too (probe thresholds, a Service port's ``targetPort``). ``value``
  is a constant (copied) or ``Compute(fn)`` of the node (``imagePullPolicy`` from the image);
  ``when`` limits the rule to nodes it holds for.
- ``Within(path, rules)``: the rules on the object at ``path`` if there is one (``create=True``:
  make it, for the members upstream declares as non-pointer structs, e.g. a template's spec).
- ``Each(path, rules)``: the rules on every object of the list at ``path``.
- ``Call(fn)``: what a table cannot say (a Pod's requests copied from its limits).

The tables follow upstream's ``SetDefaults_*`` functions and the generated defaulters that
walk into nested types (``pkg/apis/{core,apps,batch}/v1``): a pod template gets the PodSpec,
Container, Volume and Probe defaults; a Pod gets those plus the Pod-only ones
(``enableServiceLinks``, requests from limits, host ports under ``hostNetwork``). What
admission adds to pods (service account, default tolerations, priority) and what a kind's
strategy generates (a Job's selector, a Service's cluster IP and IP families, a Namespace's
``kubernetes`` finalizer) is not defaulting: it stays with the kind's ``prepare`` hook.

Every rule only fills what is unset, so applying a table twice changes nothing: the API layer
applies it on create, on every update (PUT, patches, apply) and on every read.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from stowage.model.k8s.pod_volumes import DEFAULT_MODE

Obj = dict[str, Any]

MAX_INT32 = 2**31 - 1
TOKEN_EXPIRATION_SECONDS = 3600


@dataclass(frozen=True)
class Compute:
    """A default computed from the node the rule applies to (None: leave the field unset)."""

    fn: Callable[[Obj], Any]


@dataclass(frozen=True)
class Fill:
    path: str
    value: Any
    zero: bool = False
    when: Callable[[Obj], bool] | None = None


@dataclass(frozen=True)
class Within:
    path: str
    rules: tuple[Rule, ...]
    create: bool = False
    when: Callable[[Obj], bool] | None = None


@dataclass(frozen=True)
class Each:
    path: str
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class Call:
    fn: Callable[[Obj], None]


Rule = Fill | Within | Each | Call


# -- the engine ------------------------------------------------------------------------------------
def _walk(node: Obj, parts: list[str], create: bool) -> Obj | None:
    for part in parts:
        child = node.get(part)
        if child is None and create:
            child = node[part] = {}
        if not isinstance(child, dict):
            return None  # absent, or not an object: validation reports a wrong type
        node = child
    return node


def _unset(value: Any, zero: bool) -> bool:
    if value is None or value == "":
        return True
    return zero and isinstance(value, int) and not isinstance(value, bool) and value == 0


def _fill(rule: Fill, node: Obj) -> None:
    if rule.when is not None and not rule.when(node):
        return
    *parents, key = rule.path.split(".")
    parent = _walk(node, parents, create=True)
    if parent is None or not _unset(parent.get(key), rule.zero):
        return
    value = rule.value.fn(node) if isinstance(rule.value, Compute) else copy.deepcopy(rule.value)
    if value is not None:
        parent[key] = value


def apply(rules: tuple[Rule, ...], node: Obj) -> None:
    """Apply a table to ``node`` (in place)."""
    for rule in rules:
        if isinstance(rule, Fill):
            _fill(rule, node)
        elif isinstance(rule, Within):
            if rule.when is not None and not rule.when(node):
                continue
            inner = _walk(node, rule.path.split("."), rule.create)
            if inner is not None:
                apply(rule.rules, inner)
        elif isinstance(rule, Each):
            items = _walk_list(node, rule.path)
            for item in items:
                if isinstance(item, dict):
                    apply(rule.rules, item)
        else:
            rule.fn(node)


def _walk_list(node: Obj, path: str) -> list[Any]:
    *parents, key = path.split(".")
    parent = _walk(node, parents, create=False)
    items = parent.get(key) if parent is not None else None
    return items if isinstance(items, list) else []


# -- containers -------------------------------------------------------------------------------------
def pull_policy(image: str) -> str:
    """``Always`` when the image's tag is ``latest`` (given, or implied by having neither tag
    nor digest), else ``IfNotPresent`` (upstream's ``ParseImageName``; an unparsable image,
    e.g. an empty one, has no tag)."""
    if not image or any(ch.isspace() for ch in image):
        return "IfNotPresent"
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]  # a registry's ":port" is not a tag
    tag = last.partition(":")[2]
    if not tag and not digest:
        tag = "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


_HTTP_GET = (Fill("path", "/"), Fill("scheme", "HTTP"))
_PROBE = (
    Fill("timeoutSeconds", 1, zero=True),
    Fill("periodSeconds", 10, zero=True),
    Fill("successThreshold", 1, zero=True),
    Fill("failureThreshold", 3, zero=True),
    Within("httpGet", _HTTP_GET),
    Within("grpc", (Fill("service", ""),)),
)
_FIELD_REF = (Fill("apiVersion", "v1"),)

CONTAINER: tuple[Rule, ...] = (
    Fill("imagePullPolicy", Compute(lambda c: pull_policy(str(c.get("image") or "")))),
    Fill("terminationMessagePath", "/dev/termination-log"),
    Fill("terminationMessagePolicy", "File"),
    Fill("resources", {}),  # a non-pointer struct upstream: always there, `{}` when empty
    Each("ports", (Fill("protocol", "TCP"),)),
    Each("env", (Within("valueFrom.fieldRef", _FIELD_REF),)),
    Within("livenessProbe", _PROBE),
    Within("readinessProbe", _PROBE),
    Within("startupProbe", _PROBE),
    Within("lifecycle.postStart.httpGet", _HTTP_GET),
    Within("lifecycle.preStop.httpGet", _HTTP_GET),
)


# -- volumes ----------------------------------------------------------------------------------------
def _empty_dir_when_sourceless(volume: Obj) -> None:
    """A volume that names no source is an emptyDir."""
    if not any(value is not None for key, value in volume.items() if key != "name"):
        volume["emptyDir"] = {}


_MODE = (Fill("defaultMode", DEFAULT_MODE),)  # 0644 (420) for all four file sources
_DOWNWARD_ITEMS = Each("items", (Within("fieldRef", _FIELD_REF),))

VOLUME: tuple[Rule, ...] = (
    Call(_empty_dir_when_sourceless),
    Within("hostPath", (Fill("type", ""),)),
    Within("secret", _MODE),
    Within("configMap", _MODE),
    Within("downwardAPI", (*_MODE, _DOWNWARD_ITEMS)),
    Within(
        "projected",
        (
            *_MODE,
            Each(
                "sources",
                (
                    Within("downwardAPI", (_DOWNWARD_ITEMS,)),
                    Within("serviceAccountToken", (Fill("expirationSeconds", TOKEN_EXPIRATION_SECONDS),)),
                ),
            ),
        ),
    ),
    Within("ephemeral.volumeClaimTemplate.spec", (Fill("volumeMode", "Filesystem"),)),
)


# -- pod specs, templates, pods -------------------------------------------------------------------
POD_SPEC: tuple[Rule, ...] = (
    Fill("dnsPolicy", "ClusterFirst"),
    Fill("restartPolicy", "Always"),
    Fill("securityContext", {}),
    Fill("terminationGracePeriodSeconds", 30),
    Fill("schedulerName", "default-scheduler"),
    Each("volumes", VOLUME),
    Each("initContainers", CONTAINER),
    Each("containers", CONTAINER),
    Each("ephemeralContainers", CONTAINER),
)

POD_TEMPLATE: tuple[Rule, ...] = (Within("spec", POD_SPEC, create=True),)


def _requests_from_limits(spec: Obj) -> None:
    """A Pod's container without a request for a resource it limits requests the limit (a
    Pod rule only: templates keep what they say)."""
    for group in ("initContainers", "containers"):
        for c in _walk_list(spec, group):
            resources = c.get("resources") if isinstance(c, dict) else None
            if not isinstance(resources, dict) or not isinstance(resources.get("limits"), dict):
                continue
            limits = resources["limits"]
            requests = resources.get("requests")
            if requests is None and limits:
                requests = resources["requests"] = {}
            if isinstance(requests, dict):
                for name, value in limits.items():
                    requests.setdefault(name, value)


def _host_network_ports(spec: Obj) -> None:
    """With the host's network, a container port is also the host port."""
    if spec.get("hostNetwork") is not True:
        return
    for group in ("initContainers", "containers"):
        for c in _walk_list(spec, group):
            ports = c.get("ports") if isinstance(c, dict) else None
            for port in ports if isinstance(ports, list) else []:
                held = isinstance(port, dict) and not _unset(port.get("hostPort"), zero=True)
                if isinstance(port, dict) and not held and port.get("containerPort") is not None:
                    port["hostPort"] = port["containerPort"]


POD: tuple[Rule, ...] = (
    Within(
        "spec",
        (
            *POD_SPEC,
            Call(_requests_from_limits),
            Fill("enableServiceLinks", True),
            Call(_host_network_ports),
        ),
        create=True,
    ),
)


# -- apps/v1 ----------------------------------------------------------------------------------------
def _rolling(spec: Obj) -> bool:
    return (spec.get("strategy") or {}).get("type") == "RollingUpdate"


DEPLOYMENT: tuple[Rule, ...] = (
    Within(
        "spec",
        (
            Fill("replicas", 1),
            Fill("strategy.type", "RollingUpdate"),
            Fill("strategy.rollingUpdate.maxUnavailable", "25%", when=_rolling),
            Fill("strategy.rollingUpdate.maxSurge", "25%", when=_rolling),
            Fill("revisionHistoryLimit", 10),
            Fill("progressDeadlineSeconds", 600),
            Within("template", POD_TEMPLATE, create=True),
        ),
        create=True,
    ),
)

REPLICASET: tuple[Rule, ...] = (
    Within("spec", (Fill("replicas", 1), Within("template", POD_TEMPLATE, create=True)), create=True),
)


# -- batch/v1 ---------------------------------------------------------------------------------------
def _job_counts(spec: Obj) -> None:
    """Neither ``completions`` nor ``parallelism``: one pod, once. ``parallelism`` alone: a
    work queue, ``completions`` stays unset."""
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    if spec.get("parallelism") is None:
        spec["parallelism"] = 1


def _backoff_limit(spec: Obj) -> int:
    """6 retries; unlimited at the Job level when each index has its own limit."""
    return MAX_INT32 if spec.get("backoffLimitPerIndex") is not None else 6


def _replacement_policy(spec: Obj) -> str:
    """With a pod failure policy a pod is replaced only once it has failed (fully stopped)."""
    return "Failed" if spec.get("podFailurePolicy") is not None else "TerminatingOrFailed"


JOB: tuple[Rule, ...] = (
    Within(
        "spec",
        (
            Call(_job_counts),
            Fill(
                "backoffLimit",
                Compute(lambda s: MAX_INT32 if s.get("backoffLimitPerIndex") is not None else 6),
            ),
            Fill("completionMode", "NonIndexed"),
            Fill("suspend", False),
            Fill(
                "podReplacementPolicy",
                Compute(
                    lambda s: "Failed" if s.get("podFailurePolicy") is not None else "TerminatingOrFailed"
                ),
            ),
            Fill("manualSelector", False),
            Within("template", POD_TEMPLATE, create=True),
        ),
        create=True,
    ),
)


# -- core/v1 services, namespaces, secrets ------------------------------------------------------------
def _service_type_in(*types: str) -> Callable[[Obj], bool]:
    return lambda spec: spec.get("type") in types


_WITH_CLUSTER_IP = ("ClusterIP", "NodePort", "LoadBalancer")


def _affinity_config(spec: Obj) -> None:
    """No session affinity: no affinity config. ClientIP: a 3-hour timeout unless given."""
    if spec.get("sessionAffinity") == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec.get("sessionAffinity") == "ClientIP":
        timeout = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}).get("timeoutSeconds")
        if timeout is None:
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": 10800}}


SERVICE: tuple[Rule, ...] = (
    Within(
        "spec",
        (
            Fill("sessionAffinity", "None"),
            Call(_affinity_config),
            Fill("type", "ClusterIP"),
            Each(
                "ports",
                (
                    Fill("protocol", "TCP"),
                    Fill("targetPort", Compute(lambda p: p.get("port")), zero=True),
                ),
            ),
            # upstream also gives it to a ClusterIP service with externalIPs; stowage's
            # validation (like older API servers) allows it on NodePort and LoadBalancer only
            Fill("externalTrafficPolicy", "Cluster", when=_service_type_in("NodePort", "LoadBalancer")),
            Fill(
                "internalTrafficPolicy",
                "Cluster",
                when=_service_type_in("ClusterIP", "NodePort", "LoadBalancer"),
            ),
            Fill("allocateLoadBalancerNodePorts", True, when=_service_type_in("LoadBalancer")),
        ),
        create=True,
    ),
)


def _namespace_name_label(ns: Obj) -> None:
    """Every named Namespace carries ``kubernetes.io/metadata.name: <name>`` (always reset)."""
    meta = ns.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not name or not isinstance(meta, dict):
        return
    labels = meta.get("labels")
    if not isinstance(labels, dict):
        labels = meta["labels"] = {}
    labels["kubernetes.io/metadata.name"] = name


NAMESPACE: tuple[Rule, ...] = (Call(_namespace_name_label), Fill("status.phase", "Active"))
SECRET: tuple[Rule, ...] = (Fill("type", "Opaque"),)


# -- the table --------------------------------------------------------------------------------------
TABLE: Mapping[tuple[str, str], tuple[Rule, ...]] = {
    ("v1", "Pod"): POD,
    ("v1", "Service"): SERVICE,
    ("v1", "Namespace"): NAMESPACE,
    ("v1", "Secret"): SECRET,
    ("apps/v1", "Deployment"): DEPLOYMENT,
    ("apps/v1", "ReplicaSet"): REPLICASET,
    ("batch/v1", "Job"): JOB,
}
"""By served ``(apiVersion, kind)``. Kinds absent here have no defaults in 1.32 (ConfigMap's
empty ``data`` is omitted when serialized; PodDisruptionBudget and Event have none) or keep
their own (HorizontalPodAutoscaler: ``model/k8s/hpa_spec``)."""


def default_object(api_version: str, kind: str, obj: Obj) -> None:
    """Fill in ``obj``'s defaults (in place) as the API server serving ``api_version`` does."""
    rules = TABLE.get((api_version, kind))
    if rules is not None and isinstance(obj, dict):
        apply(rules, obj)


def default_pod_template(template: Obj) -> None:
    """A pod template's defaults (a Deployment's, ReplicaSet's or Job's ``spec.template``)."""
    apply(POD_TEMPLATE, template)
