"""The agent's end of an exec tunnel: ``GET /agent/exec/{session}`` upgraded to a WebSocket.

The session id is the credential: a 128-bit secret that only the host's own signed
PollAssignments answer carried, valid until claimed once (``controllers/exec_broker``). The
messages are relayed as they are: Kubernetes remote-command frames from the agent go to the
client, the client's to the agent. ``pump`` is the ASGI WebSocket half both ends share.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from stowage.controllers.exec_broker import ExecBroker

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

PREFIX = "/agent/exec/"


async def pump(
    receive: Receive,
    send: Send,
    *,
    inbound: asyncio.Queue[bytes | None],
    outbound: asyncio.Queue[bytes | None],
) -> None:
    """Relay one accepted ASGI WebSocket: what it receives goes into ``inbound`` (None when it
    closes), what comes out of ``outbound`` is sent (None closes it). Returns when either ends."""

    async def reader() -> None:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes")
            if data is None and message.get("text") is not None:
                data = str(message["text"]).encode()
            if data:
                await inbound.put(bytes(data))

    async def writer() -> None:
        while True:
            data = await outbound.get()
            if data is None:
                return
            await send({"type": "websocket.send", "bytes": data})

    read, write = asyncio.create_task(reader()), asyncio.create_task(writer())
    try:
        await asyncio.wait({read, write}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if read.done() and not write.done():
            await inbound.put(None)
        for task in (read, write):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await send({"type": "websocket.close", "code": 1000})


async def serve_agent_exec(broker: ExecBroker, scope: Scope, receive: Receive, send: Send) -> None:
    connect = await receive()
    if connect["type"] != "websocket.connect":
        return
    session = broker.claim(str(scope["path"])[len(PREFIX) :])
    if session is None:
        await send({"type": "websocket.close", "code": 4404})  # unknown or already claimed
        return
    await send({"type": "websocket.accept"})
    try:
        await pump(receive, send, inbound=session.to_client, outbound=session.to_agent)
    finally:
        await session.to_client.put(None)  # the client's side ends with the agent's
        broker.close(session.request.id)
