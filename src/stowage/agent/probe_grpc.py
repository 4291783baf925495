"""The ``grpc`` probe action: gRPC's standard health protocol (``grpc.health.v1.Health/Check``,
grpcio with the ``grpcio-health-checking`` messages) against the pod's IP, as the kubelet runs it.

Like the kubelet, the probe waits for the connection within ``timeoutSeconds`` (a port nobody
listens on is a connect timeout, as grpc-go's blocking dial reports it), then calls ``Check``
for ``service`` within what is left of it, in plaintext. ``SERVING`` passes; any other status,
an error status (``NotFound`` for a service the server does not know) or a timeout fails, with
the kubelet's message for it (the ``Unhealthy`` event's text).
"""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from stowage.agent.probes import GrpcAction

Verdict = tuple[bool | None, str]
_DEADLINE = "context deadline exceeded"
_GO_NAMES = {"OK": "OK", "CANCELLED": "Canceled"}


def _go_code(code: grpc.StatusCode) -> str:
    """grpc-go's name of a status code (``NotFound``, ``Unavailable``...)."""
    name = str(code.name)
    return _GO_NAMES.get(name) or "".join(part.capitalize() for part in name.split("_"))


def _seconds(value: float) -> str:
    """A Go ``time.Duration`` of whole or fractional seconds as ``%v`` prints it (``1s``)."""
    return f"{value:g}s"


async def grpc_check(action: GrpcAction, host: str, timeout_s: float, *, user_agent: str) -> Verdict:
    addr = f"[{host}]:{action.port}" if ":" in host else f"{host}:{action.port}"
    within = _seconds(timeout_s)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    options = [("grpc.primary_user_agent", user_agent), ("grpc.enable_retries", 0)]
    async with grpc.aio.insecure_channel(addr, options=options) as channel:
        try:
            await asyncio.wait_for(channel.channel_ready(), timeout_s)
        except TimeoutError:
            return False, f'timeout: failed to connect service "{addr}" within {within}: {_DEADLINE}'
        request = health_pb2.HealthCheckRequest(service=action.service)
        try:
            response = await health_pb2_grpc.HealthStub(channel).Check(
                request, timeout=max(0.001, deadline - loop.time())
            )
        except grpc.aio.AioRpcError as exc:
            code, details = exc.code(), exc.details() or ""
            if code == grpc.StatusCode.UNIMPLEMENTED:
                return False, (
                    "error: this server does not implement the grpc health protocol "
                    f"(grpc.health.v1.Health): {details}"
                )
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                return False, f"timeout: health rpc did not complete within {within}"
            return (
                False,
                f"error: health rpc probe failed: rpc error: code = {_go_code(code)} desc = {details}",
            )
    if response.status != health_pb2.HealthCheckResponse.SERVING:
        name = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
        return False, f'service unhealthy (responded with "{name}")'
    return True, ""
