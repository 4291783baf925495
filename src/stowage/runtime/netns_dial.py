"""TCP connections to localhost inside a container's network namespace (``kubectl port-forward``).

The kubelet's port-forward connects to ``localhost:<port>`` inside the pod's network namespace,
so a server bound to 127.0.0.1 in the pod is reachable too. A socket belongs to the namespace it
was created in, so only ``socket()`` has to run inside: a short-lived thread of its own enters
the namespace of the container's process (``setns`` on ``/proc/<pid>/ns/net``, which needs
CAP_SYS_ADMIN), creates the socket and leaves; the connect then runs on the event loop. IPv4
is tried first, then IPv6, as the kubelet does, and a failure reads as containerd's does.
Without the privilege to enter the namespace (a rootless agent) the connection goes to the
container's address on its network from the host instead, like the httpGet probes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import errno
import os
import socket
import threading
from collections.abc import Iterable

from stowage.runtime.base import ContainerRuntimeError

_CLONE_NEWNET = 0x40000000
_CONNECT_TIMEOUT_S = 10.0
Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, _CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def _sockets_in(pid: int) -> list[socket.socket | None]:
    """An IPv4 and an IPv6 TCP socket created in ``pid``'s network namespace (this thread only
    moves there and back); None for IPv6 where the namespace has none."""
    own = os.open(f"/proc/self/task/{threading.get_native_id()}/ns/net", os.O_RDONLY)
    try:
        target = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
        try:
            _setns(target)
            try:
                v4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                try:
                    v6: socket.socket | None = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
                except OSError:
                    v6 = None
                return [v4, v6]
            finally:
                _setns(own)  # if this failed the thread ends with it: it is ours alone
        finally:
            os.close(target)
    finally:
        os.close(own)


async def _in_own_thread(pid: int) -> list[socket.socket | None]:
    done: concurrent.futures.Future[list[socket.socket | None]] = concurrent.futures.Future()

    def run() -> None:
        try:
            done.set_result(_sockets_in(pid))
        except BaseException as exc:  # handed to the awaiting coroutine
            done.set_exception(exc)

    threading.Thread(target=run, name=f"netns-{pid}", daemon=True).start()
    return await asyncio.wrap_future(done)


def _go_error(exc: OSError) -> str:
    """Go's wording of a connect error ("connect: connection refused")."""
    if isinstance(exc, TimeoutError):
        return "i/o timeout"
    text = os.strerror(exc.errno) if exc.errno else str(exc)
    return "connect: " + text[:1].lower() + text[1:]


async def _connect(sock: socket.socket, host: str, port: int) -> Streams:
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await asyncio.wait_for(loop.sock_connect(sock, (host, port)), _CONNECT_TIMEOUT_S)
    return await asyncio.open_connection(sock=sock)


async def dial_localhost(pid: int, port: int, *, name: str, fallback_hosts: Iterable[str] = ()) -> Streams:
    """A connection to ``localhost:port`` in the network namespace of process ``pid`` (the
    container ``name``'s). ContainerRuntimeError says why there is none."""
    try:
        v4, v6 = await _in_own_thread(pid)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EACCES):
            raise ContainerRuntimeError(f"cannot enter the network namespace of {name}: {exc}") from exc
        return await _dial_from_host(list(fallback_hosts), port, name)
    errors = []
    attempts = ((v4, "127.0.0.1", f"dial tcp4 127.0.0.1:{port}"), (v6, "::1", f"dial tcp6 [::1]:{port}"))
    for sock, host, label in attempts:
        if sock is None:
            errors.append(f"{label}: address family not supported by protocol")
            continue
        try:
            streams = await _connect(sock, host, port)
        except OSError as exc:
            sock.close()
            errors.append(f"{label}: {_go_error(exc)}")
            continue
        if sock is v4 and v6 is not None:
            v6.close()
        return streams
    where = f'localhost:{port} inside namespace "{name}"'
    raise ContainerRuntimeError(f"failed to connect to {where}, IPv4: {errors[0]} IPv6 {errors[1]} ")


async def _dial_from_host(hosts: list[str], port: int, name: str) -> Streams:
    if not hosts:
        raise ContainerRuntimeError(f"container {name} has no address to forward port {port} to")
    try:
        return await asyncio.wait_for(asyncio.open_connection(hosts[0], port), _CONNECT_TIMEOUT_S)
    except OSError as exc:
        raise ContainerRuntimeError(f"dial tcp4 {hosts[0]}:{port}: {_go_error(exc)}") from exc


def close_quietly(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        writer.close()
