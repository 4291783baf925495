"""`JsonChannel` served by uvicorn with handlers of our own, over a real WebSocket: what the
agent-facing tests cannot reach through the control plane (a key revoked while a channel is
open, a handler that crashes, the in-flight cap, oversized and text messages)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import orjson
import pytest
from botocore.credentials import Credentials

from stowage.api.aws.app import AwsApi
from stowage.api.aws.channel import CLOSE_REVOKED, JsonChannel
from stowage.api.aws.context import RequestContext
from stowage.api.aws.service import AwsService, Params, Result
from stowage.client.signer import JsonSigner
from stowage.model.identity import Credential
from tests.api.aws.support import ACCESS_KEY_ID, ACCOUNT_ID, SECRET, serve

PATH = "/channel"
KEYS: dict[str, Credential] = {}
RELEASE = threading.Event()  # set from the test's thread, read in the server's
SEEN: list[RequestContext] = []


async def keys(access_key_id: str) -> Credential | None:
    return KEYS.get(access_key_id)


async def poll(ctx: RequestContext, params: Params) -> Result:
    SEEN.append(ctx)
    if params.get("waitSeconds") == 59:
        await asyncio.to_thread(RELEASE.wait, 10)  # held until the test lets go
    return {"revision": 1, "tasks": []}


async def crash(ctx: RequestContext, params: Params) -> Result:
    raise RuntimeError("a bug in a handler")


class ChannelApp:
    """The channel at PATH, nothing else (the control plane's own routing is not under test)."""

    def __init__(self, channel: JsonChannel) -> None:
        self.channel = channel

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            await self.channel.serve(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self.channel.api(scope, receive, send)


@pytest.fixture(scope="module")
def host() -> Iterator[str]:
    api = AwsApi([AwsService("stowage-agent", {"PollAssignments": poll, "ReportStats": crash})], keys)
    app = ChannelApp(JsonChannel(api, "stowage-agent", max_in_flight=3, max_message_bytes=2048))
    with serve(app) as hostport:  # type: ignore[arg-type]  # any ASGI app serves
        yield hostport


@pytest.fixture(autouse=True)
def fresh_keys() -> None:
    KEYS.clear()
    KEYS[ACCESS_KEY_ID] = Credential(ACCESS_KEY_ID, SECRET, ACCOUNT_ID, f"arn:aws:iam::{ACCOUNT_ID}:root")
    SEEN.clear()


def on_channel(host: str, body: Callable[[aiohttp.ClientWebSocketResponse], Awaitable[Any]]) -> Any:
    async def run() -> Any:
        signer = JsonSigner(Credentials(ACCESS_KEY_ID, SECRET), "ecs", "eu-west-1", f"http://{host}/")
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(f"http://{host}{PATH}", headers=signer.upgrade_headers(PATH)) as ws,
        ):
            return await body(ws)

    return asyncio.run(run())


async def answer(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    message = await ws.receive(timeout=10)
    assert message.type == aiohttp.WSMsgType.BINARY, message
    data: dict[str, Any] = orjson.loads(message.data)
    return data


def poll_message(call_id: int, wait: int = 0) -> bytes:
    return orjson.dumps(
        {
            "id": call_id,
            "op": "PollAssignments",
            "input": {"cluster": "c", "containerInstance": "i", "waitSeconds": wait},
        }
    )


def test_calls_carry_the_upgrades_identity_and_region(host: str) -> None:
    async def body(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
        await ws.send_str(poll_message(1).decode())  # text messages are calls too
        return await answer(ws)

    assert on_channel(host, body) == {"id": 1, "output": {"revision": 1, "tasks": []}}
    [ctx] = SEEN
    assert (ctx.account_id, ctx.region, ctx.access_key_id) == (ACCOUNT_ID, "eu-west-1", ACCESS_KEY_ID)
    assert len(ctx.request_id) == 36


def test_a_revoked_key_ends_the_channel(host: str) -> None:
    async def body(ws: aiohttp.ClientWebSocketResponse) -> tuple[dict[str, Any], dict[str, Any], int | None]:
        await ws.send_bytes(poll_message(1))
        first = await answer(ws)
        del KEYS[ACCESS_KEY_ID]
        await ws.send_bytes(poll_message(2))
        second = await answer(ws)
        closing = await ws.receive(timeout=10)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
        return first, second, ws.close_code

    first, second, code = on_channel(host, body)
    assert "output" in first
    assert second["error"]["__type"] == "UnrecognizedClientException"
    assert code == CLOSE_REVOKED


def test_a_crashing_handler_is_a_server_exception_and_the_channel_lives_on(
    host: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def body(ws: aiohttp.ClientWebSocketResponse) -> list[dict[str, Any]]:
        stats = {"id": 1, "op": "ReportStats", "input": {"cluster": "c", "containerInstance": "i"}}
        await ws.send_bytes(orjson.dumps(stats))
        crashed = await answer(ws)
        await ws.send_bytes(poll_message(2))
        return [crashed, await answer(ws)]

    crashed, after = on_channel(host, body)
    assert crashed["error"]["__type"] == "ServerException" and crashed["error"]["status"] == 500
    assert "a bug" not in crashed["error"]["message"]  # no internals in the answer
    assert "output" in after


def test_calls_beyond_the_cap_are_throttled_and_oversized_ones_refused(host: str) -> None:
    async def body(ws: aiohttp.ClientWebSocketResponse) -> list[dict[str, Any]]:
        RELEASE.clear()
        for i in range(3):
            await ws.send_bytes(poll_message(i, wait=59))  # held: the channel's 3 calls
        await ws.send_bytes(poll_message(3))
        throttled = await answer(ws)
        big = {"id": 4, "op": "PollAssignments", "input": {"cluster": "c" * 4000, "containerInstance": "i"}}
        await ws.send_bytes(orjson.dumps(big))
        too_big = await answer(ws)
        RELEASE.set()
        held = [await answer(ws) for _ in range(3)]
        return [throttled, too_big, *held]

    throttled, too_big, *held = on_channel(host, body)
    assert (throttled["id"], throttled["error"]["__type"]) == (3, "ThrottlingException")
    assert (too_big["id"], too_big["error"]["__type"]) == (4, "RequestEntityTooLargeException")
    assert too_big["error"]["status"] == 413
    assert sorted(h["id"] for h in held) == [0, 1, 2] and all("output" in h for h in held)
