"""`StateReporter`: delivers task state reports (SubmitTaskState[s]) in order, through outages.

Every report is a task's complete state as the agent sees it, so a newer report makes an older
undelivered one of the *same* ``lastStatus`` redundant: it is replaced in the queue. Reports of
different statuses are all delivered, in order (the control plane sees PENDING, RUNNING, then
STOPPED even when the container exited before RUNNING went out). While the control plane is
unreachable or answers 5xx, the queue waits and retries with backoff; nothing is lost. A 4xx
answer means the report itself is refused (say, the task no longer exists): it is dropped and
logged, as retrying cannot help.

Several queued reports (of one task or many) go out in one SubmitTaskStates call, which the
control plane applies per task in order and answers per report; a control plane without it
gets SubmitTaskState calls one by one.

Reports may also ride on the agent's next PollAssignments (`board`, then `landed` or
`missed`): the poll is sent anyway, so reports ready when it leaves cost no call of their own.
A task's riding reports are in flight until the poll answers; a newer report of that task
waits for them (reports of one task never overtake each other) and calls ``on_blocked``, so
the agent can cut that long-poll short rather than keep the newer report waiting for it.

``acked`` tells the agent what the control plane has recorded, so a stopped task's runner is
only forgotten once its STOPPED report has been accepted.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from stowage.agent.clock import Backoff, Clock
from stowage.agent.control import ControlPlane, batch_reports
from stowage.client import ApiError, ClientError, is_transient

JSON = dict[str, Any]
log = logging.getLogger(__name__)


MAX_BATCH = 64
"""Most reports sent in one SubmitTaskStates call (or riding on one poll)."""


@dataclass(frozen=True, slots=True)
class Ride:
    """Reports boarded on one PollAssignments call: ``picked`` (task, how many at the head of
    its queue) and the ``reports`` themselves, in order."""

    picked: list[tuple[str, int]]
    reports: list[JSON]


class StateReporter:
    def __init__(
        self,
        control: ControlPlane,
        clock: Clock,
        where: Callable[[], tuple[str, str]],
        *,
        max_backoff_s: float = 30.0,
        linger_s: float = 0.0,
    ) -> None:
        """``where()`` gives (cluster, container instance ARN) at send time. ``linger_s``: how
        long to let reports gather after the first one of a quiet spell, so a task's PENDING
        and RUNNING (or many tasks' reports) go out in one call."""
        self._control = control
        self._batch = batch_reports(control)
        self._clock = clock
        self._where = where
        self._linger_s = linger_s
        self._queues: OrderedDict[str, deque[JSON]] = OrderedDict()
        self._in_flight: dict[str, int] = {}
        """task ARN -> how many reports at the head of its queue are being sent."""
        self._riding: dict[str, int] = {}
        """task ARN -> how many reports at the head of its queue ride on a poll."""
        self.on_blocked: Callable[[], None] | None = None
        """Called when a report has to wait for reports of its task riding on a poll."""
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._settled: dict[str, asyncio.Event] = {}
        self._backoff = Backoff(base_s=0.5, max_s=max_backoff_s)
        self.acked: dict[str, str] = {}
        """task ARN -> the lastStatus of the last report settled (accepted, or refused for good)."""
        self.delivered = 0
        self.dropped = 0
        self.calls = 0

    def submit(self, report: JSON) -> None:
        """Queue ``report`` (a SubmitTaskState body without cluster/containerInstance)."""
        task = str(report["task"])
        queue = self._queues.setdefault(task, deque())
        busy = self._in_flight.get(task, 0) + self._riding.get(task, 0)
        if len(queue) > busy and queue[-1].get("lastStatus") == report.get("lastStatus"):
            queue[-1] = report
        else:
            queue.append(report)
        self._idle.clear()
        self._wake.set()
        if task in self._riding and self.on_blocked is not None:
            self.on_blocked()

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
        quiet = True
        while True:
            if not self._queues:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                quiet = True
                continue
            if quiet and self._linger_s > 0:
                await self._clock.sleep(self._linger_s)
            quiet = False
            picked = self._pick()
            if not picked:  # all riding on a poll: `landed` or `missed` wakes us
                self._wake.clear()
                await self._wake.wait()
                continue
            reports = self._heads(picked)
            for task, n in picked:
                self._in_flight[task] = n
            try:
                if len(reports) == 1 or self._batch is None:
                    outcomes = [await self._send(reports[0])]
                    picked = [(picked[0][0], 1)]
                else:
                    outcomes = await self._send_many(reports)
            finally:
                self._in_flight.clear()
            if outcomes[0] is None:  # transient: keep them all and retry after a pause
                await self._clock.sleep(self._backoff.next_delay())
                continue
            self._backoff.reset()
            self._pop(picked)

    def _pop(self, picked: Sequence[tuple[str, int]]) -> None:
        """Drop the reports settled from the heads of their queues."""
        for task, n in picked:
            queue = self._queues[task]
            for _ in range(n):
                queue.popleft()
            if not queue:
                del self._queues[task]
                if (event := self._settled.pop(task, None)) is not None:
                    event.set()
            else:
                self._queues.move_to_end(task)  # round-robin between tasks

    def board(self) -> Ride | None:
        """The queued reports of tasks with nothing in flight, to ride on the poll being sent;
        None when there are none. Settle the ride with `landed` or `missed`."""
        if self._batch is None:
            return None
        picked = self._pick()
        if not picked:
            return None
        for task, n in picked:
            self._riding[task] = n
        return Ride(picked, self._heads(picked))

    def landed(self, ride: Ride, results: Sequence[JSON]) -> None:
        """The poll that carried ``ride`` answered, with one result per report."""
        self._settle_results(ride.reports, results)
        self._unboard(ride)
        self._pop(ride.picked)
        self._wake.set()

    def missed(self, ride: Ride) -> None:
        """The poll that carried ``ride`` got no answer (or was cut short): its reports stay
        at the heads of their queues and go again."""
        self._unboard(ride)
        self._wake.set()

    def _heads(self, picked: Sequence[tuple[str, int]]) -> list[JSON]:
        """The reports ``picked`` names, in order: the first ``n`` of each task's queue."""
        return [r for task, n in picked for r in itertools.islice(self._queues[task], n)]

    def _unboard(self, ride: Ride) -> None:
        for task, _n in ride.picked:
            self._riding.pop(task, None)

    def _pick(self) -> list[tuple[str, int]]:
        """The tasks (oldest first) and how many of each one's reports go in the next call;
        tasks whose earlier reports ride on a poll wait for it."""
        room = MAX_BATCH if self._batch is not None else 1
        picked: list[tuple[str, int]] = []
        for task, queue in self._queues.items():
            if task in self._riding or task in self._in_flight:
                continue
            n = min(len(queue), room)
            picked.append((task, n))
            room -= n
            if room <= 0:
                break
        return picked

    async def _send(self, report: JSON) -> bool | None:
        """True delivered, False refused (dropped), None transient failure."""
        cluster, instance = self._where()
        body = {"cluster": cluster, "containerInstance": instance, **report}
        self.calls += 1
        try:
            await self._control.submit_task_state(body)
        except ClientError as exc:
            if is_transient(exc):
                log.info("task state report for %s not delivered yet: %s", report["task"], exc)
                return None
            log.warning("task state report for %s refused: %s", report["task"], exc)
            self._settle(report, delivered=False)
            return False
        self._settle(report, delivered=True)
        return True

    async def _send_many(self, reports: list[JSON]) -> list[bool | None]:
        """One SubmitTaskStates call: per report True/False as `_send`; [None] when the call
        as a whole failed transiently."""
        assert self._batch is not None
        cluster, instance = self._where()
        self.calls += 1
        try:
            results = await self._batch.submit_task_states(cluster, instance, reports)
        except ClientError as exc:
            if is_transient(exc):
                log.info("%d task state reports not delivered yet: %s", len(reports), exc)
                return [None]
            if isinstance(exc, ApiError) and exc.code == "UnknownOperationException":
                log.info("the control plane has no SubmitTaskStates: reports go one by one")
                self._batch = None
                return [None]
            log.warning("%d task state reports refused: %s", len(reports), exc)
            for report in reports:
                self._settle(report, delivered=False)
            return [False] * len(reports)
        return list(self._settle_results(reports, results))

    def _settle_results(self, reports: Sequence[JSON], results: Sequence[JSON]) -> list[bool]:
        """Settle each report by its result (``acknowledgment``, or an error: refused)."""
        outcomes: list[bool] = []
        for i, report in enumerate(reports):
            result = results[i] if i < len(results) else {}
            ok = result.get("acknowledgment") is not None
            if not ok:
                log.warning(
                    "task state report for %s refused: %s: %s",
                    report["task"],
                    result.get("errorCode"),
                    result.get("errorMessage"),
                )
            self._settle(report, delivered=ok)
            outcomes.append(ok)
        return outcomes

    def _settle(self, report: JSON, *, delivered: bool) -> None:
        # A refused report is settled all the same: retrying cannot change the answer.
        if delivered:
            self.delivered += 1
        else:
            self.dropped += 1
        self.acked[str(report["task"])] = str(report.get("lastStatus"))
