"""EKS managed node groups, pure: the record, its checks, and its status from the nodes joined.

A node group is a set of agents: ``stowage agent --eks-cluster NAME --nodegroup NG`` registers
into the cluster's ECS cluster (``clusters.backing_cluster``) with the attribute
``eks.amazonaws.com/nodegroup=NG``. Its Kubernetes labels become attributes of those instances
(so they are node labels, ``model/k8s/nodes``), kept in step by the node group controller;
so are its taints (``node_taint_attributes``: ``stowage.io/taint/<key>`` = ``<value>:<Effect>``
attributes, which ``model/k8s/taints`` turns into the nodes' taints, EKS's NO_SCHEDULE /
NO_EXECUTE / PREFER_NO_SCHEDULE becoming NoSchedule / NoExecute / PreferNoSchedule).

Status, from the connected ACTIVE instances of the group (``joined``) against
``scalingConfig.desiredSize``: CREATING until enough have joined, then ACTIVE; an ACTIVE group
with fewer than desired is DEGRADED (health issue ``NodeCreationFailure``) until they are back.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from stowage.model.k8s.taints import taint_attributes

Doc = dict[str, Any]

LABEL = "eks.amazonaws.com/nodegroup"
CAPACITY_LABEL = "eks.amazonaws.com/capacityType"
CREATING, ACTIVE, UPDATING, DELETING, DEGRADED = "CREATING", "ACTIVE", "UPDATING", "DELETING", "DEGRADED"
MAX_TAINTS = 50
DEFAULT_SCALING = {"minSize": 1, "maxSize": 2, "desiredSize": 2}
_RESERVED = ("eks.amazonaws.com/",)
_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


class Invalid(ValueError):
    """InvalidParameterException with this message."""


def nodegroup_arn(region: str, account: str, cluster: str, name: str) -> str:
    suffix = "-".join(secrets.token_hex(n) for n in (4, 2, 2, 2, 6))
    return f"arn:aws:eks:{region}:{account}:nodegroup/{cluster}/{name}/{suffix}"


def check_scaling(cfg: Mapping[str, Any]) -> Doc:
    lo, hi, want = int(cfg["minSize"]), int(cfg["maxSize"]), int(cfg["desiredSize"])
    if hi < 1:
        raise Invalid(f"Maximum capacity {hi} can't be less than 1")
    if lo > hi:
        raise Invalid(f"Minimum capacity {lo} can't be greater than maximum capacity {hi}")
    if want > hi:
        raise Invalid(f"Desired capacity {want} can't be greater than max size {hi}")
    if want < lo:
        raise Invalid(f"Desired capacity {want} can't be less than min size {lo}")
    return {"minSize": lo, "maxSize": hi, "desiredSize": want}


def check_labels(labels: Mapping[str, str]) -> dict[str, str]:
    for key, value in labels.items():
        if not _KEY.match(key) or not _VALUE.match(value):
            raise Invalid(f"Label {key}={value} is not a valid Kubernetes label")
        if key.startswith(_RESERVED):
            raise Invalid(f"Label key {key} uses a prefix reserved by EKS")
    return dict(labels)


def check_taints(taints: Iterable[Mapping[str, Any]]) -> list[Doc]:
    out = [{k: v for k, v in t.items() if v is not None} for t in taints]
    if len(out) > MAX_TAINTS:
        raise Invalid(f"A node group can have at most {MAX_TAINTS} taints")
    for t in out:
        if not t.get("key") or not _KEY.match(str(t["key"])) or not _VALUE.match(str(t.get("value", ""))):
            raise Invalid(f"Taint {t} is not a valid Kubernetes taint")
    return out


def new_nodegroup(
    params: Mapping[str, Any], *, cluster: Mapping[str, Any], account: str, region: str, now: float
) -> Doc:
    name, cluster_name = str(params["nodegroupName"]), str(cluster["name"])
    scaling = check_scaling({**DEFAULT_SCALING, **(params.get("scalingConfig") or {})})
    version = str(params.get("version") or cluster["version"])
    if version != cluster["version"]:
        raise Invalid(f"Node group version {version} must match the cluster's version {cluster['version']}")
    return {
        "nodegroupName": name,
        "nodegroupArn": nodegroup_arn(region, account, cluster_name, name),
        "clusterName": cluster_name,
        "version": version,
        "releaseVersion": str(params.get("releaseVersion") or f"{version}.0-stowage"),
        "createdAt": now,
        "modifiedAt": now,
        "status": CREATING,
        "capacityType": str(params.get("capacityType") or "ON_DEMAND"),
        "scalingConfig": scaling,
        "instanceTypes": list(params.get("instanceTypes") or ["t3.medium"]),
        "subnets": list(params["subnets"]),
        "amiType": str(params.get("amiType") or "AL2023_x86_64_STANDARD"),
        "nodeRole": str(params["nodeRole"]),
        "labels": check_labels(params.get("labels") or {}),
        "taints": check_taints(params.get("taints") or []),
        "resources": {"autoScalingGroups": [{"name": f"eks-{name}-{secrets.token_hex(8)}"}]},
        "diskSize": int(params.get("diskSize") or 20),
        "health": {"issues": []},
        "updateConfig": dict(params.get("updateConfig") or {"maxUnavailable": 1}),
        "tags": dict(params.get("tags") or {}),
        "_token": params.get("clientRequestToken"),
        "_applied": [],
    }


def node_labels(doc: Mapping[str, Any]) -> dict[str, str]:
    """What every node of the group carries (besides its own labels)."""
    return {
        **{str(k): str(v) for k, v in (doc.get("labels") or {}).items()},
        LABEL: str(doc["nodegroupName"]),
        CAPACITY_LABEL: str(doc.get("capacityType") or "ON_DEMAND"),
    }


EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}
"""EKS's taint effect names and Kubernetes' own."""


def node_taint_attributes(doc: Mapping[str, Any]) -> dict[str, str]:
    """The group's taints as the instance attributes that put them on its nodes
    (``model/k8s/taints.attribute_taints``)."""
    return taint_attributes(
        {"key": t["key"], "value": t.get("value") or "", "effect": EFFECTS.get(str(t.get("effect")), "")}
        for t in doc.get("taints") or []
        if t.get("key")
    )


def with_config(doc: Mapping[str, Any], change: Mapping[str, Any]) -> Doc:
    """``doc`` after an UpdateNodegroupConfig's change (labels, taints, scaling)."""
    out = dict(doc)
    labels = change.get("labels") or {}
    if labels:
        merged = {**out.get("labels", {}), **(labels.get("addOrUpdateLabels") or {})}
        for key in labels.get("removeLabels") or []:
            merged.pop(key, None)
        out["labels"] = merged
    taints = change.get("taints") or {}
    if taints:
        current = {t["key"]: t for t in out.get("taints") or []}
        for t in taints.get("addOrUpdateTaints") or []:
            current[t["key"]] = t
        for t in taints.get("removeTaints") or []:
            current.pop(t["key"], None)
        out["taints"] = list(current.values())
    if change.get("scalingConfig"):
        out["scalingConfig"] = {**out["scalingConfig"], **change["scalingConfig"]}
    return out


def status_for(doc: Mapping[str, Any], joined: int) -> tuple[str, Doc]:
    """The status and health for ``joined`` nodes, from the current status."""
    desired = int(doc["scalingConfig"]["desiredSize"])
    status = str(doc.get("status"))
    if joined >= desired:
        return ACTIVE, {"issues": []}
    if status == CREATING:
        return CREATING, {"issues": []}
    missing = desired - joined
    issue = {
        "code": "NodeCreationFailure",
        "message": f"{missing} of {desired} desired nodes have not joined the cluster",
        "resourceIds": [],
    }
    return DEGRADED, {"issues": [issue]}


def render(doc: Mapping[str, Any]) -> Doc:
    return {k: v for k, v in doc.items() if not k.startswith("_")}
