"""The ``awslogs`` log driver, done by the agent: container output to the CloudWatch Logs API.

The engine keeps each container on a readable driver (json-file); a shipper per container
follows its output through the runtime and sends it with PutLogEvents to ``awslogs-group``,
stream ``prefix/container-name/task-id`` (the container id without a prefix), as ECS names
them. ``awslogs-create-group: "true"`` creates the group; otherwise a missing group fails the
container's start as Docker's awslogs driver does ("failed to initialize logging driver").

Batches follow PutLogEvents' limits (10,000 events, 1 MiB counting 26 bytes of overhead per
event, chronological order) and go out every ``flush_interval`` or when full. While the control
plane is away the shipper stops reading (the engine keeps the output on disk) and retries with
backoff. What was shipped is remembered per container in the state directory (the last
timestamp, and how many lines carried it), so a restarted agent resumes where it left off: no
line twice, none lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from stowage.agent.clock import Backoff, Clock, wait_event
from stowage.agent.control import ControlPlane
from stowage.agent.identity import write_atomic
from stowage.agent.translate import AwslogsOptions, TaskSetupError
from stowage.client import ApiError, ClientError, is_transient
from stowage.runtime.base import ContainerRuntime, ContainerRuntimeError, LogLine

JSON = dict[str, Any]
log = logging.getLogger(__name__)

MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD = 26
MAX_EVENT_BYTES = 256 * 1024 - EVENT_OVERHEAD
_BUFFER_LIMIT = 2 * MAX_BATCH_EVENTS

MISSING_GROUP_REASON = (
    "CannotStartContainerError: failed to initialize logging driver: failed to create Cloudwatch "
    "log stream: ResourceNotFoundException: The specified log group does not exist."
)


@dataclass(frozen=True, slots=True)
class Cursor:
    """Lines up to ``ns`` were shipped; ``count`` of them carried exactly ``ns``."""

    ns: int = 0
    count: int = 0


def _ns(when: datetime) -> int:
    return int(when.timestamp() * 1_000_000) * 1000  # the runtime's timestamps are µs precise


async def ensure_stream(control: ControlPlane, opts: AwslogsOptions, stream: str) -> None:
    """Create the group (if asked) and the stream; an existing one is fine. A missing group
    without ``awslogs-create-group`` raises TaskSetupError."""
    if opts.create_group:
        try:
            await control.create_log_group(opts.group)
        except ApiError as exc:
            if exc.code != "ResourceAlreadyExistsException":
                raise
    try:
        await control.create_log_stream(opts.group, stream)
    except ApiError as exc:
        if exc.code == "ResourceAlreadyExistsException":
            return
        if exc.code == "ResourceNotFoundException":
            raise TaskSetupError(MISSING_GROUP_REASON) from exc
        raise


class LogShipper:
    def __init__(
        self,
        *,
        runtime: ContainerRuntime,
        control: ControlPlane,
        clock: Clock,
        container_id: str,
        opts: AwslogsOptions,
        stream: str,
        cursor_path: Path,
        flush_interval_s: float,
        max_backoff_s: float = 30.0,
    ) -> None:
        self.runtime = runtime
        self.control = control
        self.clock = clock
        self.container_id = container_id
        self.opts = opts
        self.stream = stream
        self.cursor_path = cursor_path
        self.flush_interval_s = flush_interval_s
        self._buffer: list[tuple[int, JSON]] = []  # (ns, event)
        self._flush_now = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()
        self._reading_done = False
        self._stream_ready = False
        self._backoff = Backoff(base_s=0.5, max_s=max_backoff_s)
        self.cursor = self._load_cursor()
        self.shipped = 0

    def _load_cursor(self) -> Cursor:
        try:
            raw = orjson.loads(self.cursor_path.read_bytes())
            return Cursor(int(raw["ns"]), int(raw["count"]))
        except (OSError, ValueError, KeyError, TypeError):
            return Cursor()

    def _save_cursor(self) -> None:
        write_atomic(self.cursor_path, orjson.dumps({"ns": self.cursor.ns, "count": self.cursor.count}))

    async def run(self) -> None:
        reader = asyncio.create_task(self._read())
        try:
            while True:
                await wait_event(self.clock, self._flush_now, self.flush_interval_s)
                self._flush_now.clear()
                done = reader.done()  # read before flushing: nothing arrives after this
                await self._flush_all()
                if done and not self._buffer:
                    break
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader

    async def _read(self) -> None:
        since = datetime.fromtimestamp(self.cursor.ns / 1e9, UTC) if self.cursor.ns else None
        skip_at_cursor = self.cursor.count
        try:
            async for line in self.runtime.logs(self.container_id, since=since, follow=True):
                ns = _ns(line.timestamp)
                if ns < self.cursor.ns:
                    continue
                if ns == self.cursor.ns and skip_at_cursor > 0:
                    skip_at_cursor -= 1
                    continue
                self._append(ns, line)
                if len(self._buffer) >= MAX_BATCH_EVENTS:
                    self._flush_now.set()
                if len(self._buffer) >= _BUFFER_LIMIT:
                    self._space.clear()
                    await self._space.wait()  # back-pressure: the engine keeps the rest
        except ContainerRuntimeError as exc:
            log.info("log stream of %s ended: %s", self.container_id[:12], exc)
        finally:
            self._reading_done = True
            self._flush_now.set()

    def _append(self, ns: int, line: LogLine) -> None:
        if not line.line:
            return  # CloudWatch refuses empty messages; Docker's awslogs driver skips them too
        message = line.line
        if len(message.encode()) > MAX_EVENT_BYTES:
            message = message.encode()[:MAX_EVENT_BYTES].decode("utf-8", "ignore")
        self._buffer.append((ns, {"timestamp": ns // 1_000_000, "message": message}))

    def _take_batch(self) -> list[tuple[int, JSON]]:
        size = 0
        count = 0
        for _, event in self._buffer:
            cost = len(event["message"].encode()) + EVENT_OVERHEAD
            if count >= MAX_BATCH_EVENTS or size + cost > MAX_BATCH_BYTES:
                break
            size += cost
            count += 1
        return self._buffer[:count]

    async def _flush_all(self) -> None:
        while self._buffer:
            batch = self._take_batch()
            if not await self._put(batch):
                return  # transient failure: keep the buffer, try again at the next flush
            del self._buffer[: len(batch)]
            self._advance_cursor(batch)
            if len(self._buffer) < _BUFFER_LIMIT:
                self._space.set()

    def _advance_cursor(self, batch: list[tuple[int, JSON]]) -> None:
        last = batch[-1][0]
        same = sum(1 for ns, _ in batch if ns == last)
        count = self.cursor.count + same if last == self.cursor.ns else same
        self.cursor = Cursor(last, count)
        self.shipped += len(batch)
        self._save_cursor()

    async def _put(self, batch: list[tuple[int, JSON]]) -> bool:
        """True when the batch is done with (sent, or refused for good)."""
        events = [event for _, event in sorted(batch, key=lambda item: item[0])]
        try:
            if not self._stream_ready:
                await ensure_stream(self.control, self.opts, self.stream)
                self._stream_ready = True
            await self.control.put_log_events(self.opts.group, self.stream, events)
        except TaskSetupError as exc:
            log.warning("logs of %s: %s", self.container_id[:12], exc.reason)
            return await self._pause()
        except ClientError as exc:
            if isinstance(exc, ApiError) and exc.code == "ResourceNotFoundException":
                self._stream_ready = False  # deleted under us: re-create, then retry
                return await self._pause()
            if is_transient(exc):
                return await self._pause()
            log.warning("logs of %s: dropping %d events: %s", self.container_id[:12], len(events), exc)
            return True
        self._backoff.reset()
        return True

    async def _pause(self) -> bool:
        await self.clock.sleep(self._backoff.next_delay())
        return False


class LogRouter:
    """The shippers of one agent, one per awslogs container, keyed by container id."""

    def __init__(
        self,
        *,
        runtime: ContainerRuntime,
        control: ControlPlane,
        clock: Clock,
        state_dir: Path,
        flush_interval_s: float = 1.0,
        max_backoff_s: float = 30.0,
    ) -> None:
        self.runtime = runtime
        self.control = control
        self.clock = clock
        self.dir = state_dir / "logs"
        self.flush_interval_s = flush_interval_s
        self.max_backoff_s = max_backoff_s
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.shippers: dict[str, LogShipper] = {}

    async def prepare(self, opts: AwslogsOptions, stream: str) -> None:
        """Before a container starts: its stream must exist (TaskSetupError if its group is
        missing). An unreachable control plane is not the container's fault: the shipper
        creates the stream later."""
        try:
            await ensure_stream(self.control, opts, stream)
        except ClientError as exc:
            log.info("log stream %s/%s not created yet: %s", opts.group, stream, exc)

    def follow(self, container_id: str, opts: AwslogsOptions, stream: str) -> None:
        task = self._tasks.get(container_id)
        if task is not None and not task.done():
            return
        shipper = LogShipper(
            runtime=self.runtime,
            control=self.control,
            clock=self.clock,
            container_id=container_id,
            opts=opts,
            stream=stream,
            cursor_path=self.dir / f"{container_id}.json",
            flush_interval_s=self.flush_interval_s,
            max_backoff_s=self.max_backoff_s,
        )
        self.shippers[container_id] = shipper
        self._tasks[container_id] = asyncio.create_task(shipper.run(), name=f"awslogs-{container_id[:12]}")

    def shipping(self, container_id: str) -> bool:
        task = self._tasks.get(container_id)
        return task is not None and not task.done()

    async def drained(self, container_ids: list[str]) -> None:
        """Wait for the shippers of these (exited) containers to send everything."""
        tasks = [t for cid in container_ids if (t := self._tasks.get(cid)) is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def forget(self, container_id: str) -> None:
        """The container is removed: drop its shipper and cursor."""
        task = self._tasks.pop(container_id, None)
        if task is not None:
            task.cancel()
        self.shippers.pop(container_id, None)
        with contextlib.suppress(OSError):
            (self.dir / f"{container_id}.json").unlink()

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
