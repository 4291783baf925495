"""EKS access entries and access policies: who may use a cluster's Kubernetes API, and for what.

An access entry names an IAM principal (``principalArn``) and its Kubernetes ``username``;
access policies associated with it grant permissions, each at cluster scope or for listed
namespaces (a trailing ``*`` is a prefix, as EKS allows). The four policies stowage serves and
what they allow (stowage serves no RBAC objects, so these tables are the whole authorizer):

======================  ===================================================================
AmazonEKSClusterAdmin   everything (Kubernetes' ``cluster-admin``)
AmazonEKSAdmin          every verb on namespaced resources; read namespaces
AmazonEKSEdit           as Admin (they differ on RBAC objects, which are not served)
AmazonEKSView           get/list/watch on namespaced resources except Secrets; read namespaces
======================  ===================================================================

A namespace-scoped association allows only requests inside its namespaces (not lists across
all namespaces, nor cluster-scoped resources). With ``bootstrapClusterCreatorAdminPermissions``
the principal that created the cluster is a cluster admin: in the API modes through an access
entry made at creation (visible, removable), in CONFIG_MAP mode implicitly, as EKS does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Doc = dict[str, Any]

POLICY_PREFIX = "arn:aws:eks::aws:cluster-access-policy/"
CLUSTER_ADMIN = POLICY_PREFIX + "AmazonEKSClusterAdminPolicy"
ADMIN = POLICY_PREFIX + "AmazonEKSAdminPolicy"
EDIT = POLICY_PREFIX + "AmazonEKSEditPolicy"
VIEW = POLICY_PREFIX + "AmazonEKSViewPolicy"
POLICIES = (ADMIN, CLUSTER_ADMIN, EDIT, VIEW)
API_MODES = ("API", "API_AND_CONFIG_MAP")
ENTRY_TYPES = ("STANDARD", "EC2_LINUX", "EC2_WINDOWS", "FARGATE_LINUX", "EC2", "HYBRID_LINUX")
READ = frozenset({"get", "list", "watch"})

_PRINCIPAL = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):(root|user/[\w+=,.@/-]+|role/[\w+=,.@/-]+)$")


class Invalid(ValueError):
    """InvalidParameterException with this message."""


@dataclass(frozen=True, slots=True)
class Grant:
    policy: str
    namespaces: tuple[str, ...] | None
    """None: cluster scope."""


@dataclass(frozen=True, slots=True)
class Request:
    verb: str
    resource: str
    namespace: str
    namespaced: bool


def policy_name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def check_principal(arn: str) -> str:
    if not _PRINCIPAL.match(arn):
        raise Invalid(f"The specified principalArn is invalid: {arn}")
    return arn


def default_username(principal: str) -> str:
    """EKS's username for a STANDARD entry: the user ARN, or the role's session form."""
    m = _PRINCIPAL.match(principal)
    if m is not None and m.group(2).startswith("role/"):
        role = m.group(2).rsplit("/", 1)[-1]
        return f"arn:aws:sts::{m.group(1)}:assumed-role/{role}/{{{{SessionName}}}}"
    return principal


def check_groups(groups: Iterable[str]) -> list[str]:
    out = []
    for g in groups:
        if g.startswith("system:"):
            raise Invalid(f"The kubernetes group name {g} is invalid, it cannot start with system:")
        out.append(g)
    return out


def check_scope(scope: Mapping[str, Any]) -> Doc:
    kind = str(scope.get("type") or "")
    namespaces = [str(n) for n in scope.get("namespaces") or []]
    if kind == "cluster":
        if namespaces:
            raise Invalid("namespaces can only be specified with an access scope of type namespace")
        return {"type": "cluster", "namespaces": []}
    if not namespaces:
        raise Invalid("At least one namespace must be specified with an access scope of type namespace")
    return {"type": "namespace", "namespaces": namespaces}


def check_policy(arn: str) -> str:
    if arn not in POLICIES:
        raise Invalid(f"The specified policyArn is invalid: {arn}")
    return arn


def grant(policy: str, scope: Mapping[str, Any]) -> Grant:
    if scope.get("type") == "namespace":
        return Grant(policy, tuple(scope.get("namespaces") or ()))
    return Grant(policy, None)


def _in_scope(namespaces: tuple[str, ...] | None, request: Request) -> bool:
    if namespaces is None:
        return True
    if not request.namespaced or not request.namespace:
        return False
    return any(
        request.namespace.startswith(n[:-1]) if n.endswith("*") else request.namespace == n
        for n in namespaces
    )


def _policy_allows(policy: str, request: Request) -> bool:
    if policy == CLUSTER_ADMIN:
        return True
    if not request.namespaced:
        return request.resource == "namespaces" and request.verb in READ
    if policy in (ADMIN, EDIT):
        return True
    if policy == VIEW:
        return request.verb in READ and request.resource != "secrets"
    return False


def allows(grants: Iterable[Grant], request: Request) -> bool:
    """Whether any grant allows the request."""
    return any(_in_scope(g.namespaces, request) and _policy_allows(g.policy, request) for g in grants)
