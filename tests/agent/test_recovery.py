"""Restarts, outages and neighbours: the agent never duplicates, kills or loses containers."""

from __future__ import annotations

from pathlib import Path

from stowage.agent import labels as lbl
from stowage.agent.identity import load_identity
from tests.agent.harness import Harness, container, run, until


def test_restart_reregisters_same_instance_and_adopts_containers(tmp_path: Path) -> None:
    async def body() -> None:
        h = Harness(tmp_path)
        agent = await h.start()
        first_arn = agent.instance_arn
        long = await h.control.assign(
            agent.instance_arn, h.control.task_definition(container("a", "sleep", "1000"))
        )
        short = await h.control.assign(
            agent.instance_arn, h.control.task_definition(container("b", "sleep", "1000"))
        )
        await h.reach(long, "RUNNING")
        await h.reach(short, "RUNNING")
        before = {c.id for c in h.containers()}
        reports_before = len(long.reports)
        await h.kill(agent)
        h.engine.exit(h.task_containers(short)["b"].id, 9)  # exits while the agent is down
        again = await h.start()
        assert again.instance_arn == first_arn
        assert h.control.registrations[-1]["containerInstanceArn"] == first_arn
        assert load_identity(tmp_path / "agent-a").instance_arn == first_arn
        state = await h.reach(short, "STOPPED")
        assert state["containers"][0]["exitCode"] == 9
        assert {c.id for c in h.containers()} == before  # no duplicates, nothing removed
        assert h.task_containers(long)["a"].running
        # The adopted running task is reported as it is (RUNNING), never as PENDING again.
        assert "PENDING" not in long.statuses()[reports_before:]
        await h.control.stop(long)
        await h.reach(long, "STOPPED")
        await h.close()

    run(body())


def test_container_created_but_not_started_before_a_crash_is_started_not_duplicated(tmp_path: Path) -> None:
    async def body() -> None:
        h = Harness(tmp_path)
        agent = await h.start()
        task = await h.control.assign(
            agent.instance_arn,
            h.control.task_definition(
                container("init", "sh", "-c", "exit 0", essential=False),
                container(
                    "app", "sleep", "1000", dependsOn=[{"containerName": "init", "condition": "SUCCESS"}]
                ),
            ),
        )
        await h.reach(task, "RUNNING")
        await h.kill(agent)
        # Simulate the crash window: the app container exists (created) but never started.
        fake = h.engine.containers[h.task_containers(task)["app"].id]
        fake.status = fake.status.__class__("created")
        fake.started_at = None
        await h.start()
        await until(lambda: h.task_containers(task)["app"].running, "app started by the new agent")
        assert len(h.task_containers(task)) == 2
        await h.close()

    run(body())


def test_outage_keeps_containers_and_delivers_queued_reports(tmp_path: Path) -> None:
    async def body() -> None:
        h = Harness(tmp_path)
        agent = await h.start()
        task = await h.control.assign(
            agent.instance_arn, h.control.task_definition(container("a", "sleep", "1000"))
        )
        await h.reach(task, "RUNNING")
        await h.control.go_down()
        await until(lambda: not agent.connected, "the agent noticed")
        cid = h.task_containers(task)["a"].id
        h.engine.exit(cid, 3)
        await until(lambda: agent.reporter.backlog > 0, "a queued STOPPED report")
        await h.clock.advance(120)  # backoff passes, the control plane is still away
        assert task.last == "RUNNING" and agent.reporter.backlog > 0
        h.control.come_back()
        await h.clock.advance(60)
        state = await h.reach(task, "STOPPED")
        assert state["containers"][0]["exitCode"] == 3
        await until(lambda: agent.connected, "reconnected")
        await h.close()

    run(body())


