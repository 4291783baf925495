"""The control-plane client: SigV4-signed AWS JSON calls to a real server, error codes, and
retries only for what may succeed later (no answer, 5xx)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiohttp import web
from botocore.credentials import Credentials

from stowage.client import ApiError, ControlPlaneClients, EndpointUnavailableError, RetryPolicy, is_transient
from tests.agent.harness import run
from tests.support.local_http import serving
from tests.support.server import ACCESS_KEY_ID, SECRET_ACCESS_KEY, ServerProcess, free_port

CREDS = Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY)


def test_signed_calls_and_error_codes_against_the_real_server(server: ServerProcess) -> None:
    name = f"client-{uuid.uuid4().hex[:8]}"

    async def body() -> None:
        async with ControlPlaneClients(server.endpoint, CREDS, "us-east-1") as c:
            created = await c.ecs.call("CreateCluster", {"clusterName": name})
            assert created["cluster"]["clusterName"] == name
            await c.logs.call("CreateLogGroup", {"logGroupName": f"/{name}"})
            with pytest.raises(ApiError) as err:
                await c.logs.call("CreateLogGroup", {"logGroupName": f"/{name}"})
            assert (err.value.code, err.value.status) == ("ResourceAlreadyExistsException", 400)
            assert not is_transient(err.value)
        wrong = Credentials(ACCESS_KEY_ID, "not-the-secret")
        async with ControlPlaneClients(server.endpoint, wrong, "us-east-1") as c:
            with pytest.raises(ApiError) as err:
                await c.ecs.call("ListClusters")
            assert err.value.code == "InvalidSignatureException"

    run(body())


def test_unreachable_endpoint_is_retried_with_backoff_then_raised() -> None:
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    async def body() -> None:
        endpoint = f"http://127.0.0.1:{free_port()}"  # nobody listens
        async with ControlPlaneClients(
            endpoint, CREDS, "us-east-1", retry=RetryPolicy(max_attempts=3), sleep=sleep
        ) as c:
            with pytest.raises(EndpointUnavailableError):
                await c.ecs.call("ListClusters")
        assert len(delays) == 2 and all(0 <= d <= 5 for d in delays)

    run(body())


def test_5xx_is_retried_and_4xx_is_not() -> None:
    calls: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        target = request.headers["X-Amz-Target"]
        calls.append(target)
        assert request.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=")
        if target.endswith("Flaky") and calls.count(target) < 3:
            return web.json_response({"__type": "ServerException", "message": "busy"}, status=500)
        if target.endswith("Bad"):
            return web.json_response({"__type": "com.amazon#ClientException", "message": "no"}, status=400)
        return web.json_response({"ok": True})

    async def no_sleep(_: float) -> None:
        return None

    async def body() -> None:
        async with (
            serving(("POST", "/", handler)) as endpoint,
            ControlPlaneClients(endpoint, CREDS, "us-east-1", sleep=no_sleep) as c,
        ):
            assert await c.ecs.call("Flaky") == {"ok": True}
            with pytest.raises(ApiError) as err:
                await c.ecs.call("Bad")
            assert err.value.code == "ClientException"  # the namespace prefix stripped
        assert calls.count("AmazonEC2ContainerServiceV20141113.Flaky") == 3
        assert calls.count("AmazonEC2ContainerServiceV20141113.Bad") == 1

    asyncio.run(body())
