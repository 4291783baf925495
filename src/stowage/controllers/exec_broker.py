"""Exec sessions between a client (``kubectl exec``) and the agent of the container's host.

The control plane cannot connect to an agent (agents connect out, from anywhere), so an exec
goes the other way round: the API opens a session here and wakes the host's long-poll; the
agent finds the session in its PollAssignments answer, connects a WebSocket back to the
control plane naming the session (its id is a 128-bit secret only that authenticated poll
carried), and the two sockets are bridged through the session's two queues. Messages are the
Kubernetes remote-command frames (``model/k8s/exec_protocol``) both ways, or for a
``portforward`` session (``kubectl port-forward``) the tunnel messages of
``model/k8s/portforward_tunnel``; None in a queue means that side is gone. A session no
agent claims within ``CLAIM_TIMEOUT`` is dropped.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from stowage.controllers.ecs_index import EcsIndex

CLAIM_TIMEOUT = 30.0
"""Seconds an agent has to pick a session up."""

EXEC, PORT_FORWARD = "exec", "portforward"
"""Session kinds: a command to run, or TCP connections to forward into the pod."""


@dataclass(frozen=True, slots=True)
class ExecRequest:
    id: str
    task_arn: str
    container: str
    command: list[str]
    tty: bool
    stdin: bool
    kind: str = EXEC

    def to_doc(self) -> dict[str, object]:
        """The agent API's ``ExecSession`` shape."""
        doc: dict[str, object] = {
            "id": self.id,
            "taskArn": self.task_arn,
            "container": self.container,
            "command": list(self.command),
            "tty": self.tty,
            "stdin": self.stdin,
        }
        if self.kind != EXEC:
            doc["kind"] = self.kind
        return doc


@dataclass
class ExecSession:
    request: ExecRequest
    instance_key: str
    opened_at: float
    to_agent: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    to_client: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    claimed: asyncio.Event = field(default_factory=asyncio.Event)


class ExecBroker:
    def __init__(self, index: EcsIndex, clock: Callable[[], float] = time.monotonic) -> None:
        self.index = index
        self.clock = clock
        self._sessions: dict[str, ExecSession] = {}

    def open(
        self, instance_key: str, *, task_arn: str, container: str, command: list[str], tty: bool, stdin: bool
    ) -> ExecSession:
        request = ExecRequest(secrets.token_hex(16), task_arn, container, list(command), tty, stdin)
        return self._add(instance_key, request)

    def open_port_forward(self, instance_key: str, *, task_arn: str, container: str) -> ExecSession:
        """A port-forward session into the network namespace ``container`` shares with its pod."""
        request = ExecRequest(secrets.token_hex(16), task_arn, container, [], False, False, PORT_FORWARD)
        return self._add(instance_key, request)

    def _add(self, instance_key: str, request: ExecRequest) -> ExecSession:
        session = ExecSession(request, instance_key, self.clock())
        self._sessions[request.id] = session
        self.index.wake(instance_key)
        return session

    def pending(self, instance_key: str) -> list[ExecRequest]:
        """Sessions the instance's agent has yet to claim (expired ones are dropped)."""
        now = self.clock()
        out = []
        for sid, s in list(self._sessions.items()):
            if s.claimed.is_set():
                continue
            if now - s.opened_at > CLAIM_TIMEOUT:
                del self._sessions[sid]
                continue
            if s.instance_key == instance_key:
                out.append(s.request)
        return out

    def claim(self, session_id: str) -> ExecSession | None:
        session = self._sessions.get(session_id)
        if session is None or session.claimed.is_set():
            return None
        session.claimed.set()
        return session

    def close(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)
