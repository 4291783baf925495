"""The agent's end of ``kubectl port-forward``: TCP connections into a pod's network namespace,
bridged to the WebSocket the agent opens back to the control plane (as for exec sessions,
``agent/exec_sessions``).

The tunnel carries ``model/k8s/portforward_tunnel`` messages: for each OPEN the agent connects
to ``localhost:<port>`` inside the namespace the pod's containers share (the runtime's
``dial``), then moves bytes both ways until the pod closes the connection (CLOSE goes back) or
the control plane drops it. A connection that cannot be made is an ERROR with the kubelet's
wording, which kubectl prints, then a CLOSE. All connections end with the tunnel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from stowage.agent.exec_sessions import ExecSocket, ExecTunnel, container_id
from stowage.model.k8s import portforward_tunnel as tun
from stowage.runtime.base import ContainerRuntime, ContainerRuntimeError

log = logging.getLogger("stowage.agent.portforward")

PORT_FORWARD = "portforward"
"""The ``kind`` of a port-forward session in PollAssignments' ``execSessions``."""
_READ = 64 * 1024
_HALF_CLOSE = b""
"""In a connection's inbound queue: the client sent its last byte (EOF)."""


class _Forwarder:
    def __init__(
        self, runtime: ContainerRuntime, socket: ExecSocket, cid: str | None, why: str, pod: str
    ) -> None:
        self.runtime = runtime
        self.socket = socket
        self.cid = cid
        self.why = why  # why there is no container to forward into
        self.pod = pod
        self.lock = asyncio.Lock()
        self.conns: dict[int, tuple[asyncio.Task[None], asyncio.Queue[bytes | None]]] = {}

    async def send(self, op: int, conn: int, payload: bytes = b"") -> None:
        async with self.lock:  # one message at a time on the socket
            await self.socket.send_bytes(tun.message(op, conn, payload))

    async def run(self) -> None:
        try:
            while (data := await self.socket.receive_bytes_or_none()) is not None:
                parsed = tun.parse(data)
                if parsed is not None:
                    self.handle(*parsed)
        finally:
            for task, _ in list(self.conns.values()):
                task.cancel()
            for task, _ in list(self.conns.values()):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    def handle(self, op: int, conn: int, payload: bytes) -> None:
        known = self.conns.get(conn)
        if op == tun.OPEN and known is None and (port := tun.port_of(payload)) is not None:
            inbound: asyncio.Queue[bytes | None] = asyncio.Queue()
            task = asyncio.create_task(self.serve(conn, port, inbound), name=f"portforward-{conn}")
            self.conns[conn] = (task, inbound)
            task.add_done_callback(lambda _: self.conns.pop(conn, None))
        elif known is not None and op == tun.DATA and payload:
            known[1].put_nowait(payload)
        elif known is not None and op == tun.EOF:
            known[1].put_nowait(_HALF_CLOSE)
        elif known is not None and op == tun.CLOSE:
            known[1].put_nowait(None)

    async def serve(self, conn: int, port: int, inbound: asyncio.Queue[bytes | None]) -> None:
        try:
            if self.cid is None:
                raise ContainerRuntimeError(self.why)
            reader, writer = await self.runtime.dial(self.cid, port)
        except ContainerRuntimeError as exc:
            await self.send(
                tun.ERROR,
                conn,
                f"error forwarding port {port} to pod {self.pod}, uid : {exc.message}".encode(),
            )
            await self.send(tun.CLOSE, conn)
            return
        down = asyncio.create_task(self._to_pod(writer, inbound))
        try:
            while chunk := await reader.read(_READ):
                await self.send(tun.DATA, conn, chunk)
            await self.send(tun.CLOSE, conn)  # the pod closed its end
        except (OSError, ConnectionError) as exc:
            await self.send(
                tun.ERROR, conn, f"error forwarding port {port} to pod {self.pod}, uid : {exc}".encode()
            )
            await self.send(tun.CLOSE, conn)
        finally:
            down.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await down
            with contextlib.suppress(Exception):
                writer.close()

    @staticmethod
    async def _to_pod(writer: asyncio.StreamWriter, inbound: asyncio.Queue[bytes | None]) -> None:
        while (data := await inbound.get()) is not None:
            if data == _HALF_CLOSE:
                if writer.can_write_eof():
                    writer.write_eof()
                continue
            writer.write(data)
            await writer.drain()
        writer.close()  # the client dropped the connection: so does the pod's side


async def run_port_forward(runtime: ContainerRuntime, tunnel: ExecTunnel, session: Mapping[str, Any]) -> None:
    """Serve one port-forward session from its PollAssignments entry to the tunnel's end."""
    try:
        socket = await tunnel.connect_exec(str(session["id"]))
    except Exception as exc:  # the session is gone, or the control plane is: nothing to serve
        log.info("port-forward session %s: could not connect: %s", session.get("id"), exc)
        return
    task_arn, container = str(session["taskArn"]), str(session["container"])
    try:
        cid = await container_id(runtime, task_arn, container)
        forwarder = _Forwarder(
            runtime, socket, cid, f"container {container} is not running", task_arn.rsplit("/", 1)[-1]
        )
        await forwarder.run()
    finally:
        await socket.close()
