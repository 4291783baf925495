"""``pods/portforward``: ``kubectl port-forward`` (pods, and services and deployments, which
kubectl resolves to a pod itself).

kubectl >= 1.31 upgrades ``GET .../pods/<name>/portforward`` to a WebSocket with the subprotocol
``SPDY/3.1+portforward.k8s.io`` and speaks SPDY inside it (KEP 4006); if that upgrade is refused
it falls back to a plain SPDY upgrade (``POST``), which this server does not offer: the plain
request gets the same refusal as a ``Status``, so kubectl prints why. The pod's host's agent
is asked for a port-forward session through the exec broker (``controllers/exec_broker``) and
the WebSocket is accepted once it connected, so that a pod without a running task or an agent
that does not answer is refused with a ``Status`` during the handshake. Then
``api/k8s/portforward_spdy`` turns SPDY streams into tunnel messages and back, until either
side closes.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson

from stowage.api.agent.exec_ws import Receive, Scope, Send
from stowage.api.k8s.context import ApiContext
from stowage.api.k8s.http import error_body
from stowage.api.k8s.portforward_spdy import SpdyPortForward
from stowage.controllers.exec_broker import CLAIM_TIMEOUT, ExecSession
from stowage.model.k8s import spdy
from stowage.model.k8s.errors import K8sError

Obj = dict[str, Any]
SUBPROTOCOL = "SPDY/3.1+portforward.k8s.io"


def portforward_path(parts: list[str]) -> tuple[str, str] | None:
    """(namespace, pod) of ``/api/v1/namespaces/<ns>/pods/<name>/portforward``."""
    shape = (*parts[:3], parts[4], parts[6]) if len(parts) == 7 else ()
    if shape == ("api", "v1", "namespaces", "pods", "portforward"):
        return parts[3], parts[5]
    return None


async def _running_pod(ctx: ApiContext, ns: str, name: str) -> Obj:
    rt = ctx.registry.lookup("", "v1", "pods")
    assert rt is not None
    pod = (await ctx.service.get(rt, ns, name)).obj
    if ((pod.get("status") or {}).get("phase")) != "Running":
        phase = (pod.get("status") or {}).get("phase") or "Pending"
        raise K8sError(400, "BadRequest", f"pod {name} is not running (phase {phase})")
    return pod


async def refuse_plain(ctx: ApiContext, ns: str, name: str) -> K8sError:
    """The answer to a port-forward request that is not a WebSocket upgrade (kubectl's SPDY
    fallback, or a plain HTTP client): the pod's own error if it has one, else why not."""
    await _running_pod(ctx, ns, name)
    return K8sError(
        400, "BadRequest", f"Upgrade request required: use a WebSocket with the subprotocol {SUBPROTOCOL}"
    )


async def serve_port_forward(
    ctx: ApiContext, scope: Scope, receive: Receive, send: Send, *, target: tuple[str, str]
) -> None:
    """Serve one port-forward WebSocket (the connect message not yet read)."""
    ns, name = target
    connect = await receive()
    if connect["type"] != "websocket.connect":
        return
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    offered = {p.strip() for p in headers.get("sec-websocket-protocol", "").split(",")}
    session: ExecSession | None = None
    try:
        if SUBPROTOCOL not in offered:
            raise K8sError(400, "BadRequest", f"port-forward needs the WebSocket subprotocol {SUBPROTOCOL}")
        if ctx.pod_exec is None:
            raise K8sError(503, "ServiceUnavailable", "port-forward is not available on this API server")
        pod = await _running_pod(ctx, ns, name)
        first = str(((pod.get("spec") or {}).get("containers") or [{}])[0].get("name", ""))
        session = ctx.pod_exec.open_port_forward(pod, first)
        try:
            await asyncio.wait_for(session.claimed.wait(), CLAIM_TIMEOUT)
        except TimeoutError:
            ctx.pod_exec.broker.close(session.request.id)
            raise K8sError(
                500, "InternalError", f"error dialing backend: the agent of pod {name}'s host did not answer"
            ) from None
    except K8sError as err:
        await _refuse(scope, send, err)
        return
    await send({"type": "websocket.accept", "subprotocol": SUBPROTOCOL})
    try:
        await _relay(receive, send, session)
    finally:
        await session.to_agent.put(None)  # the agent's side ends with the client's


async def _refuse(scope: Scope, send: Send, err: K8sError) -> None:
    """A Status in place of the upgrade (the ASGI server's WebSocket denial response), or a
    policy close where the server cannot send one."""
    if "websocket.http.response" not in (scope.get("extensions") or {}):
        await send({"type": "websocket.close", "code": 1008})
        return
    body = orjson.dumps(error_body(err))
    await send(
        {
            "type": "websocket.http.response.start",
            "status": err.code,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "websocket.http.response.body", "body": body})


async def _relay(receive: Receive, send: Send, session: ExecSession) -> None:
    forward = SpdyPortForward()
    outgoing: asyncio.Queue[bytes | None] = asyncio.Queue()

    async def from_client() -> None:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes")
            if not data:
                continue  # kubectl sends binary messages only
            try:
                out = forward.from_client(bytes(data))
            except spdy.SpdyError:
                return
            for frame in out.client:
                outgoing.put_nowait(frame)
            for tunnel_message in out.agent:
                await session.to_agent.put(tunnel_message)

    async def from_agent() -> None:
        while (message := await session.to_client.get()) is not None:
            for frame in forward.from_agent(message):
                outgoing.put_nowait(frame)
        outgoing.put_nowait(None)  # the agent is gone: send what is queued, then close

    async def writer() -> None:
        # One writer keeps the frames in the order they were made (header compression is one
        # zlib stream for the connection); one SPDY frame per WebSocket message.
        while (frame := await outgoing.get()) is not None:
            await send({"type": "websocket.send", "bytes": frame})

    tasks = [asyncio.create_task(t()) for t in (from_client, writer, from_agent)]
    try:
        await asyncio.wait(tasks[:2], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await send({"type": "websocket.close", "code": 1000})
