"""Service cluster IPs and node ports, as the API server allocates them, and the ``kubernetes``
Service it keeps in ``default``.

``ServiceAllocator`` is the object service's ``Allocations`` for services: on create it fills
in ``clusterIP``/``clusterIPs`` (a random free address of the service range, or the one asked
for) and each port's ``nodePort`` (ports with the same number share one, as upstream), on
update it keeps what the new object leaves unset and claims only what is new, on delete it
frees everything. Claims are create-if-absent keys (``resources/k8s_ranges``) in the same
transaction as the Service write, so two services can never hold one value, and nothing leaks
when a write fails. Errors are the API server's 422s (``provided IP is already allocated``,
``provided port is not in the valid range. The range of valid ports is 30000-32767`` ...).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import random
from dataclasses import dataclass, field
from typing import Any

from stowage.api.k8s.objects import Claims, ObjectService
from stowage.api.k8s.registry import ResourceType
from stowage.model.k8s import errors
from stowage.model.k8s import services as sv
from stowage.model.k8s.errors import Cause, K8sError
from stowage.model.k8s.service_ranges import (
    DEFAULT_NODE_PORTS,
    DEFAULT_SERVICE_CIDR,
    IpRange,
    PortRange,
)
from stowage.resources.k8s_ranges import NODE_PORTS, SERVICE_IPS, Holder, Ranges
from stowage.store.base import Op, Store

log = logging.getLogger(__name__)

Obj = dict[str, Any]


@dataclass(frozen=True)
class ServiceNetwork:
    """The ranges a cluster allocates from (kube-apiserver's ``--service-cluster-ip-range`` and
    ``--service-node-port-range``)."""

    cluster_ips: IpRange = field(default_factory=lambda: IpRange.parse(DEFAULT_SERVICE_CIDR))
    node_ports: PortRange = field(default_factory=lambda: PortRange(*DEFAULT_NODE_PORTS))

    @classmethod
    def parse(cls, cidr: str, node_ports: str) -> ServiceNetwork:
        return cls(IpRange.parse(cidr), PortRange.parse(node_ports))


def _name(svc: Obj) -> str:
    return str((svc.get("metadata") or {}).get("name") or "")


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _holder(svc: Obj) -> Holder:
    meta = svc.get("metadata") or {}
    return Holder(f"{meta.get('namespace', '')}/{meta.get('name', '')}", str(meta.get("uid") or ""))


class ServiceAllocator:
    def __init__(self, store: Store, space: str, network: ServiceNetwork, rng: random.Random | None = None):
        self.ranges = Ranges(store, space)
        self.network = network
        self.rng = rng or random.Random()

    # -- Allocations ---------------------------------------------------------------------------
    def carry(self, old: Obj, new: Obj) -> None:
        sv.carry_allocated(old, new)

    async def claim(self, old: Obj | None, new: Obj) -> Claims:
        claims = Claims()
        await self._claim_cluster_ip(old, new, claims)
        await self._claim_node_ports(old, new, claims)
        return claims

    def release(self, obj: Obj) -> list[Op]:
        ops: list[Op] = [self.ranges.release(SERVICE_IPS, ip) for ip in sv.cluster_ips(obj)]
        ops += [self.ranges.release(NODE_PORTS, port) for port in sorted(sv.node_ports(obj))]
        return ops

    # -- cluster IPs -----------------------------------------------------------------------------
    async def _claim_cluster_ip(self, old: Obj | None, new: Obj, claims: Claims) -> None:
        held = set(sv.cluster_ips(old)) if old is not None else set()
        spec = new.setdefault("spec", {})
        wanted = set()
        if sv.needs_cluster_ip(new) and not sv.is_headless(new):
            ip = str(spec.get("clusterIP") or "")
            if not ip:
                ip = await self._next_ip()
                spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
            elif ip not in held:
                await self._check_ip(new, ip)
            wanted.add(ip)
            if ip not in held:
                compare, put = self.ranges.claim(SERVICE_IPS, ip, _holder(new))
                claims.compares.append(compare)
                claims.ops.append(put)
        claims.ops += [self.ranges.release(SERVICE_IPS, ip) for ip in sorted(held - wanted)]

    async def _next_ip(self) -> str:
        taken = await self.ranges.taken(SERVICE_IPS)
        ip = self.network.cluster_ips.pick(taken.keys(), self.rng)
        if ip is None:
            raise K8sError(500, "InternalError", "Internal error occurred: failed to allocate a serviceIP: "
                           "range is full")  # fmt: skip
        return ip

    async def _check_ip(self, svc: Obj, ip: str) -> None:
        spec = sv.spec_of(svc)
        shown = list(spec.get("clusterIPs") or [ip])
        rng = self.network.cluster_ips
        if rng.offset(ip) is None:
            reason = f"the provided IP ({ip}) is not in the valid range. The range of valid IPs is {rng}"
        elif await self.ranges.holder(SERVICE_IPS, ip) is not None:
            reason = "provided IP is already allocated"
        else:
            return
        raise errors.invalid(
            "Service",
            _name(svc),
            [sv.invalid("spec.clusterIPs", shown, f"failed to allocate IP {ip}: {reason}")],
        )

    # -- node ports ------------------------------------------------------------------------------
    async def _claim_node_ports(self, old: Obj | None, new: Obj, claims: Claims) -> None:
        held = sv.node_ports(old) if old is not None else set()
        wanted: set[int] = set()
        taken: set[int] | None = None
        by_port: dict[int, int] = {}  # service port -> node port (one per port number)
        causes: list[Cause] = []
        rng = self.network.node_ports

        async def requested(path: str, value: int) -> None:
            if value in held or value in wanted:
                wanted.add(value)
                return
            if not rng.contains(value):
                reason = f"provided port is not in the valid range. The range of valid ports is {rng}"
            elif await self.ranges.holder(NODE_PORTS, value) is not None:
                reason = "provided port is already allocated"
            else:
                wanted.add(value)
                return
            causes.append(sv.invalid(path, value, reason))

        async def pick() -> int:
            nonlocal taken
            if taken is None:
                taken = {int(p) for p in (await self.ranges.taken(NODE_PORTS)) if p.isdigit()}
            value = rng.pick(taken | wanted | held, self.rng)
            if value is None:
                raise K8sError(500, "InternalError", "Internal error occurred: failed to allocate a "
                               "nodePort: range is full")  # fmt: skip
            return value

        if sv.needs_node_ports(new):
            ports = sv.ports_of(new)
            for i, port in enumerate(ports):
                value, number = _int(port.get("nodePort")), _int(port.get("port"))
                if not value and not sv.allocates_node_ports(new):
                    continue  # a LoadBalancer without node ports: only requested ones
                shared = by_port.get(number, 0)
                if not shared:
                    # ports with one number share one node port; a request anywhere wins
                    asked = [_int(p.get("nodePort")) for p in ports if _int(p.get("port")) == number]
                    shared = next((v for v in asked if v), 0)
                    if shared:
                        await requested(f"spec.ports[{i}].nodePort", shared)
                    else:
                        shared = await pick()
                        wanted.add(shared)
                    by_port[number] = shared
                    port["nodePort"] = shared
                elif not value:
                    port["nodePort"] = shared
                elif value != shared:
                    await requested(f"spec.ports[{i}].nodePort", value)
            spec = new.setdefault("spec", {})
            if sv.needs_health_check_port(new):
                hc = spec.get("healthCheckNodePort")
                if isinstance(hc, int) and hc:
                    await requested("spec.healthCheckNodePort", hc)
                else:
                    spec["healthCheckNodePort"] = await pick()
                    wanted.add(spec["healthCheckNodePort"])
        if causes:
            raise errors.invalid("Service", _name(new), causes)
        holder = _holder(new)
        for value in sorted(wanted - held):
            compare, put = self.ranges.claim(NODE_PORTS, value, holder)
            claims.compares.append(compare)
            claims.ops.append(put)
        claims.ops += [self.ranges.release(NODE_PORTS, value) for value in sorted(held - wanted)]


# -- the kubernetes Service ----------------------------------------------------------------------
async def ensure_kubernetes_service(
    service: ObjectService,
    types: dict[str, ResourceType],
    network: ServiceNetwork,
    host: str,
    port: int,
) -> None:
    """``default/kubernetes``: the API server's own Service (the range's first address, port 443
    → the listener's port), with its Endpoints and EndpointSlice pointing at the listener.
    ``types`` has the ``services``, ``endpoints`` and ``endpointslices`` resource types. A
    failure is logged, not raised: the API serves without it."""
    try:
        await _ensure_kubernetes_service(service, types, network, host, port)
    except K8sError as exc:
        log.warning("could not keep the default/kubernetes service: %s", exc)


async def _ensure_kubernetes_service(
    service: ObjectService, types: dict[str, ResourceType], network: ServiceNetwork, host: str, port: int
) -> None:
    first = network.cluster_ips.at(0)
    host = host if sv.valid_ip(host) else "127.0.0.1"
    body: Obj = {
        "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {
            "type": "ClusterIP",
            "sessionAffinity": "None",
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}],
        },
    }
    svc_type = types["services"]
    try:
        await service.get(svc_type, "default", "kubernetes")
    except K8sError as missing:
        if missing.code != 404:
            raise
        wanted = copy.deepcopy(body)
        wanted["spec"]["clusterIP"] = first
        try:
            await service.create(svc_type, "default", wanted)
        except K8sError as e:
            if e.code == 422:  # someone holds the first address: any other one
                with contextlib.suppress(K8sError):
                    await service.create(svc_type, "default", body)
            elif e.code != 409:
                raise

    def set_port(obj: Obj) -> Obj:
        obj.setdefault("spec", {})["ports"] = body["spec"]["ports"]
        return obj

    await service.update(svc_type, "default", "kubernetes", set_port)
    endpoint_ports = [{"name": "https", "port": port, "protocol": "TCP"}]
    await _put(service, types["endpoints"], "kubernetes", {
        "metadata": {"name": "kubernetes", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": host}], "ports": endpoint_ports}],
    })  # fmt: skip
    await _put(service, types["endpointslices"], "kubernetes", {
        "metadata": {"name": "kubernetes", "labels": {"kubernetes.io/service-name": "kubernetes"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [host], "conditions": {"ready": True}}],
        "ports": endpoint_ports,
    })  # fmt: skip


async def _put(service: ObjectService, rt: ResourceType, name: str, body: Obj) -> None:
    try:
        await service.create(rt, "default", copy.deepcopy(body))
        return
    except K8sError as e:
        if e.code != 409:
            raise

    def change(obj: Obj) -> Obj:
        new = {**obj, **{k: v for k, v in body.items() if k != "metadata"}}
        new["metadata"] = {**obj.get("metadata", {}), "labels": body["metadata"]["labels"]}
        return new

    await service.update(rt, "default", name, change)
