"""AWS JSON over one WebSocket: a service's calls as messages on a connection the caller keeps.

A fleet of agents makes most of the control plane's requests (a long-poll per assignment, state
and stats reports), and each HTTP request costs the server more than its handler does: headers,
SigV4 (a canonical request and an HMAC per request), the response head, two socket writes. On
a channel the signature is checked once, when the connection opens, and a call is one message
each way. ECS's own agent talks to its control plane the same way (the ACS WebSocket).

``GET <path>`` upgraded to a WebSocket, signed with SigV4 for the service exactly as any of its
requests (the canonical request of a ``GET`` with an empty body; botocore signs it the same
way). A refused upgrade is answered as that request would be: the AWS error's status and
``{"__type", "message"}`` body. Once open, every message (binary or text) is one call::

    -> {"id": 7, "op": "PollAssignments", "input": {...}}
    <- {"id": 7, "output": {...}}
    <- {"id": 7, "error": {"__type": "ClusterNotFoundException", "message": "...", "status": 400}}

Calls run concurrently (a long-poll holds nothing else up) and are answered in the order they
finish, each once. Each goes through what its HTTP request would (validation with the same
error codes, the handler, output serialization; an unexpected exception is a logged
``ServerException``), in the account and region of the signature, and the key is looked up
again for every call: a revoked key's call is refused (``UnrecognizedClientException``) and
the channel closed. A message that is not a call (bad JSON, no integer ``id``) is answered
with ``SerializationException`` and ``"id": null``; one larger than the API's body limit with
``RequestEntityTooLargeException``; calls beyond ``max_in_flight`` at once with
``ThrottlingException``, which clients retry. A caller that stops waiting simply ignores the
answer, as an HTTP client that closes its connection does: the handler is not cancelled
(handlers are written for HTTP, where they never are).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from stowage.api.aws.app import DEFAULT_MAX_BODY_BYTES, AwsApi, new_request_id
from stowage.api.aws.catalog import Operation, ServiceInfo
from stowage.api.aws.context import RequestContext
from stowage.api.aws.errors import (
    AwsError,
    request_too_large,
    serialization_error,
    server_error,
    throttling,
    unknown_operation,
    unrecognized_client,
)
from stowage.model.identity import Credential

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Observe = Callable[[str, str, int, float], None]
"""(service, operation, status, seconds) of each call, as ``RequestStats.observe`` takes them."""

DEFAULT_MAX_IN_FLIGHT = 256
"""Calls one channel may have running at once: an agent has a poll and a few reports."""
CLOSE_REVOKED = 4401
"""Close code after a call found the channel's key revoked."""

log = logging.getLogger("stowage.api.aws.channel")