def test_two_agents_on_one_engine_only_touch_their_own(tmp_path: Path) -> None:
    async def body() -> None:
        h = Harness(tmp_path)
        a = await h.start("a")
        b = await h.start("b")
        assert a.instance_arn != b.instance_arn
        ta = await h.control.assign(
            a.instance_arn, h.control.task_definition(container("x", "sleep", "1000"))
        )
        tb = await h.control.assign(
            b.instance_arn, h.control.task_definition(container("x", "sleep", "1000"))
        )
        await h.reach(ta, "RUNNING")
        await h.reach(tb, "RUNNING")
        assert [c.labels[lbl.TASK_ARN] for c in h.containers(a)] == [ta.arn]
        assert [c.labels[lbl.TASK_ARN] for c in h.containers(b)] == [tb.arn]
        # a restarts: it adopts its own and neither stops nor adopts b's
        await h.kill(a)
        a2 = await h.start("a")
        assert a2.instance_arn == a.instance_arn
        await until(lambda: ta.arn in a2.runners, "a adopted its task")
        assert tb.arn not in a2.runners
        assert h.task_containers(tb)["x"].running and h.task_containers(ta)["x"].running
        await h.close()

    run(body())


def test_stopped_task_containers_removed_after_cleanup_wait(tmp_path: Path) -> None:
    async def body() -> None:
        h = Harness(tmp_path)
        agent = await h.start(cleanup_wait_s=600, gc_interval_s=60)
        task = await h.control.assign(
            agent.instance_arn, h.control.task_definition(container("a", "sh", "-c", "exit 0"))
        )
        await h.reach(task, "STOPPED")
        await until(lambda: task.arn not in agent.runners, "runner forgotten")
        assert await agent.collect_garbage() == 0  # too recent: kept for inspection
        await h.clock.advance(601 + 60)
        await until(lambda: h.task_containers(task) == {}, "containers removed")
        await h.close()

    run(body())


def test_log_shipping_resumes_after_restart_without_duplicates(tmp_path: Path) -> None:
    async def body() -> None:
        h = Harness(tmp_path)
        agent = await h.start(log_flush_interval_s=1)
        log = {"logDriver": "awslogs", "options": {"awslogs-group": "g", "awslogs-stream-prefix": "p"}}
        h.control.groups["g"] = {}  # exists; awslogs-create-group not set
        task = await h.control.assign(
            agent.instance_arn,
            h.control.task_definition(container("app", "sleep", "1000", logConfiguration=log)),
        )
        await h.reach(task, "RUNNING")
        stream = f"p/app/{task.arn.rsplit('/', 1)[-1]}"
        cid = h.task_containers(task)["app"].id
        for i in range(3):
            h.engine.write_log(cid, f"line {i}")
        await h.clock.advance(1)
        await until(lambda: len(h.control.events("g", stream)) == 3, "first lines shipped")
        await h.kill(agent)
        for i in range(3, 5):
            h.engine.write_log(cid, f"line {i}", "stderr")
        await h.start(log_flush_interval_s=1)
        await h.clock.advance(1)
        await until(lambda: len(h.control.events("g", stream)) >= 5, "lines written while down")
        await h.clock.advance(1)
        assert h.control.events("g", stream) == [f"line {i}" for i in range(5)]
        await h.close()

    run(body())


def test_missing_log_group_fails_the_container_start(tmp_path: Path) -> None:
    async def body() -> None:
        h = Harness(tmp_path)
        agent = await h.start()
        log = {"logDriver": "awslogs", "options": {"awslogs-group": "absent", "awslogs-stream-prefix": "p"}}
        task = await h.control.assign(
            agent.instance_arn,
            h.control.task_definition(container("app", "sleep", "1000", logConfiguration=log)),
        )
        state = await h.reach(task, "STOPPED")
        assert state["stopCode"] == "TaskFailedToStart"
        assert "ResourceNotFoundException: The specified log group does not exist." in state["stoppedReason"]
        assert not h.task_containers(task)["app"].running
        await h.close()

    run(body())
