"""Discovery documents: ``/version``, ``/api``, ``/apis``, ``/api/v1``, ``/apis/<g>/<v>``, and
aggregated discovery (``apidiscovery.k8s.io/v2``, one round trip for kubectl ≥ 1.30)."""

from __future__ import annotations

from typing import Any

from stowage.api.k8s.registry import Registry, ResourceType

Obj = dict[str, Any]

KUBE_VERSION = (1, 32, 4)
AGGREGATED_CONTENT_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def version_info(platform: str = "linux/amd64") -> Obj:
    major, minor, patch = KUBE_VERSION
    return {
        "major": str(major),
        "minor": str(minor),
        "gitVersion": f"v{major}.{minor}.{patch}-stowage",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.23.0",
        "compiler": "gc",
        "platform": platform,
    }


def wants_aggregated(accept: str) -> str | None:
    for part in accept.split(","):
        if "as=APIGroupDiscoveryList" in part and "g=apidiscovery.k8s.io" in part:
            return "v2" if "v=v2;" in part + ";" and "v2beta1" not in part else "v2beta1"
    return None


def _resource_entries(rt: ResourceType) -> list[Obj]:
    main: Obj = {
        "name": rt.plural,
        "singularName": rt.singular_name,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        main["shortNames"] = list(rt.short_names)
    if rt.categories:
        main["categories"] = list(rt.categories)
    out = [main]
    for sub in rt.subresources:
        entry: Obj = {
            "name": f"{rt.plural}/{sub.name}",
            "singularName": "",
            "namespaced": rt.namespaced,
            "kind": sub.kind,
            "verbs": list(sub.verbs),
        }
        if sub.group:
            entry["group"], entry["version"] = sub.group, sub.version
        out.append(entry)
    return out


def resource_list(registry: Registry, group: str, version: str) -> Obj:
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": [e for rt in registry.in_version(group, version) for e in _resource_entries(rt)],
    }


def core_versions(host: str) -> Obj:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
    }


def _group(name: str, versions: list[str]) -> Obj:
    gv = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": gv, "preferredVersion": gv[0]}


def group_list(registry: Registry) -> Obj:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group(g, vs) for g, vs in registry.groups().items()],
    }


def group(registry: Registry, name: str) -> Obj | None:
    versions = registry.groups().get(name)
    return None if versions is None else {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)}


def _aggregated_resource(rt: ResourceType) -> Obj:
    out: Obj = {
        "resource": rt.plural,
        "responseKind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
        "scope": "Namespaced" if rt.namespaced else "Cluster",
        "singularResource": rt.singular_name,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        out["shortNames"] = list(rt.short_names)
    if rt.categories:
        out["categories"] = list(rt.categories)
    if rt.subresources:
        out["subresources"] = [
            {
                "subresource": s.name,
                "responseKind": {"group": s.group or rt.group, "version": s.version, "kind": s.kind},
                "verbs": list(s.verbs),
            }
            for s in rt.subresources
        ]
    return out


def aggregated(registry: Registry, core: bool, version: str) -> Obj:
    """``/api`` (core) or ``/apis`` (named groups) as an ``APIGroupDiscoveryList``."""
    groups = {"": ["v1"]} if core else registry.groups()
    items = []
    for name, versions in groups.items():
        items.append(
            {
                "metadata": {"name": name},
                "versions": [
                    {
                        "version": v,
                        "resources": [_aggregated_resource(rt) for rt in registry.in_version(name, v)],
                        "freshness": "Current",
                    }
                    for v in versions
                ],
            }
        )
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": f"apidiscovery.k8s.io/{version}",
        "metadata": {},
        "items": items,
    }
