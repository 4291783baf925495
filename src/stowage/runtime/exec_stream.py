"""Interactive commands in a running container (``kubectl exec -it``): an ``ExecStream`` moves
stdin in and stdout/stderr out while the command runs, resizes its terminal, and gives its exit
code at the end. ``exec`` in ``runtime/base`` is the run-to-completion form (probes).

The Docker implementation creates the exec, starts it attached (the engine hijacks the HTTP
connection into a raw stream: multiplexed stdout/stderr frames without a TTY, one raw stream
with one), and half-closes that connection to end the command's stdin.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import aiodocker
from aiodocker.exceptions import DockerError

from stowage.runtime.base import ContainerConflictError, ContainerNotFoundError, ContainerRuntimeError

STDOUT, STDERR = 1, 2


@dataclass(frozen=True, slots=True)
class ExecOutput:
    stream: int
    """1 stdout, 2 stderr (with a TTY everything is stdout)."""
    data: bytes


class ExecStream(ABC):
    @abstractmethod
    async def read(self) -> ExecOutput | None:
        """The next output of the command; None once it ended (or closed its outputs)."""

    @abstractmethod
    async def write(self, data: bytes) -> None:
        """Send ``data`` to the command's stdin."""

    @abstractmethod
    async def close_stdin(self) -> None:
        """End the command's stdin (EOF)."""

    @abstractmethod
    async def resize(self, width: int, height: int) -> None:
        """Resize the command's terminal (TTY sessions)."""

    @abstractmethod
    async def exit_code(self) -> int:
        """The command's exit code, once ``read`` returned None."""

    @abstractmethod
    async def close(self) -> None:
        """Drop the session (the command may go on running, as with ``docker exec``)."""


class DockerExecStream(ExecStream):
    def __init__(self, exe: aiodocker.execs.Exec, stream: aiodocker.stream.Stream) -> None:
        self._exec = exe
        self._stream = stream

    async def read(self) -> ExecOutput | None:
        try:
            message = await self._stream.read_out()
        except (DockerError, OSError) as exc:
            raise ContainerRuntimeError(f"exec output: {exc}") from exc
        if message is None:
            return None
        return ExecOutput(STDERR if message.stream == STDERR else STDOUT, bytes(message.data))

    async def write(self, data: bytes) -> None:
        await self._stream.write_in(data)

    async def close_stdin(self) -> None:
        # The hijacked connection's write side is the command's stdin: a half-close is its EOF.
        response = getattr(self._stream, "_resp", None)
        transport = response.connection.transport if response is not None and response.connection else None
        if transport is not None and transport.can_write_eof():
            transport.write_eof()

    async def resize(self, width: int, height: int) -> None:
        with contextlib.suppress(DockerError):
            await self._exec.resize(w=width, h=height)

    async def exit_code(self) -> int:
        info = await self._exec.inspect()
        code = info.get("ExitCode")
        return int(code) if code is not None else 126

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._stream.close()


async def open_docker_exec(
    docker: aiodocker.Docker, container_id: str, command: Sequence[str], *, tty: bool, stdin: bool
) -> ExecStream:
    try:
        container = docker.containers.container(container_id)
        exe = await container.exec(list(command), stdout=True, stderr=True, stdin=stdin, tty=tty)
        stream = exe.start(detach=False)
        await stream._init()  # connect now: errors surface here, not at the first read
    except DockerError as exc:
        if exc.status == 404:
            raise ContainerNotFoundError(f"no such container {container_id}") from exc
        if exc.status == 409:
            raise ContainerConflictError(f"container {container_id} is not running") from exc
        raise ContainerRuntimeError(f"exec in container {container_id}: {exc.message}") from exc
    return DockerExecStream(exe, stream)
