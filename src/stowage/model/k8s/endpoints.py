"""Which pods back a Service, pure: the Endpoints subsets and EndpointSlice contents the
endpoints controllers write, and how ``kubectl get`` prints them.

A pod counts when it has an IP, has not ended (Failed/Succeeded) and is not terminating; it is
*ready* when its Ready condition is True (or the service sets ``publishNotReadyAddresses``).
Ready pods go to ``addresses``, the others to ``notReadyAddresses``. Each service port resolves
per pod: a numeric ``targetPort`` as is, a named one through the pod's container port of that
name and protocol (a pod without it is left out for that port). Pods that resolve to the same
ports share a subset, as after the API server's ``RepackSubsets``.

EndpointSlices (discovery.k8s.io/v1) hold the same pods, terminating ones included with
``terminating: true``, one slice per distinct port set and at most 100 endpoints each.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from stowage.model.k8s.services import is_headless, ports_of

Obj = dict[str, Any]

MAX_SLICE_ENDPOINTS = 100
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"
HEADLESS_LABEL = "service.kubernetes.io/headless"

PortKey = tuple[tuple[str, int, str], ...]


def pod_ready(pod: Obj) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def _ip(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("podIP") or "")


def _live(pod: Obj) -> bool:
    return bool(_ip(pod)) and (pod.get("status") or {}).get("phase") not in ("Failed", "Succeeded")


def _terminating(pod: Obj) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def find_port(pod: Obj, service_port: Obj) -> int | None:
    """The pod's port for one service port (None: a named target the pod does not have)."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int) and not isinstance(target, bool):
        return target
    protocol = service_port.get("protocol") or "TCP"
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target and (port.get("protocol") or "TCP") == protocol:
                value = port.get("containerPort")
                return value if isinstance(value, int) else None
    return None


def _pod_ports(service: Obj, pod: Obj) -> PortKey | None:
    """The pod's resolved ports, sorted; None if the service has ports and none resolve."""
    ports = ports_of(service)
    resolved = []
    for sp in ports:
        number = find_port(pod, sp)
        if number is not None:
            resolved.append((str(sp.get("name") or ""), number, str(sp.get("protocol") or "TCP")))
    if ports and not resolved:
        return None
    return tuple(sorted(resolved))


def _address(service: Obj, pod: Obj) -> Obj:
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    address: Obj = {"ip": _ip(pod)}
    if spec.get("hostname") and spec.get("subdomain") == (service.get("metadata") or {}).get("name"):
        address["hostname"] = spec["hostname"]
    if spec.get("nodeName"):
        address["nodeName"] = spec["nodeName"]
    address["targetRef"] = {
        "kind": "Pod",
        "namespace": meta.get("namespace"),
        "name": meta.get("name"),
        "uid": meta.get("uid"),
    }
    return address


def _ip_key(ip: str) -> tuple[int, int]:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return (9, 0)
    return (addr.version, int(addr))


def endpoint_subsets(service: Obj, pods: list[Obj]) -> list[Obj]:
    """The ``subsets`` of the service's Endpoints (empty when no pod backs it)."""
    publish = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    groups: dict[PortKey, tuple[list[Obj], list[Obj]]] = {}
    for pod in pods:
        if not _live(pod) or _terminating(pod):
            continue
        key = _pod_ports(service, pod)
        if key is None:
            continue
        ready, not_ready = groups.setdefault(key, ([], []))
        (ready if publish or pod_ready(pod) else not_ready).append(_address(service, pod))
    subsets = []
    for key in sorted(groups):
        ready, not_ready = groups[key]
        subset: Obj = {}
        if ready:
            subset["addresses"] = sorted(ready, key=lambda a: _ip_key(a["ip"]))
        if not_ready:
            subset["notReadyAddresses"] = sorted(not_ready, key=lambda a: _ip_key(a["ip"]))
        if key:
            subset["ports"] = [_endpoint_port(name, port, protocol) for name, port, protocol in key]
        subsets.append(subset)
    return subsets


def _endpoint_port(name: str, port: int, protocol: str) -> Obj:
    out: Obj = {"port": port, "protocol": protocol}
    if name:
        out["name"] = name
    return out


def slice_groups(service: Obj, pods: list[Obj]) -> list[tuple[list[Obj], list[Obj]]]:
    """EndpointSlice contents: ``(ports, endpoints)`` per slice, ports in slice form."""
    publish = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    groups: dict[PortKey, list[Obj]] = {}
    for pod in pods:
        if not _live(pod):
            continue
        key = _pod_ports(service, pod)
        if key is None:
            continue
        terminating = _terminating(pod)
        serving = publish or pod_ready(pod)
        address = _address(service, pod)
        endpoint: Obj = {
            "addresses": [address["ip"]],
            "conditions": {
                "ready": serving and not terminating,
                "serving": serving,
                "terminating": terminating,
            },
            "targetRef": address["targetRef"],
        }
        if "hostname" in address:
            endpoint["hostname"] = address["hostname"]
        if "nodeName" in address:
            endpoint["nodeName"] = address["nodeName"]
        groups.setdefault(key, []).append(endpoint)
    out: list[tuple[list[Obj], list[Obj]]] = []
    for key in sorted(groups):
        ports = [{"name": name, "port": port, "protocol": protocol} for name, port, protocol in key]
        endpoints = sorted(groups[key], key=lambda e: _ip_key(e["addresses"][0]))
        for start in range(0, len(endpoints), MAX_SLICE_ENDPOINTS):
            out.append((ports, endpoints[start : start + MAX_SLICE_ENDPOINTS]))
    return out


def managed_labels(service: Obj) -> dict[str, str]:
    """Labels of the Endpoints a service gets: its own, plus the headless marker."""
    labels = {
        str(k): str(v)
        for k, v in ((service.get("metadata") or {}).get("labels") or {}).items()
        if k not in (SERVICE_NAME_LABEL, MANAGED_BY_LABEL, HEADLESS_LABEL)
    }
    if is_headless(service):
        labels[HEADLESS_LABEL] = ""
    return labels


# -- what kubectl prints -----------------------------------------------------------------------
def format_endpoints(endpoints: Obj) -> str:
    """The ENDPOINTS column: up to three ``ip:port``, then ``+ N more...``."""
    shown: list[str] = []
    total = 0
    for subset in endpoints.get("subsets") or []:
        addresses = [str(a.get("ip", "")) for a in subset.get("addresses") or []]
        ports = subset.get("ports") or []
        if not ports:
            total += len(addresses)
            shown.extend(addresses)
            continue
        for port in ports:
            total += len(addresses)
            for ip in addresses:
                host = f"[{ip}]" if ":" in ip else ip
                shown.append(f"{host}:{port.get('port')}")
    if not shown:
        return "<none>"
    text = ",".join(shown[:3])
    return f"{text} + {total - 3} more..." if total > 3 else text


def format_slice_ports(ports: list[Obj] | None) -> str:
    if not ports:
        return "<unset>"
    texts = [str(p["port"]) if p.get("port") is not None else "<unset>" for p in ports]
    return ",".join(texts[:3]) + (f" + {len(texts) - 3} more..." if len(texts) > 3 else "")


def format_slice_endpoints(endpoints: list[Obj] | None) -> str:
    addresses = [str(a) for e in endpoints or [] for a in e.get("addresses") or []]
    if not addresses:
        return "<unset>"
    return ",".join(addresses[:3]) + (f" + {len(addresses) - 3} more..." if len(addresses) > 3 else "")
