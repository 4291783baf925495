"""``Instrumented``: an ASGI wrapper that times every AWS API request by service and operation.

It reads the ``X-Amz-Target`` header (the JSON protocols) or the path of an RPC v2 CBOR request
(``smithy-protocol`` header); REST and query requests are counted under their method. It takes
the status from the response start, and records the time from the request's arrival to the end
of the response body in ``RequestStats``. Operation labels come only from the catalog: an
unknown target is counted as ``unknown``, so a client sending random targets cannot grow the
label set.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from stowage.api.aws.catalog import Catalog
from stowage.controllers.telemetry import RequestStats

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class Instrumented:
    def __init__(self, app: App, catalog: Catalog, stats: RequestStats) -> None:
        self.app = app
        self.stats = stats
        self._names = {
            target.encode(): (op.service.service_name, op.name) for target, op in catalog.operations.items()
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        names = ("rest", scope.get("method", "GET"))
        for name, value in scope["headers"]:
            if name == b"x-amz-target":
                names = self._names.get(value, ("unknown", "unknown"))
                break
            if name == b"smithy-protocol":
                # RPC v2 CBOR: the target is the path's .../service/<prefix>/operation/<Op>.
                parts = scope.get("path", "").rsplit("/", 4)
                target = f"{parts[2].rpartition('.')[2]}.{parts[4]}" if len(parts) == 5 else ""
                names = self._names.get(target.encode(), ("unknown", "unknown"))
                break
        status = 0

        async def timed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            self.stats.observe(names[0], names[1], status, time.perf_counter() - started)
