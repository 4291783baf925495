"""A task's life on the agent (fake engine, in-memory control plane, virtual time)."""

from __future__ import annotations

from pathlib import Path

from stowage.agent.task_state import OOM_REASON
from tests.agent.harness import Harness, container, run, until


def test_echo_task_runs_then_stops_with_exit_code_and_logs(tmp_path: Path) -> None:
    async def body() -> None:
        h = Harness(tmp_path)
        agent = await h.start()
        td = h.control.task_definition(
            container(
                "app",
                "sh",
                "-c",
                "echo hello from stowage",
                logConfiguration={
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": "/ecs/echo",
                        "awslogs-stream-prefix": "ecs",
                        "awslogs-create-group": "true",
                    },
                },
            )
        )
        task = await h.control.assign(agent.instance_arn, td)
        state = await h.reach(task, "STOPPED")
        assert task.statuses() == ["PENDING", "RUNNING", "STOPPED"]
        running = task.reports[1]
        assert running["startedAt"] >= running["pullStartedAt"]
        assert running["containers"][0]["lastStatus"] == "RUNNING"
        assert running["containers"][0]["runtimeId"]
        app = state["containers"][0]
        assert app["exitCode"] == 0 and app["lastStatus"] == "STOPPED"
        assert state["stopCode"] == "EssentialContainerExited"
        assert state["executionStoppedAt"] >= state["startedAt"]
        stream = f"ecs/app/{task.arn.rsplit('/', 1)[-1]}"
        await until(lambda: h.control.events("/ecs/echo", stream) == ["hello from stowage"], "log events")
        await h.close()

    run(body())


def test_stop_task_sends_sigterm_and_reports_no_stop_code(tmp_path: Path) -> None:
    async def body() -> None:
        h = Harness(tmp_path)
        agent = await h.start()
        td = h.control.task_definition(
            container("app", "sh", "-c", "trap 'echo bye; exit 0' TERM; sleep 1000", stopTimeout=5)
        )
        task = await h.control.assign(agent.instance_arn, td)
        await h.reach(task, "RUNNING")
        await h.control.stop(task)
        state = await h.reach(task, "STOPPED")
        assert state["containers"][0]["exitCode"] == 0  # the trap ran: SIGTERM reached it
        assert "stopCode" not in state  # UserInitiated is the control plane's
        assert [s.status.value for s in h.task_containers(task).values()] == ["exited"]
        await h.close()

    run(body())


def test_essential_exit_stops_sibling_but_non_essential_exit_does_not(tmp_path: Path) -> None:
    async def body() -> None:
        h = Harness(tmp_path)
        agent = await h.start()
        td = h.control.task_definition(
            container("main", "sleep", "1000"),
            container("side", "sleep", "1000", essential=False),
            container("oneshot", "sh", "-c", "exit 4", essential=False),
        )
        task = await h.control.assign(agent.instance_arn, td)
        await h.reach(task, "RUNNING")
        await until(lambda: task.container("oneshot")["lastStatus"] == "STOPPED", "oneshot exit")
        assert task.container("oneshot")["exitCode"] == 4
        assert task.last == "RUNNING" and task.container("main")["lastStatus"] == "RUNNING"
        h.engine.exit(h.task_containers(task)["main"].id, 2)
        state = await h.reach(task, "STOPPED")
        assert state["stopCode"] == "EssentialContainerExited"
        assert state["stoppedReason"] == "Essential container in task exited"
        assert task.container("main")["exitCode"] == 2
        assert task.container("side")["exitCode"] == 137  # stopped by the agent (sleep ignores TERM as PID 1)
        await h.close()

    run(body())


def test_oom_kill_is_reported_as_ecs_does(tmp_path: Path) -> None:
    async def body() -> None:
        h = Harness(tmp_path)
        agent = await h.start()
        task = await h.control.assign(
            agent.instance_arn, h.control.task_definition(container("hog", "sleep", "1"))
        )
        await h.reach(task, "RUNNING")
        h.engine.oom_kill(h.task_containers(task)["hog"].id)
        state = await h.reach(task, "STOPPED")
        hog = state["containers"][0]
        assert hog["reason"] == OOM_REASON and hog["exitCode"] == 137
        assert state["stopCode"] == "EssentialContainerExited"
        await h.close()

    run(body())


def test_missing_image_fails_the_task_with_cannot_pull(tmp_path: Path) -> None:
    async def body() -> None:
        h = Harness(tmp_path)
        agent = await h.start()
        td = h.control.task_definition(container("app", "true", image="nowhere/missing:1"))
        task = await h.control.assign(agent.instance_arn, td)
        state = await h.reach(task, "STOPPED")
        assert state["stopCode"] == "TaskFailedToStart"
        reason = state["containers"][0]["reason"]
        assert reason.startswith("CannotPullContainerError: ") and "nowhere/missing" in reason
        assert state["stoppedReason"] == reason
        assert "pullStartedAt" in state and "pullStoppedAt" in state and "startedAt" not in state
        assert h.task_containers(task) == {}
        await h.close()

    run(body())


def test_image_pulled_when_missing_locally(tmp_path: Path) -> None:
    async def body() -> None:
        h = Harness(tmp_path)
        h.engine.pullable["example/app:2"] = ("sleep", "1000")
        agent = await h.start()
        task = await h.control.assign(
            agent.instance_arn, h.control.task_definition(container("app", image="example/app:2"))
        )
        state = await h.reach(task, "RUNNING")
        assert state["pullStoppedAt"] >= state["pullStartedAt"]
        assert state["containers"][0]["imageDigest"].startswith("sha256:")
        await h.close()

    run(body())


def test_task_stopped_before_it_started_reports_stopped_without_containers(tmp_path: Path) -> None:
    async def body() -> None:
        h = Harness(tmp_path)
        agent = await h.start()
        td = h.control.task_definition(container("app", "sleep", "1000"))
        task = await h.control.assign(agent.instance_arn, td)
        task.desired = "STOPPED"  # StopTask before the agent heard of it
        await h.control.stop(task)
        state = await h.reach(task, "STOPPED")
        assert state["containers"][0]["lastStatus"] == "STOPPED"
        assert h.task_containers(task) == {}
        await h.close()

    run(body())


def test_unassigned_task_is_stopped(tmp_path: Path) -> None:
    async def body() -> None:
        h = Harness(tmp_path)
        agent = await h.start()
        task = await h.control.assign(
            agent.instance_arn, h.control.task_definition(container("a", "sleep", "9"))
        )
        await h.reach(task, "RUNNING")
        cid = h.task_containers(task)["a"].id
        h.control.tasks.pop(task.arn)
        await h.control._bump()
        await until(lambda: not h.engine._state(h.engine.containers[cid]).running, "container stopped")
        await h.close()

    run(body())
