"""``pods/exec`` over WebSocket: ``kubectl exec`` and the Python client's ``stream``.

The client upgrades ``GET|POST .../pods/<name>/exec?command=..&container=..&stdin=..&tty=..``
to a WebSocket with the ``v5.channel.k8s.io`` or ``v4.channel.k8s.io`` subprotocol. The pod's
task is found in the ECS index; an exec session opens for the host it runs on
(``controllers/exec_broker``), whose agent connects back and runs the command; frames are
relayed both ways until the command's status has been sent. Errors that come before the
command runs (no such pod or container, a pod not running, no agent answering) are sent as a
Failure ``Status`` on the error channel, as the kubelet's errors are, then the socket closes.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from stowage.api.agent.exec_ws import Receive, Scope, Send, pump
from stowage.api.k8s.context import ApiContext
from stowage.api.k8s.pod_logs import _pick_container
from stowage.controllers.ecs_index import EcsIndex
from stowage.controllers.exec_broker import CLAIM_TIMEOUT, ExecBroker, ExecSession
from stowage.model import tasks as task_model
from stowage.model.k8s import exec_protocol as proto
from stowage.model.k8s.errors import K8sError
from stowage.model.k8s.pods import task_id_of
from stowage.resources import ecs_keys

Obj = dict[str, Any]


@dataclass(frozen=True)
class PodExecSource:
    """Where pod commands run: the ECS index (pod uid -> task -> host) and the exec broker."""

    index: EcsIndex
    broker: ExecBroker
    account: str
    region: str
    cluster: str

    def open(self, pod: Obj, container: str, command: list[str], *, tty: bool, stdin: bool) -> ExecSession:
        host, task_arn = self._running_task(pod)
        return self.broker.open(
            host, task_arn=task_arn, container=container, command=command, tty=tty, stdin=stdin
        )

    def open_port_forward(self, pod: Obj, container: str) -> ExecSession:
        """A ``kubectl port-forward`` session into the pod's network namespace (``container``
        is any of its containers: they share it)."""
        host, task_arn = self._running_task(pod)
        return self.broker.open_port_forward(host, task_arn=task_arn, container=container)

    def _running_task(self, pod: Obj) -> tuple[str, str]:
        """(container instance key, task ARN) of the pod's running task."""
        meta = pod.get("metadata") or {}
        name = meta.get("name", "")
        key = ecs_keys.task(self.account, self.region, self.cluster, task_id_of(str(meta.get("uid", ""))))
        rec = self.index.record(key)
        host = None if rec is None else ecs_keys.task_instance(key, rec.doc)
        if rec is None or host is None or rec.doc.get("lastStatus") != task_model.RUNNING:
            raise K8sError(400, "BadRequest", f"pod {name} is not running")
        return host, str(rec.doc["taskArn"])


def exec_path(parts: list[str]) -> tuple[str, str] | None:
    """(namespace, pod) of ``/api/v1/namespaces/<ns>/pods/<name>/exec``."""
    shape = (*parts[:3], parts[4], parts[6]) if len(parts) == 7 else ()
    if shape == ("api", "v1", "namespaces", "pods", "exec"):
        return parts[3], parts[5]
    return None


def _flag(query: dict[str, list[str]], name: str) -> bool:
    return (query.get(name) or ["false"])[-1].lower() in ("true", "1")


async def serve_exec(
    ctx: ApiContext, scope: Scope, receive: Receive, send: Send, *, target: tuple[str, str]
) -> None:
    """Serve one accepted-or-refused exec WebSocket (the connect message not yet read)."""
    ns, name = target
    connect = await receive()
    if connect["type"] != "websocket.connect":
        return
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    subprotocol = proto.choose_subprotocol(headers.get("sec-websocket-protocol", "").split(","))
    if subprotocol is None:
        await send({"type": "websocket.close", "code": 1002})  # no channel protocol in common
        return
    await send({"type": "websocket.accept", "subprotocol": subprotocol})
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    command = query.get("command") or []
    try:
        if not command:
            raise K8sError(400, "BadRequest", "you must specify at least 1 command")
        if ctx.pod_exec is None:
            raise K8sError(503, "ServiceUnavailable", "exec is not available on this API server")
        rt = ctx.registry.lookup("", "v1", "pods")
        assert rt is not None
        pod = (await ctx.service.get(rt, ns, name)).obj
        container = _pick_container(pod, (query.get("container") or [None])[-1])
        tty, stdin = _flag(query, "tty"), _flag(query, "stdin")
        session = ctx.pod_exec.open(pod, container, command, tty=tty, stdin=stdin)
    except K8sError as err:
        await _fail(send, err.message)
        return
    try:
        await asyncio.wait_for(session.claimed.wait(), CLAIM_TIMEOUT)
    except TimeoutError:
        ctx.pod_exec.broker.close(session.request.id)
        await _fail(send, f"the agent of pod {name}'s host did not answer")
        return
    try:
        await pump(receive, send, inbound=session.to_agent, outbound=session.to_client)
    finally:
        await session.to_agent.put(None)  # the agent's side ends with the client's


async def _fail(send: Send, message: str) -> None:
    with contextlib.suppress(Exception):
        status = proto.frame(proto.ERROR, proto.failure_status(message))
        await send({"type": "websocket.send", "bytes": status})
        await send({"type": "websocket.close", "code": 1000})
