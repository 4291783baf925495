"""Task state reports riding on the agent's polls (fake engine, in-memory control plane,
virtual time): reports of a task that starts at once go on the next poll, not in a call of
their own; a newer report of a riding task cuts that long-poll short and everything goes, in
order, in one SubmitTaskStates call; a control plane that ignores riding reports loses none."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stowage.client import ApiError
from stowage.runtime.fake import FakeRuntime
from tests.agent.fakes import FakeControlPlane
from tests.agent.harness import Harness, container, run, until

JSON = dict[str, Any]
LINGER = 0.05


class CarryingControlPlane(FakeControlPlane):
    """The in-memory control plane, also answering SubmitTaskStates and polls carrying reports
    (``ignore_riding``: as a control plane that does not know them, which answers the poll
    without ``reportResults`` and records nothing)."""

    def __init__(self, *, ignore_riding: bool = False) -> None:
        super().__init__()
        self.ignore_riding = ignore_riding
        self.carried: list[JSON] = []
        self.batches: list[list[JSON]] = []
        self.cut = 0

    async def _apply(self, reports: Sequence[JSON]) -> list[JSON]:
        results: list[JSON] = []
        for r in reports:
            try:
                await self.submit_task_state(r)
            except ApiError as exc:
                results.append({"task": r["task"], "errorCode": exc.code, "errorMessage": exc.message})
            else:
                results.append({"task": r["task"], "acknowledgment": "ACK"})
        return results

    async def submit_task_states(self, cluster: str, instance: str, reports: Sequence[JSON]) -> list[JSON]:
        self._check()
        self.batches.append(list(reports))
        return await self._apply(reports)

    async def poll_carrying(
        self, cluster: str, instance: str, known_revision: int | None, wait_s: int, reports: Sequence[JSON]
    ) -> JSON:
        self._check()
        if self.ignore_riding:
            return await self.poll(cluster, instance, known_revision, wait_s)
        self.carried.extend(reports)
        results = await self._apply(reports)
        try:
            answer = await self.poll(cluster, instance, known_revision, wait_s)
        except asyncio.CancelledError:
            self.cut += 1
            raise
        return {**answer, "reportResults": results}


def statuses(reports: Sequence[JSON]) -> list[str]:
    return [str(r["lastStatus"]) for r in reports]


def test_reports_ride_on_the_next_poll_and_a_newer_one_cuts_it_short(tmp_path: Path) -> None:
    async def body() -> None:
        control = CarryingControlPlane()
        h = Harness(tmp_path, control=control)
        agent = await h.start(report_linger_s=LINGER, poll_wait_s=30)
        td = control.task_definition(container("app", "sh", "-c", "sleep 1000"))
        task = await control.assign(agent.instance_arn, td)
        await until(lambda: agent.reporter.backlog == 2, "PENDING and RUNNING queued")
        await h.clock.advance(LINGER)  # the poll leaves first, carrying both
        await until(lambda: task.last == "RUNNING", "RUNNING applied from the poll")
        assert statuses(control.carried) == ["PENDING", "RUNNING"]
        assert control.batches == []
        # The container exits while its reports still ride on the long-poll.
        app = h.task_containers(task)["app"]
        await FakeRuntime(h.engine).kill(app.id)
        await until(lambda: task.last == "STOPPED", "STOPPED delivered")
        assert control.cut == 1
        assert [statuses(b) for b in control.batches] == [["PENDING", "RUNNING", "STOPPED"]]
        assert task.state["containers"][0]["exitCode"] == 137
        await until(lambda: task.arn not in agent.runners, "the stopped task forgotten")
        await h.close()

    run(body())


def test_a_control_plane_ignoring_riding_reports_gets_them_in_calls(tmp_path: Path) -> None:
    async def body() -> None:
        control = CarryingControlPlane(ignore_riding=True)
        h = Harness(tmp_path, control=control)
        agent = await h.start(report_linger_s=LINGER, poll_wait_s=30)
        td = control.task_definition(container("app", "sh", "-c", "sleep 1000"))
        task = await control.assign(agent.instance_arn, td)
        await until(lambda: agent.reporter.backlog == 2, "PENDING and RUNNING queued")
        await h.clock.advance(LINGER)
        await until(lambda: control.polls == 3, "the poll carrying them sent")
        assert task.last == "PROVISIONING"  # ignored
        # The next change answers that poll, without results: riding is off, and the reports
        # go again in a call of their own.
        other = await control.assign(agent.instance_arn, td)
        await until(lambda: task.last == "RUNNING", "RUNNING delivered")
        assert control.carried == []
        assert [(r["task"], r["lastStatus"]) for r in control.batches[0]] == [
            (task.arn, "PENDING"),
            (task.arn, "RUNNING"),
        ]
        await h.clock.advance(LINGER)
        await until(lambda: other.last == "RUNNING", "the next task's reports delivered too")
        assert control.carried == []
        await h.close()

    run(body())
