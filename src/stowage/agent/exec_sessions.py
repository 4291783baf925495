"""The agent's end of ``kubectl exec``: run a command in one of its containers and bridge it to a
WebSocket it opens back to the control plane (``controllers/exec_broker`` says why it goes that
way round).

The socket speaks the Kubernetes remote-command frames (``model/k8s/exec_protocol``): stdin,
resize and (v5) stdin-close come in; stdout and stderr go out, then the command's exit status
on the error channel, then the socket closes. A container that is missing or not running, or an
engine that cannot exec, ends the session with a Failure status naming why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from stowage.agent import labels as lbl
from stowage.model.k8s import exec_protocol as proto
from stowage.runtime.base import ContainerRuntime, ContainerRuntimeError, ContainerStatus
from stowage.runtime.exec_stream import ExecStream

log = logging.getLogger("stowage.agent.exec")


class ExecSocket(Protocol):
    """The tunnel's WebSocket, as the agent sees it (aiohttp's client socket fits)."""

    async def send_bytes(self, data: bytes) -> None: ...

    async def receive_bytes_or_none(self) -> bytes | None:
        """The next binary message; None once the control plane closed the socket."""
        ...

    async def close(self) -> None: ...


class ExecTunnel(Protocol):
    async def connect_exec(self, session_id: str) -> ExecSocket: ...


async def container_id(runtime: ContainerRuntime, task_arn: str, container: str) -> str | None:
    found = await runtime.list({lbl.TASK_ARN: task_arn, lbl.CONTAINER_NAME: container})
    running = [s for s in found if s.status is ContainerStatus.RUNNING]
    return running[0].id if running else None


async def run_session(runtime: ContainerRuntime, tunnel: ExecTunnel, session: Mapping[str, Any]) -> None:
    """Serve one exec session from its PollAssignments entry to the end of the command."""
    command = [str(c) for c in session.get("command") or []]
    try:
        socket = await tunnel.connect_exec(str(session["id"]))
    except Exception as exc:  # the session is gone, or the control plane is: nothing to serve
        log.info("exec session %s: could not connect: %s", session.get("id"), exc)
        return
    try:
        cid = await container_id(runtime, str(session["taskArn"]), str(session["container"]))
        if cid is None:
            why = f"container {session['container']} is not running"
            await socket.send_bytes(proto.frame(proto.ERROR, proto.failure_status(why)))
            await socket.close()
            return
        stream = await runtime.open_exec(
            cid, command, tty=bool(session.get("tty")), stdin=bool(session.get("stdin"))
        )
    except ContainerRuntimeError as exc:
        await socket.send_bytes(proto.frame(proto.ERROR, proto.failure_status(exc.message)))
        await socket.close()
        return
    try:
        await _bridge(socket, stream, command)
    finally:
        await stream.close()
        await socket.close()


async def _bridge(socket: ExecSocket, stream: ExecStream, command: list[str]) -> None:
    async def inbound() -> None:
        while (message := await socket.receive_bytes_or_none()) is not None:
            parts = proto.split(message)
            if parts is None:
                continue
            channel, payload = parts
            if channel == proto.STDIN:
                await stream.write(payload)
            elif channel == proto.RESIZE and (size := proto.resize_of(payload)) is not None:
                await stream.resize(*size)
            elif channel == proto.CLOSE and payload[:1] == bytes((proto.STDIN,)):
                await stream.close_stdin()

    reader = asyncio.create_task(inbound())
    try:
        while (out := await stream.read()) is not None:
            await socket.send_bytes(proto.frame(out.stream, out.data))
        code = await stream.exit_code()
        await socket.send_bytes(proto.frame(proto.ERROR, proto.exit_status(code, command)))
    except ContainerRuntimeError as exc:
        await socket.send_bytes(proto.frame(proto.ERROR, proto.failure_status(exc.message)))
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
