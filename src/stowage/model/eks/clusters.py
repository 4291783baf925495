"""EKS clusters as records: the stored document (the API's ``Cluster`` shape plus private
``_``-members), its defaults and checks, and what DescribeCluster shows.

A cluster's Kubernetes API is served by stowage itself, in its own object space ``eks-<id>``,
on a TLS listener of its own: the port ``_port`` (from ``--eks-port-range``), with a serving
certificate from the cluster's own CA ``_ca`` (made at creation, kept in the record: its key
never leaves the store), so DescribeCluster's ``endpoint`` is ``https://<host>:<port>`` and its
``certificateAuthority`` that CA, as on EKS. The path ``/eks/<id>`` on the Kubernetes listener
serves the same API for compatibility (the listener's CA; clusters made before per-cluster
ports show it as their endpoint until the control plane gives them a port). Its nodes are the
container instances of the ECS cluster ``eks-<name>`` (``backing_cluster``). The id is new for
every cluster, so a cluster deleted and created again under the same name never sees the old
one's objects or serves them at the old address.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Mapping
from typing import Any

Doc = dict[str, Any]

VERSIONS = ("1.30", "1.31", "1.32")
"""The Kubernetes minor versions a cluster may run (stowage's API server serves 1.32's API)."""
DEFAULT_VERSION = VERSIONS[-1]
PLATFORM_VERSION = "eks.1"
DEFAULT_SERVICE_CIDR = "10.100.0.0/16"
LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
AUTH_MODES = ("API", "API_AND_CONFIG_MAP", "CONFIG_MAP")
DEFAULT_AUTH_MODE = "CONFIG_MAP"
"""EKS's default for clusters made through the API (the console's is API_AND_CONFIG_MAP)."""

CREATING, ACTIVE, DELETING, UPDATING, FAILED = "CREATING", "ACTIVE", "DELETING", "UPDATING", "FAILED"
ENDPOINT_PREFIX = "/eks/"

_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")


class Invalid(ValueError):
    """A parameter EKS refuses: InvalidParameterException with this message."""


def cluster_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:eks:{region}:{account}:cluster/{name}"


def new_id() -> str:
    """A cluster id as EKS's endpoint host shows it: 32 upper-case hex digits."""
    return secrets.token_hex(16).upper()


def space_of(doc: Mapping[str, Any]) -> str:
    """The Kubernetes object space (``resources/k8s_objects``) of the cluster."""
    return f"eks-{str(doc['_id']).lower()}"


def backing_cluster(name: str) -> str:
    """The ECS cluster whose container instances are the EKS cluster's nodes (agents join it
    with ``stowage agent --eks-cluster NAME``)."""
    return f"eks-{name}"


def endpoint_path(doc: Mapping[str, Any]) -> str:
    """The path of the cluster's API on the Kubernetes listener (kept for compatibility)."""
    return f"{ENDPOINT_PREFIX}{doc['_id']}"


def port_of(doc: Mapping[str, Any]) -> int | None:
    """The port of the cluster's own listener (None: a record from before per-cluster ports)."""
    port = doc.get("_port")
    return int(port) if port else None


def ca_of(doc: Mapping[str, Any]) -> tuple[bytes, bytes] | None:
    """The cluster's own CA: ``(key PEM, certificate PEM)``."""
    ca = doc.get("_ca")
    if not isinstance(ca, Mapping) or not ca.get("key") or not ca.get("cert"):
        return None
    return str(ca["key"]).encode(), str(ca["cert"]).encode()


def with_endpoint(doc: Mapping[str, Any], port: int, ca: tuple[bytes, bytes] | None = None) -> Doc:
    """The record with its listener's port (and CA, when it has none yet)."""
    out = {**doc, "_port": port}
    if ca is not None:
        out["_ca"] = {"key": ca[0].decode(), "cert": ca[1].decode()}
    return out


def endpoint_url(doc: Mapping[str, Any], host: str) -> str | None:
    """``https://<host>:<port>`` of the cluster's own listener (``host``: the Kubernetes
    listener's URL host, e.g. ``127.0.0.1`` or ``[::1]``)."""
    port = port_of(doc)
    return None if port is None else f"https://{host}:{port}"


def check_version(version: str) -> str:
    if version not in VERSIONS:
        raise Invalid(f"unsupported Kubernetes version {version}; supported versions: {', '.join(VERSIONS)}")
    return version


def check_upgrade(current: str, target: str) -> None:
    """EKS upgrades one minor version at a time and never downgrades."""
    check_version(target)
    if target == current:
        raise Invalid(f"The cluster is already at version {current}")
    cur, new = (int(v.split(".")[1]) for v in (current, target))
    if new != cur + 1:
        raise Invalid(f"Unsupported Kubernetes minor version update from {current} to {target}")


def _derived(prefix: str, *parts: str) -> str:
    """Stable fake EC2 ids (VPC, security group) derived from the cluster's identity."""
    return f"{prefix}-{hashlib.sha256('/'.join(parts).encode()).hexdigest()[:17]}"


