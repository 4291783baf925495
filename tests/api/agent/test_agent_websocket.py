"""The agent service over its WebSocket channel (``GET /agent/channel``, api/aws/channel), against
a real server: the signed upgrade, calls answered as their HTTP requests are, errors with their
AWS codes, calls that run side by side, and what a refused upgrade answers."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson
import pytest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError, ParamValidationError

from stowage.client.signer import JsonSigner
from stowage.model.aws_models import AGENT_CHANNEL_PATH
from tests.api.ecs.task_support import agent_client, make_cluster, register_instance, register_td
from tests.support.server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, ServerProcess

Socket = aiohttp.ClientWebSocketResponse


def signed(server: ServerProcess, secret: str = SECRET_ACCESS_KEY, service: str = "ecs") -> dict[str, str]:
    signer = JsonSigner(Credentials(ACCESS_KEY_ID, secret), service, REGION, server.endpoint + "/")
    return signer.upgrade_headers(AGENT_CHANNEL_PATH)


def on_channel(server: ServerProcess, body: Callable[[Socket], Awaitable[Any]]) -> Any:
    async def run() -> Any:
        async with aiohttp.ClientSession() as session:
            url = server.endpoint + AGENT_CHANNEL_PATH
            async with session.ws_connect(url, headers=signed(server)) as ws:
                return await body(ws)

    return asyncio.run(run())


async def answer(ws: Socket) -> dict[str, Any]:
    message = await ws.receive(timeout=30)
    assert message.type == aiohttp.WSMsgType.BINARY, message
    data: dict[str, Any] = orjson.loads(message.data)
    return data


async def call(ws: Socket, call_id: int, op: str, params: dict[str, Any]) -> dict[str, Any]:
    await ws.send_bytes(orjson.dumps({"id": call_id, "op": op, "input": params}))
    reply = await answer(ws)
    assert reply["id"] == call_id
    return reply


def test_a_poll_on_the_channel_answers_its_assignments(ecs: Any, server: ServerProcess) -> None:
    cluster = make_cluster(ecs)
    arn = register_instance(ecs, cluster)["containerInstanceArn"]
    td = register_td(ecs)
    task = ecs.run_task(cluster=cluster, taskDefinition=td["family"])["tasks"][0]
    params = {"cluster": cluster, "containerInstance": arn, "waitSeconds": 0}

    async def body(ws: Socket) -> dict[str, Any]:
        return await call(ws, 1, "PollAssignments", params)

    reply = on_channel(server, body)
    assert "error" not in reply
    [assignment] = reply["output"]["tasks"]
    assert assignment["taskArn"] == task["taskArn"]
    assert assignment["desiredStatus"] == "RUNNING"
    # the same request over HTTP (signed by botocore) sees the same assignment
    http = server.boto3_client("ecs")
    assert (
        http.describe_tasks(cluster=cluster, tasks=[task["taskArn"]])["tasks"][0]["lastStatus"] == "PENDING"
    )


def http_code(agent: Any, op: str, params: dict[str, Any]) -> str:
    """The error code of the same call as a signed HTTP request (botocore, stowage's model)."""
    method = getattr(agent, "".join("_" + c.lower() if c.isupper() else c for c in op).lstrip("_"))
    try:
        method(**params)
    except (ClientError, ParamValidationError) as exc:
        return str(getattr(exc, "response", {}).get("Error", {}).get("Code", "ParamValidationError"))
    raise AssertionError(f"{op} {params} did not fail over HTTP")


def test_errors_are_the_ones_http_answers(ecs: Any, server: ServerProcess) -> None:
    cluster = make_cluster(ecs)
    arn = register_instance(ecs, cluster)["containerInstanceArn"]
    cases: list[tuple[str, dict[str, Any]]] = [
        ("PollAssignments", {"cluster": "no-such-cluster-x", "containerInstance": "i"}),
        ("PollAssignments", {"cluster": cluster, "containerInstance": "0123456789abcdef0123456789abcdef"}),
        ("PollAssignments", {"cluster": cluster, "containerInstance": arn, "waitSeconds": 10_000}),
        (
            "SubmitTaskState",
            {"cluster": cluster, "containerInstance": arn, "task": "t", "lastStatus": "NAPPING"},
        ),
        ("ReportStats", {"cluster": cluster, "containerInstance": "0123456789abcdef0123456789abcdef"}),
    ]
    agent = agent_client(server)
    over_http = [http_code(agent, op, params) for op, params in cases]

    async def body(ws: Socket) -> list[dict[str, Any]]:
        replies = [await call(ws, i, op, params) for i, (op, params) in enumerate(cases)]
        # what HTTP would refuse before any handler: a missing required member, a wrong type
        replies.append(await call(ws, 10, "PollAssignments", {"containerInstance": "i"}))
        replies.append(await call(ws, 11, "PollAssignments", {"cluster": cluster, "containerInstance": 7}))
        replies.append(await call(ws, 12, "DeleteEverything", {}))
        await ws.send_bytes(orjson.dumps({"id": 13, "op": "ReportStats", "input": []}))
        replies.append(await answer(ws))
        await ws.send_bytes(b"{not json")
        replies.append(await answer(ws))
        await ws.send_bytes(b'{"id": "seven", "op": "PollAssignments"}')
        replies.append(await answer(ws))
        # still open and serving after all of that
        replies.append(await call(ws, 16, *cases[0]))
        return replies

    replies = on_channel(server, body)
    codes = [r["error"]["__type"] for r in replies]
    assert codes[: len(cases)] == over_http
    assert "ParamValidationError" not in over_http
    assert codes[len(cases) :] == [
        "InvalidParameterException",
        "SerializationException",
        "UnknownOperationException",
        "SerializationException",
        "SerializationException",
        "SerializationException",
        over_http[0],
    ]
    assert all(r["error"]["status"] == 400 and r["error"]["message"] for r in replies)
    assert [r["id"] for r in replies[-3:-1]] == [None, None]


def test_a_long_poll_holds_up_no_other_call(ecs: Any, server: ServerProcess) -> None:
    cluster = make_cluster(ecs)
    arn = register_instance(ecs, cluster)["containerInstanceArn"]
    td = register_td(ecs)

    async def body(ws: Socket) -> tuple[list[int], float]:
        first = {"cluster": cluster, "containerInstance": arn, "waitSeconds": 0}
        known = (await call(ws, 1, "PollAssignments", first))["output"]["revision"]
        waiting = {**first, "waitSeconds": 20, "knownRevision": known}
        await ws.send_bytes(orjson.dumps({"id": 2, "op": "PollAssignments", "input": waiting}))
        await ws.send_bytes(orjson.dumps({"id": 3, "op": "PollAssignments", "input": first}))
        order = [(await answer(ws))["id"]]
        started = time.monotonic()
        # a new task for the instance wakes the waiting poll
        await asyncio.to_thread(ecs.run_task, cluster=cluster, taskDefinition=td["family"])
        order.append((await answer(ws))["id"])
        return order, time.monotonic() - started

    order, woke_after = on_channel(server, body)
    assert order == [3, 2]
    assert woke_after < 15  # woken by the task, not by the end of its 20 s wait


def polls_refused(server: ServerProcess) -> float:
    """PollAssignments answered 400, as /metrics counts them."""
    with urllib.request.urlopen(server.endpoint + "/metrics") as resp:
        lines = resp.read().decode().splitlines()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in lines
        if line.startswith("stowage_api_requests_total{")
        and 'operation="PollAssignments"' in line
        and 'code="400"' in line
    )


