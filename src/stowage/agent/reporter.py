"""`StateReporter`: delivers task state reports (SubmitTaskState) in order, through outages.

Every report is a task's complete state as the agent sees it, so a newer report makes an older
undelivered one of the *same* ``lastStatus`` redundant: it is replaced in the queue. Reports of
different statuses are all delivered, in order (the control plane sees PENDING, RUNNING, then
STOPPED even when the container exited before RUNNING went out). While the control plane is
unreachable or answers 5xx, the queue waits and retries with backoff; nothing is lost. A 4xx
answer means the report itself is refused (say, the task no longer exists): it is dropped and
logged, as retrying cannot help.

``acked`` tells the agent what the control plane has recorded, so a stopped task's runner is
only forgotten once its STOPPED report has been accepted.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

from stowage.agent.clock import Backoff, Clock
from stowage.agent.control import ControlPlane
from stowage.client import ClientError, is_transient

JSON = dict[str, Any]
log = logging.getLogger(__name__)


class StateReporter:
    def __init__(
        self,
        control: ControlPlane,
        clock: Clock,
        where: Callable[[], tuple[str, str]],
        *,
        max_backoff_s: float = 30.0,
    ) -> None:
        """``where()`` gives (cluster, container instance ARN) at send time."""
        self._control = control
        self._clock = clock
        self._where = where
        self._queues: OrderedDict[str, deque[JSON]] = OrderedDict()
        self._in_flight: str | None = None
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._settled: dict[str, asyncio.Event] = {}
        self._backoff = Backoff(base_s=0.5, max_s=max_backoff_s)
        self.acked: dict[str, str] = {}
        """task ARN -> the lastStatus of the last report settled (accepted, or refused for good)."""
        self.delivered = 0
        self.dropped = 0

    def submit(self, report: JSON) -> None:
        """Queue ``report`` (a SubmitTaskState body without cluster/containerInstance)."""
        task = str(report["task"])
        queue = self._queues.setdefault(task, deque())
        busy = 1 if self._in_flight == task else 0
        if len(queue) > busy and queue[-1].get("lastStatus") == report.get("lastStatus"):
            queue[-1] = report
        else:
            queue.append(report)
        self._idle.clear()
        self._wake.set()

    def pending(self, task_arn: str) -> bool:
        return bool(self._queues.get(task_arn))

    async def wait_settled(self, task_arn: str) -> None:
        """Wait until no report of this task is queued."""
        while self.pending(task_arn):
            await self._settled.setdefault(task_arn, asyncio.Event()).wait()

    @property
    def backlog(self) -> int:
        return sum(len(q) for q in self._queues.values())

    async def drained(self) -> None:
        """Wait until every queued report was delivered (or dropped)."""
        await self._idle.wait()

    async def run(self) -> None:
        while True:
            if not self._queues:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            task, queue = next(iter(self._queues.items()))
            report = queue[0]
            self._in_flight = task
            ok = await self._send(report)
            self._in_flight = None
            if ok is None:  # transient: keep it and retry after a pause
                await self._clock.sleep(self._backoff.next_delay())
                continue
            self._backoff.reset()
            queue.popleft()
            if not queue:
                del self._queues[task]
                if (event := self._settled.pop(task, None)) is not None:
                    event.set()
            else:
                self._queues.move_to_end(task)  # round-robin between tasks

    async def _send(self, report: JSON) -> bool | None:
        """True delivered, False refused (dropped), None transient failure."""
        cluster, instance = self._where()
        body = {"cluster": cluster, "containerInstance": instance, **report}
        try:
            await self._control.submit_task_state(body)
        except ClientError as exc:
            if is_transient(exc):
                log.info("task state report for %s not delivered yet: %s", report["task"], exc)
                return None
            log.warning("task state report for %s refused: %s", report["task"], exc)
            self.dropped += 1
            # Settled all the same: retrying cannot change the answer.
            self.acked[str(report["task"])] = str(report.get("lastStatus"))
            return False
        self.delivered += 1
        self.acked[str(report["task"])] = str(report.get("lastStatus"))
        return True
