"""The four probe actions, run from the host against one container, with the kubelet's verdicts
and messages (they become ``Unhealthy`` events: "Liveness probe failed: <message>").

- ``exec``: the command runs in the container through the runtime's exec (Docker's exec API);
  exit code 0 passes, anything else fails with the command's output as the message; a command
  that outlives ``timeoutSeconds`` fails (``command "..." timed out``).
- ``httpGet``: ``GET <scheme>://<host or pod IP>:<port><path>`` with kubelet's User-Agent and
  the probe's headers; a status from 200 to 399 passes (``HTTP probe failed with statuscode:
  503`` otherwise); a connection or timeout error fails with Go's wording for it. HTTPS is not
  verified, as the kubelet does not verify it.
- ``tcpSocket``: a TCP connection opens within the timeout.
- ``grpc``: ``grpc.health.v1.Health/Check`` answers SERVING (`agent.probe_grpc`).

The pod IP is the task's awsvpc address, on a bridge network of this host, so the agent reaches
it directly: nothing has to run inside the container for httpGet, tcpSocket and grpc probes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl

import aiohttp

from stowage.agent.probe_grpc import grpc_check
from stowage.agent.probes import ExecAction, GrpcAction, HttpGetAction, ProbeSpec, TcpSocketAction
from stowage.runtime.base import (
    ContainerConflictError,
    ContainerNotFoundError,
    ContainerRuntime,
    ExecTimeoutError,
)

USER_AGENT = "kube-probe/1.32"
_DEADLINE = "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
Verdict = tuple[bool | None, str]


async def run_check(runtime: ContainerRuntime, container_id: str, pod_ip: str, spec: ProbeSpec) -> Verdict:
    action = spec.action
    if isinstance(action, ExecAction):
        return await exec_check(runtime, container_id, action, spec.timeout_s)
    if isinstance(action, HttpGetAction):
        return await http_check(action, action.host or pod_ip, spec.timeout_s)
    if isinstance(action, GrpcAction):
        return await grpc_check(action, pod_ip, spec.timeout_s, user_agent=USER_AGENT)
    return await tcp_check(action, action.host or pod_ip, spec.timeout_s)


async def exec_check(
    runtime: ContainerRuntime, container_id: str, action: ExecAction, timeout_s: float
) -> Verdict:
    try:
        result = await runtime.exec(container_id, action.command, timeout_s=timeout_s)
    except ExecTimeoutError:
        return False, f"command {json.dumps(' '.join(action.command))} timed out"
    except (ContainerConflictError, ContainerNotFoundError):
        return None, "the container is not running"  # it exited: the runner sees that anyway
    if result.exit_code == 0:
        return True, ""
    return False, result.output


def _no_port(port: int | str) -> Verdict:
    return False, f"unable to find port {port!r} in the container's ports"


async def http_check(action: HttpGetAction, host: str, timeout_s: float) -> Verdict:
    if isinstance(action.port, str):
        return _no_port(action.port)
    scheme = "https" if action.scheme == "HTTPS" else "http"
    path = action.path if action.path.startswith("/") else f"/{action.path}"
    url = f"{scheme}://{host}:{action.port}{path}"
    headers = {"User-Agent": USER_AGENT, "Accept": "*/*"}
    for name, value in action.headers:
        headers[name] = value
    tls: ssl.SSLContext | bool = scheme != "https"
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(url, headers=headers, ssl=tls) as resp,
        ):
            status = resp.status
    except TimeoutError:
        return False, f'Get "{url}": {_DEADLINE}'
    except aiohttp.ClientConnectorError as exc:
        return False, f'Get "{url}": dial tcp {host}:{action.port}: {_connect_error(exc.os_error)}'
    except aiohttp.ClientError as exc:
        return False, f'Get "{url}": {exc}'
    if 200 <= status < 400:
        return True, ""
    return False, f"HTTP probe failed with statuscode: {status}"


async def tcp_check(action: TcpSocketAction, host: str, timeout_s: float) -> Verdict:
    if isinstance(action.port, str):
        return _no_port(action.port)
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, action.port), timeout_s)
    except TimeoutError:
        return False, f"dial tcp {host}:{action.port}: i/o timeout"
    except OSError as exc:
        return False, f"dial tcp {host}:{action.port}: {_connect_error(exc)}"
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True, ""


def _connect_error(exc: OSError) -> str:
    """Go's words for a failed connect (``connect: connection refused``)."""
    if isinstance(exc, ConnectionRefusedError):
        return "connect: connection refused"
    text = (exc.strerror or str(exc)).lower()
    return f"connect: {text}"
