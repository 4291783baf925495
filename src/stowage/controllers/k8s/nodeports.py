"""NodePort services on the host: stowage's kube-proxy, reduced to what a single control-plane
host can honestly do.

For every Service of type NodePort or LoadBalancer, each TCP port's ``nodePort`` is opened as a
listener on the control plane's service listener address (``--service-listener-host``, where
ECS services get theirs), and every connection is forwarded to a ready address of the
service's Endpoints for that port (``pod IP:targetPort``, resolved by the endpoints
controller), round robin, with ``controllers/service_lb.TcpForwarder`` (the ECS service
listener's forwarding: a target that refuses or closes before answering is skipped).

Fed by a list+watch of Services and Endpoints; the Endpoints of a service are cached from the
watch, so a pod that turns ready or goes away is followed at the next connection. One sync per
Service key opens and closes its listeners.

Differences from kube-proxy: one listener on the control-plane host, not the port on every
node; no iptables/IPVS, so a connection is proxied in user space and pods cannot reach
ClusterIPs; UDP and SCTP node ports are allocated but not forwarded; ``externalTrafficPolicy:
Local`` and ``sessionAffinity: ClientIP`` are accepted and not honoured.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from stowage.controllers.k8s.replicasets import Reconciler
from stowage.controllers.service_lb import TcpForwarder
from stowage.model.k8s import services as sv
from stowage.resources.k8s_objects import decode, object_key, parse_key, resource_prefix
from stowage.store.base import Event, EventType

log = logging.getLogger("stowage.controllers.k8s")

Obj = dict[str, Any]
RETRY_BIND = 5.0


@dataclass
class _Listener:
    service: str
    port_name: str
    server: asyncio.Server


def _revision(obj: Obj) -> int:
    return int((obj.get("metadata") or {}).get("resourceVersion") or 0)


def ready_targets(endpoints: Obj | None, port_name: str) -> list[tuple[str, int]]:
    """``(ip, port)`` of the ready addresses behind one service port (TCP)."""
    out: list[tuple[str, int]] = []
    for subset in (endpoints or {}).get("subsets") or []:
        for port in subset.get("ports") or []:
            if (port.get("name") or "") != port_name or (port.get("protocol") or "TCP") != "TCP":
                continue
            out.extend((str(a.get("ip")), int(port["port"])) for a in subset.get("addresses") or [])
    return sorted(set(out))


class NodePortProxy(Reconciler):
    name = "nodeports"
    workers = 1

    def __init__(self, *args: Any, host: str = "127.0.0.1", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.host = host
        self._endpoints: dict[str, Obj] = {}
        """Service key -> its Endpoints, as last seen."""
        self._listeners: dict[int, _Listener] = {}
        self._unbindable: set[int] = set()

    def prefixes(self) -> list[str]:
        return [resource_prefix(self.space, "", "services"), resource_prefix(self.space, "", "endpoints")]

    def _service_key(self, namespace: str, name: str) -> str:
        return object_key(self.space, "", "services", namespace, name)

    def keys_for(self, ev: Event) -> list[str]:
        parsed = parse_key(ev.kv.key)
        if parsed is None:
            return []
        key = self._service_key(parsed[3], parsed[4])
        if parsed[2] == "endpoints":
            if ev.type is EventType.PUT:
                self._endpoints[key] = decode(ev.kv)
            else:
                self._endpoints.pop(key, None)
            return []  # targets are read per connection: nothing to reopen
        if ev.type is EventType.PUT:
            self.keys.add(key)
        else:
            self.keys.discard(key)
        return [key]

    def listening(self) -> dict[int, str]:
        """Open node ports and the service key each serves."""
        return {port: lst.service for port, lst in self._listeners.items()}

    async def sync(self, key: str) -> None:
        found = await self.objects.get(key)
        parsed = parse_key(key)
        if parsed is not None:  # refresh the cache: a watch gap may have hidden a deletion
            ep = await self.objects.get(object_key(self.space, "", "endpoints", parsed[3], parsed[4]))
            cached = self._endpoints.get(key)
            if ep is None:
                self._endpoints.pop(key, None)
            elif cached is None or _revision(cached) <= ep.revision:  # the watch may be ahead
                self._endpoints[key] = ep.obj
        wanted: dict[int, str] = {}
        if found is not None and sv.needs_node_ports(found.obj):
            for port in sv.ports_of(found.obj):
                node_port = port.get("nodePort")
                if isinstance(node_port, int) and node_port and (port.get("protocol") or "TCP") == "TCP":
                    wanted[node_port] = str(port.get("name") or "")
        for node_port, lst in list(self._listeners.items()):
            if lst.service == key and wanted.get(node_port) != lst.port_name:
                self._close(node_port)
        for node_port, port_name in wanted.items():
            held = self._listeners.get(node_port)
            if held is not None:
                if held.service != key:
                    # the port moved between services: the other one lets go first
                    self.queue.add(held.service)
                    self.queue.add_after(key, 0.5)
                continue
            await self._open(key, node_port, port_name)

    async def _open(self, key: str, node_port: int, port_name: str) -> None:
        forwarder = TcpForwarder(lambda: ready_targets(self._endpoints.get(key), port_name), key)
        try:
            server = await asyncio.start_server(forwarder.serve, self.host, node_port, reuse_address=True)
        except OSError as exc:
            # something else holds the port: say so once, keep trying
            level = logging.DEBUG if node_port in self._unbindable else logging.WARNING
            log.log(level, "cannot open node port %s:%s for %s: %s", self.host, node_port, key, exc)
            self._unbindable.add(node_port)
            self.queue.add_after(key, RETRY_BIND)
            return
        self._unbindable.discard(node_port)
        self._listeners[node_port] = _Listener(key, port_name, server)

    def _close(self, node_port: int) -> None:
        lst = self._listeners.pop(node_port, None)
        if lst is not None:
            lst.server.close()

    async def stop(self) -> None:
        await super().stop()
        for node_port in list(self._listeners):
            self._close(node_port)
