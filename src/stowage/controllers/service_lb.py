"""Service load balancing, stowage's way: one stable TCP listener per load-balanced service.

A service with ``loadBalancers`` (``containerName`` + ``containerPort``) gets a listener on the
control plane host. Its port is chosen once, deterministically: ``first + crc32(serviceArn) %
size`` within the configured range, moving up past ports other services hold or that cannot be
bound; it is written into the service record (``_listener``) and announced in the service's
events ("... is reachable at 127.0.0.1:PORT ..."), so it survives restarts.

Each accepted connection goes to the next healthy target, round robin: a task of the service
that is RUNNING with desiredStatus RUNNING (and HEALTHY if it has health checks), not in its
deregistration delay, through the network binding of the load balancer's container port
(the host port in bridge/host mode, the task's ENI address in awsvpc mode). A target that
refuses the connection is skipped and the next one tried, so a client never sees a task that
just went away. Deployments are followed because the targets are re-read for every
connection: new tasks join once healthy, old ones leave when the controller starts their
deregistration delay (before it stops them), and connections already open run to their end.

The forwarding itself (round robin, skipping targets that refuse or close before answering) is
``TcpForwarder``, over any function that lists the targets of the moment: Kubernetes NodePort
services use it too (``controllers/k8s/nodeports.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from stowage.controllers.services.controller import ServiceController
from stowage.controllers.services.sync import healthy
from stowage.model import services as model
from stowage.resources.records import Doc, Record
from stowage.resources.services import ServiceRecords

log = logging.getLogger("stowage.controllers.service_lb")

CONNECT_TIMEOUT = 2.0
CLIENT_FIRST_WAIT = 0.5
"""How long to wait for a client to speak first (HTTP does) before piping without retries."""
FIRST_BYTE_TIMEOUT = 3.0
MAX_TRIES = 4
NO_TARGET_WAIT = 3.0
"""Seconds a new connection waits for a target when there is none at all."""
_CHUNK = 65536


@dataclass(frozen=True)
class ListenerConfig:
    host: str = "127.0.0.1"
    first_port: int = 20000
    last_port: int = 20999


def preferred_port(service_arn: str, config: ListenerConfig) -> int:
    size = config.last_port - config.first_port + 1
    return config.first_port + zlib.crc32(service_arn.encode()) % size


def targets(service: Doc, tasks: Iterable[Record]) -> list[tuple[str, int]]:
    """Where new connections to a service may go now."""
    out: list[tuple[str, int]] = []
    lbs = service.get("loadBalancers") or []
    if not lbs:
        return out
    name, port = lbs[0].get("containerName"), lbs[0].get("containerPort")
    draining = set((service.get("_deregistering") or {}).keys())
    for t in tasks:
        if t.key in draining or not healthy(t.doc):
            continue
        eni_ip = None
        for a in t.doc.get("attachments") or []:
            for d in a.get("details") or []:
                if d.get("name") == "privateIPv4Address":
                    eni_ip = d.get("value")
        for c in t.doc.get("containers") or []:
            if c.get("name") != name:
                continue
            if eni_ip:
                out.append((str(eni_ip), int(port)))
                continue
            for b in c.get("networkBindings") or []:
                if b.get("containerPort") == port and b.get("hostPort"):
                    ip = b.get("bindIP") or "0.0.0.0"
                    out.append(("127.0.0.1" if ip in ("0.0.0.0", "::") else str(ip), int(b["hostPort"])))
    return sorted(set(out))


class TcpForwarder:
    """Forwards each accepted connection to the next of ``targets()`` (round robin), trying the
    following ones when a target refuses, or closes before answering the client's first bytes."""

    def __init__(self, targets: Callable[[], list[tuple[str, int]]], what: str = "") -> None:
        self.targets = targets
        self.what = what
        self._next = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """An ``asyncio.start_server`` callback."""
        try:
            await self._proxy(reader, writer)
        except Exception:
            log.debug("proxy connection for %s failed", self.what, exc_info=True)
        finally:
            writer.close()

    async def _proxy(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Connect to a target; when the client speaks first, hand its first bytes to the
        target and wait for the target's first answer: a target that closes (or stays silent
        for ``FIRST_BYTE_TIMEOUT``) before answering anything is a task that is not serving
        yet or any more (Docker's port proxy accepts connections for a container that does
        not listen yet), and the same bytes go to the next target instead."""
        first = b""
        with contextlib.suppress(TimeoutError):
            first = await asyncio.wait_for(reader.read(_CHUNK), CLIENT_FIRST_WAIT)
        tried: set[tuple[str, int]] = set()
        for _ in range(MAX_TRIES):
            upstream = await self._connect(tried)
            if upstream is None:
                return
            up_reader, up_writer, target = upstream
            tried.add(target)
            reply = b""
            if first:
                up_writer.write(first)
                await up_writer.drain()
                with contextlib.suppress(TimeoutError, ConnectionError, OSError):
                    reply = await asyncio.wait_for(up_reader.read(_CHUNK), FIRST_BYTE_TIMEOUT)
                if not reply:
                    up_writer.close()
                    continue
                writer.write(reply)
                await writer.drain()
            try:
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            finally:
                up_writer.close()
            return

    async def _connect(
        self, tried: set[tuple[str, int]]
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, tuple[str, int]] | None:
        found = [t for t in self.targets() if t not in tried]
        waited = 0.0
        while not found and not tried and waited < NO_TARGET_WAIT:
            # No target at all for a moment (a rollout's hand-over, the controller's view being
            # rebuilt after a re-list): hold the connection briefly rather than drop it.
            await asyncio.sleep(0.05)
            waited += 0.05
            found = self.targets()
        if not found:
            return None
        start = self._next
        self._next = start + 1
        for i in range(len(found)):
            host, port = found[(start + i) % len(found)]
            try:
                r, w = await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT)
            except (OSError, TimeoutError):
                tried.add((host, port))
                continue
            return r, w, (host, port)
        return None


class ServiceListeners:
    def __init__(self, controller: ServiceController, config: ListenerConfig | None = None) -> None:
        self.controller = controller
        self.config = config or ListenerConfig()
        self._servers: dict[str, tuple[int, asyncio.Server]] = {}
        self._forwarders: dict[str, TcpForwarder] = {}
        self._loop: asyncio.Task[None] | None = None

    # -- reconcile --------------------------------------------------------------------------
    async def run(self) -> None:
        while True:
            changed = self.controller.changed
            try:
                await self.reconcile()
            except Exception:
                log.exception("service listeners reconcile failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), 5.0)

    async def reconcile(self) -> None:
        wanted: dict[str, Record] = {
            key: rec
            for key, rec in self.controller.services.items()
            if rec.doc.get("status") == model.ACTIVE and rec.doc.get("loadBalancers")
        }
        for key in [k for k in self._servers if k not in wanted]:
            _port, server = self._servers.pop(key)
            server.close()
            self._forwarders.pop(key, None)
        for key, rec in wanted.items():
            listener = rec.doc.get("_listener")
            if listener is None:
                await self._assign(rec)
                continue
            port = int(listener["port"])
            held = self._servers.get(key)
            if held is not None and held[0] == port:
                continue
            if held is not None:
                held[1].close()
            try:
                server = await asyncio.start_server(
                    self._forwarder(key).serve, self.config.host, port, reuse_address=True
                )
            except OSError as exc:
                log.warning("cannot listen on %s:%s for %s: %s", self.config.host, port, key, exc)
                continue
            self._servers[key] = (port, server)

    async def _assign(self, rec: Record) -> None:
        taken = {
            int(r.doc["_listener"]["port"])
            for r in self.controller.services.values()
            if r.doc.get("_listener") and r.doc.get("status") != model.INACTIVE
        }
        cfg = self.config
        size = cfg.last_port - cfg.first_port + 1
        first = preferred_port(rec.doc["serviceArn"], cfg)
        for i in range(size):
            port = cfg.first_port + (first - cfg.first_port + i) % size
            if port in taken or not await _bindable(cfg.host, port):
                continue
            lb = rec.doc["loadBalancers"][0]
            message = (
                f"(service {rec.doc['serviceName']}) is reachable at {cfg.host}:{port} "
                f"(stowage service listener for container {lb['containerName']} port {lb['containerPort']})."
            )

            def change(doc: Doc, port: int = port, message: str = message) -> Doc | None:
                if doc.get("_listener"):
                    return None
                doc["_listener"] = {"host": cfg.host, "port": port}
                model.add_event(doc, message, time.time())
                return doc

            await ServiceRecords(self.controller.records).change(rec.key, change)
            return
        log.warning("no free port in %s-%s for %s", cfg.first_port, cfg.last_port, rec.key)

    # -- proxy ------------------------------------------------------------------------------
    def _forwarder(self, key: str) -> TcpForwarder:
        if key not in self._forwarders:  # kept across listener restarts: round robin goes on
            self._forwarders[key] = TcpForwarder(functools.partial(self._targets, key), key)
        return self._forwarders[key]

    def _targets(self, key: str) -> list[tuple[str, int]]:
        rec = self.controller.services.get(key)
        return [] if rec is None else targets(rec.doc, self.controller.tasks_of(key))

    async def start(self) -> None:
        self._loop = asyncio.create_task(self.run(), name="service-listeners")

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._loop
        for _port, server in self._servers.values():
            server.close()
        self._servers.clear()


async def _bindable(host: str, port: int) -> bool:
    try:
        server = await asyncio.start_server(lambda r, w: None, host, port, reuse_address=True)
    except OSError:
        return False
    server.close()
    await server.wait_closed()
    return True


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass
