"""EKS Fargate profiles, pure: the record, its checks, and which profile a pod matches.

A profile is immutable once created: at most 5 selectors, each a namespace (``*`` and ``?``
wildcards, as EKS allows) and up to 5 labels that must all be on the pod. When several profiles
match, the pod's ``eks.amazonaws.com/fargate-profile`` label picks one; otherwise the first by
name (EKS picks one at random; a fixed order is easier to reason about).
"""

from __future__ import annotations

import fnmatch
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

Doc = dict[str, Any]

PROFILE_LABEL = "eks.amazonaws.com/fargate-profile"
CREATING, ACTIVE, DELETING = "CREATING", "ACTIVE", "DELETING"
MAX_SELECTORS = 5
MAX_LABELS = 5


class Invalid(ValueError):
    """InvalidParameterException with this message."""


def profile_arn(region: str, account: str, cluster: str, name: str) -> str:
    suffix = "-".join(secrets.token_hex(n) for n in (4, 2, 2, 2, 6))
    return f"arn:aws:eks:{region}:{account}:fargateprofile/{cluster}/{name}/{suffix}"


def check_selectors(selectors: Iterable[Mapping[str, Any]]) -> list[Doc]:
    out = []
    for s in selectors:
        namespace = str(s.get("namespace") or "")
        if not namespace:
            raise Invalid("Fargate profile selectors must have a namespace")
        labels = dict(s.get("labels") or {})
        if len(labels) > MAX_LABELS:
            raise Invalid(f"A Fargate profile selector can have at most {MAX_LABELS} labels")
        out.append({"namespace": namespace, "labels": labels})
    if not out:
        raise Invalid("A Fargate profile needs at least one selector")
    if len(out) > MAX_SELECTORS:
        raise Invalid(f"A Fargate profile can have at most {MAX_SELECTORS} selectors")
    return out


def new_profile(
    params: Mapping[str, Any], *, cluster: Mapping[str, Any], account: str, region: str, now: float
) -> Doc:
    name, cluster_name = str(params["fargateProfileName"]), str(cluster["name"])
    subnets = list(params.get("subnets") or (cluster.get("resourcesVpcConfig") or {}).get("subnetIds") or [])
    return {
        "fargateProfileName": name,
        "fargateProfileArn": profile_arn(region, account, cluster_name, name),
        "clusterName": cluster_name,
        "createdAt": now,
        "podExecutionRoleArn": str(params["podExecutionRoleArn"]),
        "subnets": subnets,
        "selectors": check_selectors(params.get("selectors") or []),
        "status": CREATING,
        "tags": dict(params.get("tags") or {}),
        "health": {"issues": []},
        "_token": params.get("clientRequestToken"),
    }


def matches(profile: Mapping[str, Any], namespace: str, labels: Mapping[str, str]) -> bool:
    for s in profile.get("selectors") or []:
        if not fnmatch.fnmatchcase(namespace, str(s["namespace"])):
            continue
        if all(labels.get(k) == v for k, v in (s.get("labels") or {}).items()):
            return True
    return False


def pick(profiles: Iterable[Mapping[str, Any]], namespace: str, labels: Mapping[str, str]) -> Doc | None:
    """The ACTIVE profile a pod runs under, or None (it runs on nodes)."""
    live = sorted(
        (p for p in profiles if p.get("status") == ACTIVE and matches(p, namespace, labels)),
        key=lambda p: str(p["fargateProfileName"]),
    )
    wanted = labels.get(PROFILE_LABEL)
    if wanted is not None:
        return next((dict(p) for p in live if p["fargateProfileName"] == wanted), None)
    return dict(live[0]) if live else None


def render(doc: Mapping[str, Any]) -> Doc:
    return {k: v for k, v in doc.items() if not k.startswith("_")}
