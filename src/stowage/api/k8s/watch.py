"""Watch streams (``?watch=true``): newline-delimited JSON events over a chunked response.

- No ``resourceVersion`` (or ``"0"``): synthetic ADDED events for the current objects, then
  changes after the list revision. Otherwise changes after that revision; a revision the store
  has compacted gets an ERROR event carrying a 410 ``Expired`` Status, so clients re-list.
- Selectors apply per event: an object that stops matching is sent as DELETED, one that
  starts matching as ADDED (what the API server's watch cache does).
- ``allowWatchBookmarks``: BOOKMARK events carry the last revision this stream has covered.
- ``timeoutSeconds`` ends the stream; so does the client going away.
- Table watches (kubectl get -w) send one-row Tables as event objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import orjson

from stowage.api.k8s.context import ApiContext
from stowage.api.k8s.handlers import collect
from stowage.api.k8s.http import Request, Send, status_body
from stowage.api.k8s.registry import ResourceType
from stowage.api.k8s.tables import table, wants_table
from stowage.model.k8s.errors import K8sError
from stowage.model.k8s.selectors import parse_field_selector, parse_label_selector
from stowage.resources.k8s_objects import decode
from stowage.store.base import Compacted, EventType, StoreError

Obj = dict[str, Any]


class _Stream:
    def __init__(self, ctx: ApiContext, rt: ResourceType, request: Request, send: Send) -> None:
        self.ctx, self.rt, self.request, self.send = ctx, rt, request, send
        self.table_version = wants_table(request.headers.get("accept", ""))
        self.include = request.query.get("includeObject", "Metadata")
        self.first_table = True

    async def start(self) -> None:
        ctype = "application/json;as=Table;v=v1;g=meta.k8s.io" if self.table_version else "application/json"
        await self.send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", ctype.encode()), (b"cache-control", b"no-cache, private")],
            }
        )

    def _object(self, stored: Obj) -> Obj:
        served = self.ctx.service.served(self.rt, dict(stored))
        if not self.table_version:
            return served
        rv = str((served.get("metadata") or {}).get("resourceVersion", ""))
        out = table(
            self.rt, [(stored, served)], resource_version=rv, include=self.include,
            version=self.table_version, with_columns=self.first_table,
        )  # fmt: skip
        self.first_table = False
        return out

    async def event(self, kind: str, stored: Obj) -> None:
        await self.raw({"type": kind, "object": self._object(stored)})

    async def raw(self, event: Obj) -> None:
        await self.send(
            {"type": "http.response.body", "body": orjson.dumps(event) + b"\n", "more_body": True}
        )

    async def end(self) -> None:
        await self.send({"type": "http.response.body", "body": b"", "more_body": False})


async def serve_watch(
    ctx: ApiContext, rt: ResourceType, ns: str | None, request: Request, send: Send
) -> None:
    labels = parse_label_selector(request.query.get("labelSelector"))
    fields = parse_field_selector(request.query.get("fieldSelector"))
    getters = rt.field_getters
    fields.check(getters, rt.kind)
    rv_text = request.query.get("resourceVersion", "")
    bookmarks = request.flag("allowWatchBookmarks")
    timeout = request.int_param("timeoutSeconds")
    deadline = time.monotonic() + (timeout if timeout and timeout > 0 else ctx.default_watch_timeout)
    try:
        start_after = int(rv_text) if rv_text not in ("", "0") else None
    except ValueError:
        raise K8sError(400, "BadRequest", f"invalid resource version {rv_text!r}") from None
    if start_after is not None and start_after > await ctx.service.objects.revision():
        raise K8sError(504, "Timeout", f"Too large resource version: {start_after}")

    def matches(obj: Obj) -> bool:
        return labels.matches((obj.get("metadata") or {}).get("labels")) and fields.matches(obj, getters)

    stream = _Stream(ctx, rt, request, send)
    initial: list[Obj] = []
    if start_after is None:
        request.query.pop("limit", None)
        request.query.pop("continue", None)
        initial, start_after, _ = await collect(ctx, rt, ns, request)
    watch = ctx.service.objects.watch(ctx.service.prefix(rt, ns), start_after + 1)
    await stream.start()
    disconnected = asyncio.Event()

    async def listen() -> None:
        """Ends the stream when the client goes away or the server shuts down."""
        closing = asyncio.ensure_future(ctx.closing.wait())
        try:
            while True:
                receiving = asyncio.ensure_future(request.receive())
                await asyncio.wait({receiving, closing}, return_when=asyncio.FIRST_COMPLETED)
                if not receiving.done():
                    receiving.cancel()
                    return
                if receiving.result()["type"] == "http.disconnect":
                    return
        finally:
            closing.cancel()
            disconnected.set()

    listener = asyncio.create_task(listen())
    last_rv = start_after
    try:
        for obj in initial:
            await stream.event("ADDED", obj)
        iterator = watch.__aiter__()
        pending: asyncio.Task[Any] | None = None
        while not disconnected.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if pending is None:
                pending = asyncio.ensure_future(iterator.__anext__())
            wait_for = min(remaining, ctx.watch_bookmark_interval) if bookmarks else remaining
            stop = asyncio.ensure_future(disconnected.wait())
            done, _ = await asyncio.wait(
                {pending, stop}, timeout=wait_for, return_when=asyncio.FIRST_COMPLETED
            )
            stop.cancel()
            if pending not in done:
                if bookmarks and not disconnected.is_set():
                    await stream.raw(
                        {
                            "type": "BOOKMARK",
                            "object": {
                                "kind": rt.kind,
                                "apiVersion": rt.api_version,
                                "metadata": {"resourceVersion": str(last_rv)},
                            },
                        }
                    )
                continue
            try:
                batch = pending.result()
            except StopAsyncIteration:
                break
            finally:
                pending = None
            for ev in batch:
                last_rv = max(last_rv, ev.kv.mod_revision)
                if ev.type is EventType.PUT:
                    new = decode(ev.kv)
                    old = decode(ev.prev_kv) if ev.prev_kv is not None else None
                    now_match, was_match = matches(new), old is not None and matches(old)
                    if now_match:
                        await stream.event("MODIFIED" if was_match else "ADDED", new)
                    elif was_match:
                        await stream.event("DELETED", new)
                elif ev.prev_kv is not None:
                    gone = decode(ev.prev_kv)
                    gone["metadata"]["resourceVersion"] = str(ev.kv.mod_revision)
                    if matches(gone):
                        await stream.event("DELETED", gone)
        if pending is not None:
            pending.cancel()
    except Compacted as c:
        message = f"too old resource version: {start_after} ({c.compact_revision})"
        with contextlib.suppress(Exception):
            await stream.raw({"type": "ERROR", "object": status_body(410, "Expired", message)})
    except (StoreError, OSError):
        pass
    finally:
        listener.cancel()
        await watch.close()
        with contextlib.suppress(Exception):
            await stream.end()
