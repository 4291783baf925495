"""``GET pods/<name>/log``: a container's output, read from the Logs API's store.

The control plane cannot reach a remote host's engine, and every pod container is shipped by
its agent with the ``awslogs`` driver (``model/k8s/pods.py``: group ``/k8s/<space>/<namespace>``,
stream ``<pod>/<container>/<task id>``), so ``kubectl logs`` reads the same events
``aws logs get-log-events`` does. Lines arrive after the agent's flush interval (a second by
default), not at once. ``follow`` polls the stream until the pod stops or the client leaves;
``tailLines``, ``sinceSeconds``, ``sinceTime``, ``timestamps`` and ``limitBytes`` are honoured.
Each instance of a restarted container writes a stream of its own (`model.k8s.container_logs`):
the request reads the current instance's, or with ``previous`` the one before; ``follow`` ends
when the followed instance exits.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from stowage.api.k8s.context import ApiContext, PodLogSource
from stowage.api.k8s.http import Request, Send
from stowage.api.k8s.registry import ResourceType
from stowage.logstore import StreamNotFound
from stowage.logstore.model import GroupNotFound, Position, StoredEvent
from stowage.model.k8s import errors
from stowage.model.k8s.container_logs import instance_over, instance_stream, log_instance
from stowage.model.k8s.errors import K8sError
from stowage.model.k8s.meta import parse_rfc3339
from stowage.model.k8s.pods import log_group, log_stream, task_id_of

Obj = dict[str, Any]
POLL = 0.5
_TERMINAL = ("Succeeded", "Failed")
_POD_DONE, _INSTANCE_DONE = 1, 2
_LINGER = 2.0
"""Seconds a follow waits for an exited instance's last lines."""


def _pick_container(pod: Obj, wanted: str | None) -> str:
    name = str((pod.get("metadata") or {}).get("name", ""))
    spec = pod.get("spec") or {}
    containers = [str(c.get("name")) for c in spec.get("containers") or []]
    inits = [str(c.get("name")) for c in spec.get("initContainers") or []]
    if wanted:
        if wanted not in containers and wanted not in inits:
            raise errors.bad_request(f"container {wanted} is not valid for pod {name}")
        return wanted
    if len(containers) != 1:
        also = f" or one of the init containers: [{' '.join(inits)}]" if inits else ""
        choices = f"[{' '.join(containers)}]{also}"
        raise errors.bad_request(
            f"a container name must be specified for pod {name}, choose one of: {choices}"
        )
    return containers[0]


def _line(event: StoredEvent, timestamps: bool) -> bytes:
    text = event.message if event.message.endswith("\n") else event.message + "\n"
    if timestamps:
        ms = event.timestamp
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}000000Z"
        text = f"{stamp} {text}"
    return text.encode()


async def serve_log(
    ctx: ApiContext, rt: ResourceType, ns: str, name: str, *, request: Request, send: Send
) -> None:
    source: PodLogSource | None = ctx.pod_logs
    found = await ctx.service.get(rt, ns, name)
    pod = found.obj
    container = _pick_container(pod, request.query.get("container"))
    previous = request.flag("previous")
    instance = log_instance(pod, container, previous=previous)
    if source is None:
        raise K8sError(503, "ServiceUnavailable", "pod logs are not available on this API server")
    uid = str((pod.get("metadata") or {}).get("uid", ""))
    group = log_group(source.space, ns)
    stream = instance_stream(log_stream(name, container, task_id_of(uid)), instance)
    start_ms: int | None = None
    since = request.int_param("sinceSeconds")
    if since is not None:
        start_ms = int((time.time() - since) * 1000)
    since_time = request.query.get("sinceTime")
    if since_time:
        parsed = parse_rfc3339(since_time)
        start_ms = int(parsed * 1000) if parsed is not None else start_ms
    tail = request.int_param("tailLines")
    limit_bytes = request.int_param("limitBytes")
    timestamps = request.flag("timestamps")
    follow = request.flag("follow") and not previous  # a previous instance has ended

    async def read(cursor: Position | None) -> list[StoredEvent]:
        try:
            return await source.logstore.read_stream(
                source.owner, group, stream, start=start_ms, cursor=cursor, limit=10_000, max_bytes=8 << 20
            )
        except (StreamNotFound, GroupNotFound):
            return []

    events = await read(None)
    if tail is not None:
        events = events[-tail:] if tail > 0 else []
    headers = [(b"content-type", b"text/plain"), (b"transfer-encoding", b"chunked")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    sent = 0

    async def emit(batch: list[StoredEvent]) -> bool:
        nonlocal sent
        body = b"".join(_line(e, timestamps) for e in batch)
        if limit_bytes is not None and sent + len(body) > limit_bytes:
            body = body[: max(0, limit_bytes - sent)]
        sent += len(body)
        if body:
            await send({"type": "http.response.body", "body": body, "more_body": True})
        return limit_bytes is None or sent < limit_bytes

    cursor = events[-1].position if events else None
    going = await emit(events)
    ended_at: float | None = None
    while follow and going and not ctx.closing.is_set():
        done = await _follow_done(ctx, rt, ns, name, uid, container=container, instance=instance)
        if await _disconnected(request):
            break
        batch = await read(cursor)
        if batch:
            cursor = batch[-1].position
            going = await emit(batch)
            continue
        if done == _POD_DONE:
            break
        if done == _INSTANCE_DONE:
            # The agent ships an exited container's last lines within its flush interval
            # (a second by default) of the exit, which the status may have announced first.
            ended_at = ended_at if ended_at is not None else time.monotonic()
            if time.monotonic() - ended_at >= _LINGER:
                break
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _follow_done(
    ctx: ApiContext, rt: ResourceType, ns: str, name: str, uid: str, *, container: str, instance: int
) -> int:
    """_POD_DONE: the pod is gone or finished (its task drained its logs first);
    _INSTANCE_DONE: the followed instance exited while the pod runs on (a finished init
    container, a restarted one); else 0."""
    found = await ctx.service.objects.get(ctx.service.key(rt, ns, name))
    if found is None or (found.obj.get("metadata") or {}).get("uid") != uid:
        return _POD_DONE
    if (found.obj.get("status") or {}).get("phase") in _TERMINAL:
        return _POD_DONE
    return _INSTANCE_DONE if instance_over(found.obj, container, instance) else 0


async def _disconnected(request: Request) -> bool:
    """Wait one poll interval for the client to leave; True if it did."""
    try:
        message = await asyncio.wait_for(request.receive(), POLL)
    except TimeoutError:
        return False
    return bool(message.get("type") == "http.disconnect")
