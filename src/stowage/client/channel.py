"""`ChannelClient`: one AWS JSON service's calls over a WebSocket the client keeps open.

The server's end is ``stowage.api.aws.channel`` (its docstring has the protocol): the upgrade is
signed once with SigV4, then each call is a message ``{"id", "op", "input"}`` answered by
``{"id", "output"}`` or ``{"id", "error": {"__type", "message", "status"}}``. Answers come in
any order; each call waits for its own.

The connection opens at the first call and again at the first call after it was lost; calls in
flight when it is lost fail with `EndpointUnavailableError`, as an HTTP call whose connection
broke. A server that does not serve the channel (the upgrade answered 404) raises
`ChannelUnsupported`, once: the caller falls back to HTTP. Other refused upgrades (a bad
signature) raise it too, and the next attempt waits ``retry_after_s``: the caller's HTTP call
then gets the real AWS error.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson

from stowage.client.errors import ApiError, EndpointUnavailableError
from stowage.client.json_client import error_code
from stowage.client.signer import JsonSigner

JSON = dict[str, Any]
_HEARTBEAT_S = 30.0
_RETRY_UPGRADE_S = 30.0


class ChannelUnsupported(Exception):
    """The server refused the upgrade: use HTTP (``permanent``: it does not serve the channel)."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class _Link:
    """One open WebSocket and the calls waiting for their answers on it."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.pending: dict[int, tuple[str, asyncio.Future[JSON]]] = {}
        self.reader: asyncio.Task[None] | None = None

    @property
    def open(self) -> bool:
        return not self.ws.closed and (self.reader is None or not self.reader.done())

    def deliver(self, data: bytes) -> None:
        try:
            answer = orjson.loads(data)
        except orjson.JSONDecodeError:
            return  # not an answer of this protocol; nothing waits for it
        if not isinstance(answer, dict):
            return
        call_id = answer.get("id")
        waiting = self.pending.pop(call_id, None) if isinstance(call_id, int) else None
        if waiting is None or waiting[1].done():
            return
        operation, future = waiting
        error = answer.get("error")
        if isinstance(error, dict):
            code = error_code(error.get("__type"))
            status = error.get("status")
            message = str(error.get("message") or "")
            future.set_exception(
                ApiError(code, message, status if isinstance(status, int) else 400, operation)
            )
            return
        output = answer.get("output")
        future.set_result(output if isinstance(output, dict) else {})

    def fail_pending(self, reason: str) -> None:
        pending, self.pending = self.pending, {}
        for operation, future in pending.values():
            if not future.done():
                future.set_exception(EndpointUnavailableError(f"{operation}: {reason}"))


class ChannelClient:
    """Calls over one WebSocket to ``endpoint + path``; cheap until the first call."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        endpoint: str,
        path: str,
        signer: JsonSigner,
        *,
        retry_after_s: float = _RETRY_UPGRADE_S,
    ) -> None:
        self._session = session
        self._url = endpoint.rstrip("/") + path
        self._path = path
        self._signer = signer
        self._retry_after_s = retry_after_s
        self._link: _Link | None = None
        self._connecting: asyncio.Lock | None = None
        self._ids = itertools.count(1)
        self._refused_until = 0.0
        self.unsupported = False
        """Set once the server answered the upgrade 404: it has no channel, use HTTP."""

    @property
    def connected(self) -> bool:
        return self._link is not None and self._link.open

    async def call(self, operation: str, params: Mapping[str, Any], *, timeout_s: float) -> JSON:
        """One call's output; `ApiError` for its error answer, `EndpointUnavailableError` when
        the channel could not be opened or was lost before the answer, `ChannelUnsupported`
        when the server refused the upgrade."""
        link = self._link if self._link is not None and self._link.open else await self._connect()
        call_id = next(self._ids)
        future: asyncio.Future[JSON] = asyncio.get_running_loop().create_future()
        link.pending[call_id] = (operation, future)
        try:
            try:
                await link.ws.send_bytes(orjson.dumps({"id": call_id, "op": operation, "input": params}))
            except (ConnectionError, aiohttp.ClientError) as exc:
                raise EndpointUnavailableError(f"{operation}: {self._url}: {exc}") from exc
            try:
                async with asyncio.timeout(timeout_s):
                    return await future
            except TimeoutError as exc:
                raise EndpointUnavailableError(f"{operation}: no answer in {timeout_s:g}s") from exc
        finally:
            # A caller that gives up leaves the answer unclaimed: it is dropped when it comes.
            link.pending.pop(call_id, None)

    async def close(self) -> None:
        link, self._link = self._link, None
        if link is None:
            return
        if link.reader is not None:
            link.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await link.reader
        await link.ws.close()
        link.fail_pending("the channel was closed")

    async def _connect(self) -> _Link:
        if self.unsupported:
            raise ChannelUnsupported(f"{self._url}: the server has no channel", permanent=True)
        if time.monotonic() < self._refused_until:
            raise ChannelUnsupported(f"{self._url}: the upgrade was refused", permanent=False)
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._link is not None and self._link.open:
                return self._link
            try:
                ws = await self._session.ws_connect(
                    self._url, headers=self._signer.upgrade_headers(self._path), heartbeat=_HEARTBEAT_S
                )
            except aiohttp.WSServerHandshakeError as exc:
                if exc.status == 404:
                    self.unsupported = True
                    raise ChannelUnsupported(f"{self._url}: 404", permanent=True) from exc
                self._refused_until = time.monotonic() + self._retry_after_s
                raise ChannelUnsupported(f"{self._url}: {exc.status} {exc.message}", permanent=False) from exc
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                raise EndpointUnavailableError(f"{self._url}: {exc or type(exc).__name__}") from exc
            link = self._link = _Link(ws)
            link.reader = asyncio.create_task(self._read(link))
            return link

    async def _read(self, link: _Link) -> None:
        try:
            async for message in link.ws:
                if message.type == aiohttp.WSMsgType.BINARY:
                    link.deliver(message.data)
                elif message.type == aiohttp.WSMsgType.TEXT:
                    link.deliver(str(message.data).encode())
        finally:
            if self._link is link:
                self._link = None
            link.fail_pending(f"{self._url}: the channel closed ({link.ws.close_code})")