def test_calls_are_counted_with_the_http_requests(server: ServerProcess) -> None:
    before = polls_refused(server)

    async def body(ws: Socket) -> None:
        for i in range(3):
            await call(ws, i, "PollAssignments", {"cluster": "no-such-cluster-y", "containerInstance": "i"})

    on_channel(server, body)
    assert polls_refused(server) - before == 3


@pytest.mark.parametrize(
    ("secret", "service", "code"),
    [
        ("not-the-secret", "ecs", "InvalidSignatureException"),
        (SECRET_ACCESS_KEY, "logs", "InvalidSignatureException"),  # scoped to another service
    ],
)
def test_a_badly_signed_upgrade_gets_the_aws_error(
    server: ServerProcess, secret: str, service: str, code: str
) -> None:
    async def run() -> tuple[int, dict[str, Any]]:
        async with aiohttp.ClientSession() as session:
            headers = {
                **signed(server, secret, service),
                "Connection": "Upgrade",
                "Upgrade": "websocket",
                "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            }
            async with session.get(server.endpoint + AGENT_CHANNEL_PATH, headers=headers) as resp:
                return resp.status, orjson.loads(await resp.read())

    status, body = asyncio.run(run())
    assert status == 400
    assert body["__type"] == code and body["message"]


def test_an_unsigned_upgrade_is_refused(server: ServerProcess) -> None:
    async def run() -> int:
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(server.endpoint + AGENT_CHANNEL_PATH):
                    return 101
            except aiohttp.WSServerHandshakeError as exc:
                return exc.status

    assert asyncio.run(run()) == 400