def _vpc(params: Mapping[str, Any], key: str) -> Doc:
    vpc = params.get("resourcesVpcConfig") or {}
    subnets = list(vpc.get("subnetIds") or [])
    return {
        "subnetIds": subnets,
        "securityGroupIds": list(vpc.get("securityGroupIds") or []),
        "clusterSecurityGroupId": _derived("sg", key, "cluster"),
        "vpcId": _derived("vpc", *(subnets[:1] or [key])),
        "endpointPublicAccess": bool(vpc.get("endpointPublicAccess", True)),
        "endpointPrivateAccess": bool(vpc.get("endpointPrivateAccess", False)),
        "publicAccessCidrs": list(vpc.get("publicAccessCidrs") or ["0.0.0.0/0"]),
    }


def logging_config(params: Mapping[str, Any]) -> Doc:
    enabled: set[str] = set()
    for entry in (params.get("logging") or {}).get("clusterLogging") or []:
        types = set(entry.get("types") or [])
        if entry.get("enabled"):
            enabled |= types
        else:
            enabled -= types
    on = [t for t in LOG_TYPES if t in enabled]
    off = [t for t in LOG_TYPES if t not in enabled]
    out = []
    if on:
        out.append({"types": on, "enabled": True})
    if off:
        out.append({"types": off, "enabled": False})
    return {"clusterLogging": out}


def _access(params: Mapping[str, Any]) -> Doc:
    access = params.get("accessConfig") or {}
    return {
        "bootstrapClusterCreatorAdminPermissions": bool(
            access.get("bootstrapClusterCreatorAdminPermissions", True)
        ),
        "authenticationMode": str(access.get("authenticationMode") or DEFAULT_AUTH_MODE),
    }


def new_cluster(
    params: Mapping[str, Any], *, account: str, region: str, creator: str, now: float, cluster_id: str
) -> Doc:
    """The record of a new cluster (status CREATING) from a validated CreateCluster request.
    Raises ``Invalid`` for what the model's shapes cannot express."""
    name = str(params["name"])
    role = str(params["roleArn"])
    if not _ROLE_ARN.match(role):
        raise Invalid(f"Role ARN {role} is not a valid IAM role ARN.")
    version = check_version(str(params.get("version") or DEFAULT_VERSION))
    net = params.get("kubernetesNetworkConfig") or {}
    if net.get("ipFamily", "ipv4") != "ipv4":
        raise Invalid("ipFamily ipv6 is not supported: stowage's service network is IPv4 only")
    arn = cluster_arn(region, account, name)
    return {
        "name": name,
        "arn": arn,
        "createdAt": now,
        "version": version,
        "roleArn": role,
        "resourcesVpcConfig": _vpc(params, arn),
        "kubernetesNetworkConfig": {
            "serviceIpv4Cidr": str(net.get("serviceIpv4Cidr") or DEFAULT_SERVICE_CIDR),
            "ipFamily": "ipv4",
            "elasticLoadBalancing": {"enabled": False},
        },
        "logging": logging_config(params),
        "identity": {"oidc": {"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{cluster_id}"}},
        "status": CREATING,
        "clientRequestToken": params.get("clientRequestToken"),
        "platformVersion": PLATFORM_VERSION,
        "tags": dict(params.get("tags") or {}),
        "health": {"issues": []},
        "accessConfig": _access(params),
        "upgradePolicy": {
            "supportType": str((params.get("upgradePolicy") or {}).get("supportType") or "EXTENDED")
        },
        "deletionProtection": bool(params.get("deletionProtection", False)),
        "_id": cluster_id,
        "_creator": creator,
    }


def render(doc: Mapping[str, Any], *, host: str, base_url: str, ca_data: str) -> Doc:
    """DescribeCluster's ``cluster``: the record without private members, with the endpoint
    and CA once the control plane exists (EKS shows neither while CREATING): the cluster's own
    listener (``https://<host>:<port>``) and CA (base64 of its PEM, as EKS); for a record
    without them, the path prefix on the Kubernetes listener (``base_url``) and its CA."""
    out = {k: v for k, v in doc.items() if not k.startswith("_") and v is not None}
    if doc.get("status") == CREATING or not base_url:
        return out
    own, ca = endpoint_url(doc, host), ca_of(doc)
    if own is not None and ca is not None:
        out["endpoint"] = own
        out["certificateAuthority"] = {"data": base64.b64encode(ca[1]).decode()}
    else:
        out["endpoint"] = f"{base_url}{endpoint_path(doc)}"
        out["certificateAuthority"] = {"data": ca_data}
    return out


def same_request(doc: Mapping[str, Any], token: str | None) -> bool:
    """A CreateCluster retried with the token of the one that made ``doc``: idempotent."""
    return token is not None and doc.get("clientRequestToken") == token
