"""Service and Endpoints (core/v1) and EndpointSlice (discovery.k8s.io/v1): their declarations,
with the API server's table columns and defaults/validation (``model/k8s/services``).

What allocates cluster IPs and node ports is ``service_alloc.py``; what fills Endpoints and
EndpointSlices is ``controllers/k8s/endpoints.py``; what opens node ports on the host is
``controllers/k8s/nodeports.py``.
"""

from __future__ import annotations

from typing import Any

from stowage.api.k8s.columns import AGE, NAME
from stowage.api.k8s.registry import Column, ResourceType, Subresource
from stowage.model.k8s import services as sv
from stowage.model.k8s.endpoints import format_endpoints, format_slice_endpoints, format_slice_ports
from stowage.model.k8s.errors import Cause

Obj = dict[str, Any]

ADDRESS_TYPES = ("FQDN", "IPv4", "IPv6")


def _cluster_ip(o: Obj, _: float) -> str:
    ips = sv.spec_of(o).get("clusterIPs") or []
    return str(ips[0]) if ips else "<none>"


def _lb_ingress(o: Obj, wide: bool) -> list[str]:
    ingress = ((o.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    found = [str(i.get("ip") or i.get("hostname") or "") for i in ingress if i.get("ip") or i.get("hostname")]
    text = ",".join(found)
    if text and not wide and len(text) > 16:
        return [text[:13] + "..."]
    return found


def _external_ip(o: Obj, _: float) -> str:
    """kubectl's EXTERNAL-IP: externalIPs; for a LoadBalancer with no ingress yet ``<pending>``."""
    spec = sv.spec_of(o)
    kind = sv.service_type(o)
    external = [str(ip) for ip in spec.get("externalIPs") or []]
    if kind in (sv.CLUSTER_IP, sv.NODE_PORT):
        return ",".join(external) or "<none>"
    if kind == sv.LOAD_BALANCER:
        return ",".join([*external, *_lb_ingress(o, False)]) or "<pending>"
    if kind == sv.EXTERNAL_NAME:
        return str(spec.get("externalName") or "")
    return "<unknown>"


def ports_text(o: Obj, _: float = 0.0) -> str:
    """kubectl's PORT(S): ``80/TCP``, ``80:31234/TCP`` with a node port."""
    out = []
    for port in sv.ports_of(o):
        protocol = port.get("protocol") or "TCP"
        node_port = port.get("nodePort")
        if node_port:
            out.append(f"{port.get('port')}:{node_port}/{protocol}")
        else:
            out.append(f"{port.get('port')}/{protocol}")
    return ",".join(out) or "<none>"


def _selector(o: Obj, _: float) -> str:
    selector = sv.spec_of(o).get("selector") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or "<none>"


def _validate_endpoints(obj: Obj) -> list[Cause]:
    causes: list[Cause] = []
    for i, subset in enumerate(obj.get("subsets") or []):
        for member in ("addresses", "notReadyAddresses"):
            for j, address in enumerate(subset.get(member) or []):
                if not sv.valid_ip(address.get("ip")):
                    causes.append(sv.invalid(f"subsets[{i}].{member}[{j}].ip", address.get("ip") or "",
                                             "must be a valid IP address"))  # fmt: skip
        ports = subset.get("ports") or []
        for j, port in enumerate(ports):
            path = f"subsets[{i}].ports[{j}]"
            if len(ports) > 1 and not port.get("name"):
                causes.append(sv.required(f"{path}.name"))
            number = port.get("port")
            if not isinstance(number, int) or not 1 <= number <= 65535:
                causes.append(
                    sv.invalid(f"{path}.port", number or 0, "must be between 1 and 65535, inclusive")
                )
            protocol = port.get("protocol") or "TCP"
            if protocol not in sv.PROTOCOLS:
                causes.append(sv.not_supported(f"{path}.protocol", protocol, sv.PROTOCOLS))
    return causes


def _prepare_endpoints(obj: Obj) -> None:
    for subset in obj.get("subsets") or []:
        for port in subset.get("ports") or []:
            port.setdefault("protocol", "TCP")


def _prepare_slice(obj: Obj) -> None:
    for port in obj.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("name", "")


def _validate_slice(obj: Obj) -> list[Cause]:
    causes: list[Cause] = []
    kind = obj.get("addressType")
    if not kind:
        causes.append(sv.required("addressType"))
    elif kind not in ADDRESS_TYPES:
        causes.append(sv.not_supported("addressType", kind, ADDRESS_TYPES))
    endpoints = obj.get("endpoints") or []
    if len(endpoints) > 1000:
        causes.append(Cause("FieldValueTooMany", f"Too many: {len(endpoints)}: must have at most 1000 items",
                            "endpoints"))  # fmt: skip
    for i, endpoint in enumerate(endpoints):
        addresses = endpoint.get("addresses") or []
        if not addresses:
            causes.append(sv.required(f"endpoints[{i}].addresses", "must contain at least 1 address"))
        for j, address in enumerate(addresses):
            if kind in ("IPv4", "IPv6") and not sv.valid_ip(address):
                causes.append(
                    sv.invalid(f"endpoints[{i}].addresses[{j}]", address, "must be a valid IP address")
                )
    return causes


SERVICE = ResourceType(
    "", "v1", "services", "Service", True, "io.k8s.api.core.v1.Service",
    short_names=("svc",),
    categories=("all",),
    columns=(
        NAME,
        Column("Type", lambda o, _: sv.service_type(o), description="The type of service."),
        Column("Cluster-IP", _cluster_ip, description="The IP address of the service in the cluster."),
        Column("External-IP", _external_ip, description="External IPs of the service or its load balancer."),
        Column("Port(s)", ports_text, description="The ports of the service, with node ports."),
        AGE,
        Column("Selector", _selector, priority=1, description="The label selector of the pods it sends to."),
    ),
    fields={
        "spec.clusterIP": lambda o: str((o.get("spec") or {}).get("clusterIP") or ""),
        "spec.type": lambda o: str((o.get("spec") or {}).get("type") or "ClusterIP"),
    },
    subresources=(Subresource("status", "Service"),),
    prepare=sv.prepare_service,
    validate=sv.validate_service,
    validate_update=sv.check_update,
)  # fmt: skip

ENDPOINTS = ResourceType(
    "", "v1", "endpoints", "Endpoints", True, "io.k8s.api.core.v1.Endpoints",
    singular="endpoints",
    short_names=("ep",),
    columns=(
        NAME,
        Column("Endpoints", lambda o, _: format_endpoints(o), description="The addresses and ports behind the service."),  # noqa: E501
        AGE,
    ),
    prepare=_prepare_endpoints,
    validate=_validate_endpoints,
)  # fmt: skip

ENDPOINT_SLICE = ResourceType(
    "discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True,
    "io.k8s.api.discovery.v1.EndpointSlice",
    columns=(
        NAME,
        Column("AddressType", lambda o, _: str(o.get("addressType") or ""), description="The type of the addresses."),  # noqa: E501
        Column("Ports", lambda o, _: format_slice_ports(o.get("ports")), description="The slice's ports."),
        Column("Endpoints", lambda o, _: format_slice_endpoints(o.get("endpoints")),
               description="The addresses of the slice's endpoints."),
        AGE,
    ),
    prepare=_prepare_slice,
    validate=_validate_slice,
)  # fmt: skip

NETWORKING = (SERVICE, ENDPOINTS, ENDPOINT_SLICE)
