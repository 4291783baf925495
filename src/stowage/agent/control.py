"""The agent's view of the control plane: the handful of calls it makes, behind one Protocol.

`HttpControlPlane` is the real one (``stowage.client`` over HTTP: ECS RegisterContainerInstance,
the ``StowageAgent_20261126`` channel, CloudWatch Logs). Unit tests of the agent's logic may use
an in-memory implementation; end-to-end tests use this one against a real server.

Errors surface as the client's: `ApiError` (an answer; ``is_transient`` for 5xx) and
`EndpointUnavailableError` (no answer). Callers decide what to retry.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol, cast

import aiohttp

from stowage.agent.exec_sessions import ExecSocket, ExecTunnel
from stowage.client import ControlPlaneClients
from stowage.client.channel import ChannelUnsupported
from stowage.client.json_client import retrying

JSON = dict[str, Any]
# The long-poll must outlive waitSeconds; this is the extra allowance for the answer.
_POLL_SLACK_S = 15.0

log = logging.getLogger("stowage.agent.control")


class BatchReports(Protocol):
    async def submit_task_states(self, cluster: str, instance: str, reports: Sequence[JSON]) -> list[JSON]:
        """SubmitTaskStates: one result per report, in order (``acknowledgment``, or
        ``errorCode``/``errorMessage`` for a report refused)."""
        ...


def batch_reports(control: object) -> BatchReports | None:
    """``control`` if it can send many task state reports in one call (an optional extra of a
    `ControlPlane`: in-memory test doubles need not have it)."""
    return cast(BatchReports, control) if callable(getattr(control, "submit_task_states", None)) else None


class CarryingPoll(Protocol):
    async def poll_carrying(
        self, cluster: str, instance: str, known_revision: int | None, wait_s: int, reports: Sequence[JSON]
    ) -> JSON:
        """PollAssignments with task state reports riding on it: the answer has
        ``reportResults`` besides the assignments."""
        ...


def carrying_poll(control: object) -> CarryingPoll | None:
    """``control`` if its polls can carry task state reports (an optional extra, like
    `batch_reports`)."""
    return cast(CarryingPoll, control) if callable(getattr(control, "poll_carrying", None)) else None


class PackedStats(Protocol):
    async def report_packed_stats(self, cluster: str, instance: str, packed: JSON) -> None:
        """ReportStats with ``packedSamples`` (``model/agent_stats.PackedBatch.to_params``)."""
        ...


def packed_stats(control: object) -> PackedStats | None:
    """``control`` if it can send stats in the compact form (an optional extra, like
    `batch_reports`)."""
    return cast(PackedStats, control) if callable(getattr(control, "report_packed_stats", None)) else None


class ControlPlane(Protocol):
    async def register(self, request: JSON) -> JSON:
        """RegisterContainerInstance; returns the ``containerInstance``."""
        ...

    async def poll(self, cluster: str, instance: str, known_revision: int | None, wait_s: int) -> JSON:
        """PollAssignments: ``{revision, tasks, instanceStatus, heartbeatIntervalSeconds}``."""
        ...

    async def submit_task_state(self, report: JSON) -> None: ...

    async def report_stats(self, cluster: str, instance: str, samples: Sequence[JSON]) -> None: ...

    async def create_log_group(self, group: str) -> None: ...

    async def create_log_stream(self, group: str, stream: str) -> None: ...

    async def put_log_events(self, group: str, stream: str, events: Sequence[JSON]) -> None: ...


class HttpControlPlane:
    """`ControlPlane` over HTTP. Each call retries only a few times: the agent's own loops
    (backoff while the control plane is away) own the longer story.

    The agent service's calls (polls, reports, stats) go over the WebSocket channel when
    ``channel`` is on and the server serves it (``stowage.client.channel``): one signed
    upgrade, then a message each way per call instead of a signed HTTP request. A server
    without it (404) turns the channel off for good; a refused upgrade sends that call (and
    the others for a while) by HTTP, whose answer carries the real AWS error."""

    def __init__(self, clients: ControlPlaneClients, *, channel: bool = True) -> None:
        self.clients = clients
        self._channel = clients.agent_channel() if channel else None

    async def _agent_call(
        self, operation: str, params: JSON, *, timeout_s: float | None = None, max_attempts: int | None = None
    ) -> JSON:
        """A call of the agent service: on the channel if it can, else over HTTP."""
        client = self.clients.agent
        attempts = max_attempts or client.retry.max_attempts
        channel = self._channel
        if channel is not None and not channel.unsupported:
            limit = timeout_s or client.timeout_s
            try:
                return await retrying(
                    lambda: channel.call(operation, params, timeout_s=limit),
                    attempts,
                    client.retry,
                    client.sleep,
                )
            except ChannelUnsupported as exc:
                if exc.permanent:
                    log.info("the control plane has no agent channel: polls and reports go by HTTP")
        return await client.call(operation, params, timeout_s=timeout_s, max_attempts=attempts)

    async def register(self, request: JSON) -> JSON:
        answer = await self.clients.ecs.call("RegisterContainerInstance", request)
        instance = answer.get("containerInstance")
        return instance if isinstance(instance, dict) else {}

    async def poll(self, cluster: str, instance: str, known_revision: int | None, wait_s: int) -> JSON:
        return await self.poll_carrying(cluster, instance, known_revision, wait_s, ())

    async def poll_carrying(
        self, cluster: str, instance: str, known_revision: int | None, wait_s: int, reports: Sequence[JSON]
    ) -> JSON:
        params: JSON = {"cluster": cluster, "containerInstance": instance, "waitSeconds": wait_s}
        if known_revision is not None:
            params["knownRevision"] = known_revision
        if reports:
            params["reports"] = list(reports)
        return await self._agent_call(
            "PollAssignments", params, timeout_s=wait_s + _POLL_SLACK_S, max_attempts=1
        )

    async def submit_task_state(self, report: JSON) -> None:
        await self._agent_call("SubmitTaskState", report, max_attempts=2)

    async def connect_exec(self, session_id: str) -> ExecSocket:
        return await connect_exec(self.clients, session_id)

    async def submit_task_states(self, cluster: str, instance: str, reports: Sequence[JSON]) -> list[JSON]:
        answer = await self._agent_call(
            "SubmitTaskStates",
            {"cluster": cluster, "containerInstance": instance, "reports": list(reports)},
            max_attempts=2,
        )
        results = answer.get("results")
        return results if isinstance(results, list) else []

    async def report_stats(self, cluster: str, instance: str, samples: Sequence[JSON]) -> None:
        await self._agent_call(
            "ReportStats",
            {"cluster": cluster, "containerInstance": instance, "samples": list(samples)},
            max_attempts=1,
        )

    async def report_packed_stats(self, cluster: str, instance: str, packed: JSON) -> None:
        await self._agent_call(
            "ReportStats",
            {"cluster": cluster, "containerInstance": instance, "packedSamples": packed},
            max_attempts=1,
        )

    async def create_log_group(self, group: str) -> None:
        await self.clients.logs.call("CreateLogGroup", {"logGroupName": group})

    async def create_log_stream(self, group: str, stream: str) -> None:
        await self.clients.logs.call("CreateLogStream", {"logGroupName": group, "logStreamName": stream})

    async def put_log_events(self, group: str, stream: str, events: Sequence[JSON]) -> None:
        await self.clients.logs.call(
            "PutLogEvents",
            {"logGroupName": group, "logStreamName": stream, "logEvents": list(events)},
            max_attempts=2,
        )


class _WebSocket:
    """aiohttp's client WebSocket as an ``ExecSocket``."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws

    async def send_bytes(self, data: bytes) -> None:
        await self._ws.send_bytes(data)

    async def receive_bytes_or_none(self) -> bytes | None:
        message = await self._ws.receive()
        if message.type == aiohttp.WSMsgType.BINARY:
            return bytes(message.data)
        if message.type == aiohttp.WSMsgType.TEXT:
            return str(message.data).encode()
        return None

    async def close(self) -> None:
        await self._ws.close()


async def connect_exec(clients: ControlPlaneClients, session_id: str) -> ExecSocket:
    """Open the exec tunnel of ``session_id`` on the control plane (``/agent/exec/{id}``)."""
    url = f"{clients.endpoint.rstrip('/')}/agent/exec/{session_id}"
    return _WebSocket(await clients.session.ws_connect(url, heartbeat=30.0))


def exec_tunnel(control: object) -> ExecTunnel | None:
    """``control`` if it can open exec tunnels (in-memory test doubles need not)."""
    return cast(ExecTunnel, control) if callable(getattr(control, "connect_exec", None)) else None
