"""gRPC probes (`agent.probe_grpc` through `agent.probe_checks.run_check`) against real
in-process gRPC servers on 127.0.0.1: grpcio's standard health servicer, one that answers too
late, one without the health service, and a port nobody listens on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from stowage.agent.probe_checks import USER_AGENT, run_check
from stowage.agent.probes import LIVENESS, READINESS, GrpcAction, ProbeSpec, probes_of
from stowage.runtime.fake import FakeRuntime
from tests.agent.harness import run
from tests.support.server import free_port

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class SlowHealth(health_pb2_grpc.HealthServicer):  # type: ignore[misc]
    """Answers SERVING after ``delay`` seconds; remembers the callers' user agents."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.agents: list[str] = []

    async def Check(self, request: Any, context: Any) -> Any:
        self.agents.extend(str(v) for k, v in context.invocation_metadata() if k == "user-agent")
        await asyncio.sleep(self.delay)
        return health_pb2.HealthCheckResponse(status=SERVING)


@asynccontextmanager
async def server(add: Callable[[Any], None] | None) -> AsyncIterator[int]:
    srv = grpc.aio.server()
    if add is not None:
        add(srv)
    port = srv.add_insecure_port("127.0.0.1:0")
    await srv.start()
    try:
        yield port
    finally:
        await srv.stop(None)


async def check(port: int, service: str = "", timeout_s: float = 1.0) -> tuple[bool | None, str]:
    spec = ProbeSpec(kind=LIVENESS, action=GrpcAction(port=port, service=service), timeout_s=timeout_s)
    return await run_check(FakeRuntime(), "unused", "127.0.0.1", spec)  # not used by grpc


def test_the_standard_health_service_serving_not_serving_and_unknown() -> None:
    async def body() -> None:
        servicer = health.aio.HealthServicer()
        await servicer.set("", SERVING)
        await servicer.set("shop.Cart", SERVING)
        await servicer.set("shop.Payments", NOT_SERVING)
        async with server(lambda s: health_pb2_grpc.add_HealthServicer_to_server(servicer, s)) as port:
            assert await check(port) == (True, "")
            assert await check(port, "shop.Cart") == (True, "")
            assert await check(port, "shop.Payments") == (
                False,
                'service unhealthy (responded with "NOT_SERVING")',
            )
            ok, message = await check(port, "shop.Nope")
            assert ok is False
            assert message.startswith("error: health rpc probe failed: rpc error: code = NotFound desc = ")
            await servicer.set("shop.Cart", NOT_SERVING)  # the verdict follows the server
            assert (await check(port, "shop.Cart"))[0] is False

    run(body())


def test_a_server_without_the_health_service() -> None:
    async def body() -> None:
        async with server(None) as port:
            ok, message = await check(port)
        assert ok is False
        assert message.startswith(
            "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): "
        )

    run(body())


def test_an_answer_later_than_the_timeout_fails_and_the_user_agent_is_the_kubelets() -> None:
    async def body() -> None:
        slow = SlowHealth(delay=3.0)
        async with server(lambda s: health_pb2_grpc.add_HealthServicer_to_server(slow, s)) as port:
            assert await check(port) == (False, "timeout: health rpc did not complete within 1s")
            slow.delay = 0
            assert await check(port, timeout_s=2) == (True, "")
        assert slow.agents and all(a.startswith(f"{USER_AGENT} grpc-python") for a in slow.agents)

    run(body())


def test_nobody_listening_is_a_connect_timeout() -> None:
    async def body() -> None:
        port = free_port()
        assert await check(port) == (
            False,
            f'timeout: failed to connect service "127.0.0.1:{port}" within 1s: context deadline exceeded',
        )

    run(body())


def test_grpc_probes_reach_the_agent_from_the_pod_spec() -> None:
    definition = {
        "_k8s": {
            "livenessProbe": {"grpc": {"port": 9000, "service": ""}, "periodSeconds": 5},
            "readinessProbe": {"grpc": {"port": 9000, "service": "shop.Cart"}, "timeoutSeconds": 2},
        }
    }
    liveness, readiness = probes_of(definition)
    assert (liveness.kind, liveness.action, liveness.period_s) == (LIVENESS, GrpcAction(9000, ""), 5)
    assert (readiness.kind, readiness.action) == (READINESS, GrpcAction(9000, "shop.Cart"))
    assert readiness.timeout_s == 2
