"""The agent's calls on its WebSocket channel (`HttpControlPlane` over `ChannelClient`): they go
on the channel against the real server, fall back to HTTP where there is no channel or the
upgrade is refused, and a lost channel fails its calls as a lost connection and reopens."""

from __future__ import annotations

import uuid

import orjson
import pytest
from aiohttp import WSMsgType, web
from botocore.credentials import Credentials

from stowage.agent.control import HttpControlPlane
from stowage.client import ApiError, ControlPlaneClients, EndpointUnavailableError
from stowage.model.aws_models import AGENT_CHANNEL_PATH
from tests.agent.harness import run
from tests.support.local_http import serving
from tests.support.server import ACCESS_KEY_ID, SECRET_ACCESS_KEY, ServerProcess

CREDS = Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY)


async def no_sleep(_: float) -> None:
    return None


def test_polls_and_reports_go_on_the_channel(server: ServerProcess) -> None:
    name = f"chan-{uuid.uuid4().hex[:8]}"

    async def no_http(*_: object, **__: object) -> dict[str, object]:
        raise AssertionError("an agent service call went by HTTP")

    async def body() -> None:
        async with ControlPlaneClients(server.endpoint, CREDS, "us-east-1") as clients:
            await clients.ecs.call("CreateCluster", {"clusterName": name})
            plane = HttpControlPlane(clients)
            clients.agent.call = no_http  # type: ignore[method-assign]
            size = [
                {"name": "CPU", "type": "INTEGER", "integerValue": 1024},
                {"name": "MEMORY", "type": "INTEGER", "integerValue": 2048},
            ]
            arn = (await plane.register({"cluster": name, "totalResources": size}))["containerInstanceArn"]
            answer = await plane.poll(name, arn, None, 0)
            assert answer["tasks"] == [] and isinstance(answer["revision"], int)
            assert plane._channel is not None and plane._channel.connected
            [result] = await plane.submit_task_states(
                name, arn, [{"task": "0" * 32, "lastStatus": "RUNNING"}]
            )
            assert result["errorCode"] == "ClientException"
            with pytest.raises(ApiError) as err:  # an error answer on the channel
                await plane.poll("no-such-cluster-z", arn, None, 0)
            assert (err.value.code, err.value.status) == ("ClientException", 400)

    run(body())


def test_no_channel_on_the_server_means_http_for_good() -> None:
    upgrades: list[str] = []
    polls: list[str] = []

    async def channel(request: web.Request) -> web.Response:
        upgrades.append(request.path)
        return web.Response(status=404)

    async def http(request: web.Request) -> web.Response:
        polls.append(request.headers["X-Amz-Target"])
        return web.json_response({"revision": 3, "tasks": []})

    async def body() -> None:
        async with (
            serving(("GET", AGENT_CHANNEL_PATH, channel), ("POST", "/", http)) as endpoint,
            ControlPlaneClients(endpoint, CREDS, "us-east-1") as clients,
        ):
            plane = HttpControlPlane(clients)
            for _ in range(3):
                assert (await plane.poll("c", "i", None, 0))["revision"] == 3

    run(body())
    assert upgrades == [AGENT_CHANNEL_PATH]  # asked once, then never again
    assert polls == ["StowageAgent_20261126.PollAssignments"] * 3


def test_a_refused_upgrade_sends_the_call_by_http_with_its_aws_error(server: ServerProcess) -> None:
    async def body() -> None:
        wrong = Credentials(ACCESS_KEY_ID, "not-the-secret")
        async with ControlPlaneClients(server.endpoint, wrong, "us-east-1", sleep=no_sleep) as clients:
            plane = HttpControlPlane(clients)
            with pytest.raises(ApiError) as err:
                await plane.poll("c", "i", None, 0)
            assert err.value.code == "InvalidSignatureException"
            assert plane._channel is not None and not plane._channel.unsupported  # tried again later

    run(body())


def test_a_lost_channel_fails_its_calls_and_the_next_call_reopens_it() -> None:
    opened: list[int] = []

    async def channel(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        opened.append(1)
        async for message in ws:
            if message.type != WSMsgType.BINARY:
                continue
            call = orjson.loads(message.data)
            if len(opened) == 1:
                break  # the first channel dies with its first call unanswered
            await ws.send_bytes(orjson.dumps({"id": call["id"], "output": {"revision": 9, "tasks": []}}))
        return ws

    async def http(request: web.Request) -> web.Response:
        raise AssertionError("no HTTP call expected")

    async def body() -> None:
        async with (
            serving(("GET", AGENT_CHANNEL_PATH, channel), ("POST", "/", http)) as endpoint,
            ControlPlaneClients(endpoint, CREDS, "us-east-1") as clients,
        ):
            plane = HttpControlPlane(clients)
            with pytest.raises(EndpointUnavailableError):
                await plane.poll("c", "i", None, 0)
            assert (await plane.poll("c", "i", None, 0))["revision"] == 9

    run(body())
    assert len(opened) == 2