class JsonChannel:
    """Serves one service's operations over WebSockets (``serve`` is the ASGI handler)."""

    def __init__(
        self,
        api: AwsApi,
        service_name: str,
        observe: Observe | None = None,
        *,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        max_message_bytes: int = DEFAULT_MAX_BODY_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        infos = [info for info in api.catalog.services.values() if info.service_name == service_name]
        if not infos:
            raise ValueError(f"the API serves no service {service_name!r}")
        self.service: ServiceInfo = infos[0]
        self._ops = {op.name: op for op in api.catalog.operations.values() if op.service is self.service}
        self.api = api
        self._observe = observe
        self.max_in_flight = max_in_flight
        self.max_bytes = max_message_bytes
        self.clock = clock

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        try:
            credential, region = await self.api.authenticate_upgrade(self.service, scope, self.clock())
        except AwsError as err:
            await _refuse(scope, send, err, self.service.content_type)
            return
        await send({"type": "websocket.accept"})
        await _Connection(self, credential, region, send).run(receive)

    def operation(self, name: object) -> Operation:
        op = self._ops.get(name) if isinstance(name, str) else None
        if op is None:
            raise unknown_operation(f"Unknown operation {self.service.target_prefix}.{name}")
        return op

    def observe(self, op: Operation, status: int, started: float) -> None:
        if self._observe is not None:
            self._observe(self.service.service_name, op.name, status, time.perf_counter() - started)


class _Connection:
    """One open channel: its identity and the calls running on it."""

    def __init__(self, channel: JsonChannel, credential: Credential, region: str, send: Send) -> None:
        self.channel = channel
        self.credential = credential
        self.region = region
        self._send = send
        self._calls: set[asyncio.Task[None]] = set()
        self._revoked = False

    async def run(self, receive: Receive) -> None:
        # On disconnect the calls still running finish (handlers are never cancelled); their
        # answers have nowhere to go.
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes")
            if data is None:
                data = str(message.get("text") or "").encode()
            self._dispatch(data)

    def _dispatch(self, data: bytes) -> None:
        if len(data) > self.channel.max_bytes:
            self._answer_now(_call_id(data), request_too_large(self.channel.max_bytes))
            return
        try:
            message = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            self._answer_now(None, serialization_error(f"Malformed JSON message: {exc}"))
            return
        call_id = message.get("id") if isinstance(message, dict) else None
        if not isinstance(call_id, int) or isinstance(call_id, bool):
            self._answer_now(None, serialization_error("A message must be an object with an integer id"))
            return
        try:
            op = self.channel.operation(message.get("op"))
        except AwsError as err:
            self._answer_now(call_id, err)
            return
        if len(self._calls) >= self.channel.max_in_flight:
            self._answer_now(call_id, throttling(f"Rate exceeded: over {len(self._calls)} calls at once"))
            return
        task = asyncio.create_task(self._call(call_id, op, message.get("input", {})))
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)

    async def _call(self, call_id: int, op: Operation, data: object) -> None:
        started = time.perf_counter()
        request_id = new_request_id()
        status = 200
        try:
            if await self.channel.api.lookup_credential(self.credential.access_key_id) is None:
                self._revoked = True
                raise unrecognized_client()
            ctx = RequestContext(
                account_id=self.credential.account_id,
                region=self.region,
                request_id=request_id,
                access_key_id=self.credential.access_key_id,
                principal_arn=self.credential.principal_arn,
                now=self.channel.clock(),
            )
            result = await self.channel.api.invoke(op, data, ctx)
            frame = orjson.dumps({"id": call_id, "output": result})
        except AwsError as err:
            status, frame = err.status, _error_frame(call_id, err)
        except Exception:
            # What invoke does not answer itself (the key lookup, an answer orjson refuses).
            log.exception(
                "%s.%s failed on a channel (request %s)", op.service.service_name, op.name, request_id
            )
            status, frame = 500, _error_frame(call_id, server_error())
        self.channel.observe(op, status, started)
        await self._write(frame)
        if self._revoked:
            await self._write_close(CLOSE_REVOKED)

    def _answer_now(self, call_id: int | None, err: AwsError) -> None:
        """An answer that needs no handler: sent from its own task so reading goes on."""
        task = asyncio.create_task(self._write(_error_frame(call_id, err)))
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)

    async def _write(self, frame: bytes) -> None:
        # The client went away: like an HTTP answer to a closed connection, dropped.
        with contextlib.suppress(OSError):
            await self._send({"type": "websocket.send", "bytes": frame})

    async def _write_close(self, code: int) -> None:
        with contextlib.suppress(OSError):
            await self._send({"type": "websocket.close", "code": code})


def _call_id(data: bytes) -> int | None:
    """The id of an oversized message, if its start shows one (``{"id": 7, ...``)."""
    head = data[:40]
    if not head.startswith(b'{"id":'):
        return None
    digits = head[6:].lstrip().split(b",", 1)[0].strip()
    return int(digits) if digits.isdigit() else None


def _error_frame(call_id: int | None, err: AwsError) -> bytes:
    return orjson.dumps(
        {"id": call_id, "error": {"__type": err.code, "message": err.message, "status": err.status}}
    )


async def _refuse(scope: Scope, send: Send, err: AwsError, content_type: str) -> None:
    """The upgrade refused with the AWS answer to the same HTTP request (when the server can
    send a response to a WebSocket request; else a plain close, which clients see as 403)."""
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 1008})
        return
    body = orjson.dumps({"__type": err.code, "message": err.message})
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"x-amzn-requestid", new_request_id().encode()),
    ]
    await send({"type": "websocket.http.response.start", "status": err.status, "headers": headers})
    await send({"type": "websocket.http.response.body", "body": body})
