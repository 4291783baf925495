"""`StateReporter` with a control plane that takes many reports per call (SubmitTaskStates):
queued reports go out together, in order, each settled by its own result."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from stowage.agent.clock import SystemClock
from stowage.agent.reporter import StateReporter
from stowage.client import ApiError

JSON = dict[str, Any]


class BatchControl:
    """Records calls; refuses reports of tasks named in ``refuse``; fails ``outages`` calls."""

    def __init__(self) -> None:
        self.calls: list[list[JSON]] = []
        self.refuse: set[str] = set()
        self.outages = 0

    async def submit_task_state(self, report: JSON) -> None:
        self.calls.append([report])

    async def submit_task_states(self, cluster: str, instance: str, reports: Sequence[JSON]) -> list[JSON]:
        assert (cluster, instance) == ("c", "i")
        if self.outages:
            self.outages -= 1
            raise ApiError("ServerException", "down", 500, "SubmitTaskStates")
        self.calls.append(list(reports))
        return [
            {"task": r["task"], "errorCode": "ClientException"}
            if r["task"] in self.refuse
            else {"task": r["task"], "acknowledgment": "ACK"}
            for r in reports
        ]


def reporter(control: BatchControl, linger_s: float = 0.01) -> StateReporter:
    return StateReporter(control, SystemClock(), lambda: ("c", "i"), max_backoff_s=0.01, linger_s=linger_s)  # type: ignore[arg-type]


async def drain(rep: StateReporter) -> None:
    runner = asyncio.create_task(rep.run())
    try:
        await asyncio.sleep(0)
        await asyncio.wait_for(rep.drained(), 10)
    finally:
        runner.cancel()


def test_queued_reports_go_in_one_call_in_order() -> None:
    asyncio.run(_queued_reports_go_in_one_call_in_order())


async def _queued_reports_go_in_one_call_in_order() -> None:
    control = BatchControl()
    rep = reporter(control)
    rep.submit({"task": "t1", "lastStatus": "PENDING"})
    rep.submit({"task": "t1", "lastStatus": "RUNNING"})
    rep.submit({"task": "t2", "lastStatus": "PENDING"})
    await drain(rep)
    assert [[(r["task"], r["lastStatus"]) for r in call] for call in control.calls] == [
        [("t1", "PENDING"), ("t1", "RUNNING"), ("t2", "PENDING")]
    ]
    assert rep.acked == {"t1": "RUNNING", "t2": "PENDING"}
    assert (rep.delivered, rep.dropped, rep.calls) == (3, 0, 1)


def test_refused_reports_are_settled_and_outages_retried() -> None:
    asyncio.run(_refused_reports_are_settled_and_outages_retried())


async def _refused_reports_are_settled_and_outages_retried() -> None:
    control = BatchControl()
    control.refuse = {"gone"}
    control.outages = 2
    rep = reporter(control)
    rep.submit({"task": "gone", "lastStatus": "RUNNING"})
    rep.submit({"task": "t1", "lastStatus": "RUNNING"})
    await drain(rep)
    assert len(control.calls) == 1  # the two failed calls were retried as one
    assert (rep.delivered, rep.dropped) == (1, 1)
    assert not rep.pending("gone") and not rep.pending("t1")


def test_a_lone_report_uses_the_single_call() -> None:
    asyncio.run(_a_lone_report_uses_the_single_call())


async def _a_lone_report_uses_the_single_call() -> None:
    control = BatchControl()
    rep = reporter(control, linger_s=0)
    rep.submit({"task": "t1", "lastStatus": "RUNNING"})
    await drain(rep)
    assert control.calls == [
        [{"cluster": "c", "containerInstance": "i", "task": "t1", "lastStatus": "RUNNING"}]
    ]


def statuses(call: list[JSON]) -> list[tuple[str, str]]:
    return [(r["task"], r["lastStatus"]) for r in call]


def test_reports_riding_on_a_poll_are_not_sent_again_and_settle_with_its_answer() -> None:
    asyncio.run(_reports_riding_on_a_poll_are_not_sent_again_and_settle_with_its_answer())


async def _reports_riding_on_a_poll_are_not_sent_again_and_settle_with_its_answer() -> None:
    control = BatchControl()
    rep = reporter(control, linger_s=0)
    rep.submit({"task": "t1", "lastStatus": "PENDING"})
    rep.submit({"task": "t1", "lastStatus": "RUNNING"})
    rep.submit({"task": "gone", "lastStatus": "RUNNING"})
    ride = rep.board()
    assert ride is not None
    assert statuses(ride.reports) == [("t1", "PENDING"), ("t1", "RUNNING"), ("gone", "RUNNING")]
    assert rep.board() is None  # nothing else to carry: they are all riding
    sender = asyncio.create_task(rep.run())
    try:
        for _ in range(20):
            await asyncio.sleep(0)
        assert control.calls == []  # the reporter leaves riding reports to their poll
        assert rep.pending("t1") and rep.backlog == 3
        rep.landed(
            ride,
            [
                {"task": "t1", "acknowledgment": "ACK"},
                {"task": "t1", "acknowledgment": "ACK"},
                {"task": "gone", "errorCode": "ClientException", "errorMessage": "not found"},
            ],
        )
        await asyncio.wait_for(rep.drained(), 10)
    finally:
        sender.cancel()
    assert control.calls == []
    assert rep.acked == {"t1": "RUNNING", "gone": "RUNNING"}
    assert (rep.delivered, rep.dropped) == (2, 1)


def test_a_newer_report_waits_for_its_riding_predecessor_and_flags_the_poll() -> None:
    asyncio.run(_a_newer_report_waits_for_its_riding_predecessor_and_flags_the_poll())


async def _a_newer_report_waits_for_its_riding_predecessor_and_flags_the_poll() -> None:
    control = BatchControl()
    rep = reporter(control, linger_s=0)
    blocked: list[int] = []
    rep.on_blocked = lambda: blocked.append(1)
    rep.submit({"task": "t1", "lastStatus": "RUNNING"})
    ride = rep.board()
    assert ride is not None
    rep.submit({"task": "t2", "lastStatus": "RUNNING"})  # another task's report is not held up
    assert blocked == []
    rep.submit({"task": "t1", "lastStatus": "STOPPED"})
    assert blocked == [1]
    sender = asyncio.create_task(rep.run())
    try:
        await until_sent(control, 1)
        assert [statuses(c) for c in control.calls] == [[("t2", "RUNNING")]]
        # The poll got no answer (cut short): its report goes again, ahead of the newer one.
        rep.missed(ride)
        await asyncio.wait_for(rep.drained(), 10)
    finally:
        sender.cancel()
    assert [statuses(c) for c in control.calls] == [
        [("t2", "RUNNING")],
        [("t1", "RUNNING"), ("t1", "STOPPED")],
    ]
    assert rep.acked == {"t1": "STOPPED", "t2": "RUNNING"}


async def until_sent(control: BatchControl, calls: int) -> None:
    for _ in range(1000):
        if len(control.calls) >= calls:
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"expected {calls} calls, got {control.calls}")
