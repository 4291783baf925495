"""Container restarts on the agent (fake engine, in-memory control plane, virtual time): ECS's
container restartPolicy and a pod's restartPolicy with the kubelet's back-off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stowage.agent import labels as lbl
from stowage.runtime.base import ContainerState
from tests.agent.fakes import FakeTask
from tests.agent.harness import Harness, container, run, until


def _attempts(h: Harness, task: FakeTask, name: str) -> list[ContainerState]:
    """The containers of one task container, oldest attempt first."""
    found = [
        s
        for s in h.containers()
        if s.labels.get(lbl.TASK_ARN) == task.arn
        and s.labels.get(lbl.CONTAINER_NAME) == name
        and s.labels.get(lbl.ROLE) == lbl.ROLE_CONTAINER
    ]
    return sorted(found, key=lambda s: int(s.labels.get(lbl.ATTEMPT, "0")))


def _pod_container(name: str, policy: str, *command: str, **k8s: Any) -> dict[str, Any]:
    return container(name, *command, _k8s={"restartPolicy": policy, **k8s})


def test_ecs_restart_policy_restarts_after_the_attempt_period_and_not_before(tmp_path: Path) -> None:
    async def body() -> None:
        h = Harness(tmp_path)
        agent = await h.start()
        policy = {"enabled": True, "restartAttemptPeriod": 60}
        td = h.control.task_definition(container("app", "sleep", "1000", restartPolicy=policy))
        task = await h.control.assign(agent.instance_arn, td)
        await h.reach(task, "RUNNING")
        first = _attempts(h, task, "app")[0]
        await h.clock.advance(61)
        h.engine.exit(first.id, 1)
        await until(lambda: task.container("app").get("restartCount") == 1, "the first restart")
        app = task.container("app")
        assert app["lastStatus"] == "RUNNING" and "exitCode" not in app
        assert app["lastExit"]["exitCode"] == 1 and app["lastExit"]["runtimeId"] == first.id
        attempts = _attempts(h, task, "app")
        assert [a.labels.get(lbl.ATTEMPT) for a in attempts] == [None, "1"]
        assert attempts[1].running and app["runtimeId"] == attempts[1].id
        assert attempts[1].name.endswith("-1")
        assert task.last == "RUNNING"
        # Exiting again before another restartAttemptPeriod: ends as without a policy.
        await h.clock.advance(5)
        h.engine.exit(attempts[1].id, 2)
        state = await h.reach(task, "STOPPED")
        assert state["stopCode"] == "EssentialContainerExited"
        app = task.container("app")
        assert app["exitCode"] == 2 and app["restartCount"] == 1
        await h.close()

    run(body())


def test_ecs_restart_policy_ignored_exit_code_and_early_exit_are_final(tmp_path: Path) -> None:
    async def body() -> None:
        h = Harness(tmp_path)
        agent = await h.start()
        ignored = {"enabled": True, "ignoredExitCodes": [3], "restartAttemptPeriod": 60}
        early = {"enabled": True}  # the default period: 300 s
        td = h.control.task_definition(
            container("ignored", "sleep", "1000", restartPolicy=ignored, essential=False),
            container("early", "sleep", "1000", restartPolicy=early, essential=False),
            container("main", "sleep", "1000"),
        )
        task = await h.control.assign(agent.instance_arn, td)
        await h.reach(task, "RUNNING")
        await h.clock.advance(120)
        h.engine.exit(_attempts(h, task, "ignored")[0].id, 3)
        h.engine.exit(_attempts(h, task, "early")[0].id, 1)
        await until(
            lambda: {task.container(n)["lastStatus"] for n in ("ignored", "early")} == {"STOPPED"},
            "both stopped",
        )
        assert task.container("ignored")["exitCode"] == 3 and task.container("early")["exitCode"] == 1
        assert len(_attempts(h, task, "ignored")) == len(_attempts(h, task, "early")) == 1
        assert task.container("early")["restartCount"] == 0 and task.last == "RUNNING"
        await h.close()

    run(body())


def test_pod_always_restarts_with_the_kubelet_back_off(tmp_path: Path) -> None:
    async def body() -> None:
        h = Harness(tmp_path)
        agent = await h.start()
        td = h.control.task_definition(_pod_container("crash", "Always", "sh", "-c", "echo boom; exit 1"))
        task = await h.control.assign(agent.instance_arn, td)

        def app() -> dict[str, Any]:
            return task.container("crash") if task.reports else {}

        # The first restart is at once; then the second waits 10 s (CrashLoopBackOff).
        await until(lambda: app().get("lifecycle", {}).get("waitingReason") == "CrashLoopBackOff", "back-off")
        assert app()["restartCount"] == 1 and app()["lifecycle"]["backOffSeconds"] == 10
        assert app()["lastExit"]["exitCode"] == 1 and app()["lastStatus"] == "RUNNING"
        assert task.last == "RUNNING"
        waits = []
        for expected in (10, 20, 40, 80):
            assert app()["lifecycle"]["backOffSeconds"] == expected
            count = app()["restartCount"]
            await h.clock.advance(expected - 1)
            assert app()["restartCount"] == count  # not yet
            await h.clock.advance(1)
            await until(lambda c=count: app().get("restartCount") == c + 1, f"restart after {expected}s")
            await until(lambda: "waitingReason" in app().get("lifecycle", {}), "back-off again")
            waits.append(expected)
        assert app()["restartCount"] == 5 and app()["lifecycle"]["backOffSeconds"] == 160
        # Every attempt is its own container; the previous one is kept, older ones removed. In
        # back-off the container is the attempt that just exited (as the kubelet shows it).
        attempts = _attempts(h, task, "crash")
        assert [a.labels.get(lbl.ATTEMPT) for a in attempts] == ["4", "5"]
        assert app()["runtimeId"] == app()["lastExit"]["runtimeId"] == attempts[1].id
        assert not attempts[1].running and attempts[1].name.endswith("-5")
        assert task.last == "RUNNING" and waits == [10, 20, 40, 80]
        await h.close()

    run(body())


def test_back_off_starts_over_after_ten_minutes_of_running(tmp_path: Path) -> None:
    async def body() -> None:
        h = Harness(tmp_path)
        agent = await h.start()
        td = h.control.task_definition(_pod_container("app", "Always", "sleep", "1000"))
        task = await h.control.assign(agent.instance_arn, td)
        await h.reach(task, "RUNNING")
        h.engine.exit(_attempts(h, task, "app")[-1].id, 1)
        await until(lambda: task.container("app").get("restartCount") == 1, "restart at once")
        await h.clock.advance(3)
        h.engine.exit(_attempts(h, task, "app")[-1].id, 1)
        await until(lambda: task.container("app")["lifecycle"].get("backOffSeconds") == 10, "back-off 10s")
        await h.clock.advance(10)
        await until(lambda: task.container("app").get("restartCount") == 2, "second restart")
        await h.clock.advance(601)  # ran more than 10 minutes since its last restart
        h.engine.exit(_attempts(h, task, "app")[-1].id, 1)
        await until(lambda: task.container("app").get("restartCount") == 3, "restart at once again")
        assert "waitingReason" not in task.container("app")["lifecycle"]
        await h.close()

    run(body())


def test_pod_on_failure_and_never_end_when_every_container_has_ended(tmp_path: Path) -> None:
    async def body() -> None:
        h = Harness(tmp_path)
        agent = await h.start()
        td = h.control.task_definition(
            _pod_container("done", "OnFailure", "sleep", "1000"),
            _pod_container("worker", "OnFailure", "sleep", "1000"),
        )
        task = await h.control.assign(agent.instance_arn, td)
        await h.reach(task, "RUNNING")
        h.engine.exit(_attempts(h, task, "done")[0].id, 0)  # success: not restarted, pod goes on
        await until(lambda: task.container("done")["lastStatus"] == "STOPPED", "done stopped")
        assert task.last == "RUNNING" and task.container("worker")["lastStatus"] == "RUNNING"
        h.engine.exit(_attempts(h, task, "worker")[0].id, 1)  # a failure: restarted
        await until(lambda: task.container("worker").get("restartCount") == 1, "worker restarted")
        h.engine.exit(_attempts(h, task, "worker")[-1].id, 0)
        state = await h.reach(task, "STOPPED")
        assert [c["exitCode"] for c in state["containers"]] == [0, 0]

        never = h.control.task_definition(
            _pod_container("a", "Never", "sleep", "1000"), _pod_container("b", "Never", "sleep", "1000")
        )
        task = await h.control.assign(agent.instance_arn, never)
        await h.reach(task, "RUNNING")
        h.engine.exit(_attempts(h, task, "a")[0].id, 1)
        await until(lambda: task.container("a")["lastStatus"] == "STOPPED", "a stopped")
        assert task.last == "RUNNING" and task.container("a")["restartCount"] == 0
        h.engine.exit(_attempts(h, task, "b")[0].id, 0)
        state = await h.reach(task, "STOPPED")
        assert [c["exitCode"] for c in state["containers"]] == [1, 0]
        await h.close()

    run(body())


def test_stop_during_back_off_ends_with_the_last_exit_and_nothing_restarts(tmp_path: Path) -> None:
    async def body() -> None:
        h = Harness(tmp_path)
        agent = await h.start()
        td = h.control.task_definition(_pod_container("crash", "Always", "sh", "-c", "exit 7"))
        task = await h.control.assign(agent.instance_arn, td)
        await until(
            lambda: bool(task.reports) and "waitingReason" in task.container("crash").get("lifecycle", {}),
            "back-off",
        )
        await h.control.stop(task)
        state = await h.reach(task, "STOPPED")
        assert state["containers"][0]["exitCode"] == 7
        created = len(_attempts(h, task, "crash"))
        await h.clock.advance(60)
        assert len(_attempts(h, task, "crash")) == created
        await h.close()

    run(body())


def test_restart_count_survives_an_agent_restart(tmp_path: Path) -> None:
    async def body() -> None:
        h = Harness(tmp_path)
        agent = await h.start()
        td = h.control.task_definition(_pod_container("app", "Always", "sleep", "1000"))
        task = await h.control.assign(agent.instance_arn, td)
        await h.reach(task, "RUNNING")
        for n in (1, 2):
            h.engine.exit(_attempts(h, task, "app")[-1].id, 1)
            await h.clock.advance(10)
            await until(lambda n=n: task.container("app").get("restartCount") == n, f"restart {n}")
        await h.kill(agent)
        again = await h.start()
        assert again.instance_arn == agent.instance_arn
        reports = len(task.reports)
        await until(lambda: len(task.reports) > reports or task.state.get("containers"), "a report")
        h.engine.exit(_attempts(h, task, "app")[-1].id, 1)
        await until(lambda: task.container("app").get("restartCount") == 3, "the count went on")
        assert task.container("app")["lastExit"]["exitCode"] == 1
        await h.close()

    run(body())


_LOGS = {
    "logDriver": "awslogs",
    "options": {"awslogs-group": "g", "awslogs-stream-prefix": "p", "awslogs-create-group": "true"},
}


def test_each_instance_of_a_pod_container_writes_its_own_stream(tmp_path: Path) -> None:
    """Instance N of a pod container logs to ``<stream>/<N>`` (``kubectl logs --previous``),
    also after an agent restart; an ECS container's restarts write on to its one stream."""

    async def body() -> None:
        h = Harness(tmp_path)
        agent = await h.start(log_flush_interval_s=1)
        policy = {"enabled": True, "restartAttemptPeriod": 60}
        td = h.control.task_definition(
            container("pod", "sleep", "1000", _k8s={"restartPolicy": "Always"}, logConfiguration=_LOGS),
            container("ecs", "sleep", "1000", restartPolicy=policy, logConfiguration=_LOGS),
        )
        task = await h.control.assign(agent.instance_arn, td)
        await h.reach(task, "RUNNING")
        tid = task.arn.rsplit("/", 1)[-1]
        await h.clock.advance(61)  # ECS restarts only a container that ran its attempt period
        for n in (1, 2):
            streams = {"pod": f"p/pod/{tid}" + ("/1" if n == 2 else ""), "ecs": f"p/ecs/{tid}"}
            for name, stream in streams.items():
                cid = _attempts(h, task, name)[-1].id
                h.engine.write_log(cid, f"{name} run {n - 1}")
                await h.clock.advance(1)
                await until(
                    lambda s=stream, n=n: f"run {n - 1}" in " ".join(h.control.events("g", s)), "shipped"
                )
                h.engine.exit(cid, 1)
            await h.clock.advance(61 if n == 1 else 10)
            await until(lambda n=n: task.container("pod").get("restartCount") == n, f"pod restart {n}")
            await until(lambda n=n: task.container("ecs").get("restartCount") == n, f"ecs restart {n}")
        await h.kill(agent)
        await h.start(log_flush_interval_s=1)
        for name in ("pod", "ecs"):
            h.engine.write_log(_attempts(h, task, name)[-1].id, f"{name} run 2")
        await h.clock.advance(1)
        await until(lambda: h.control.events("g", f"p/pod/{tid}/2") == ["pod run 2"], "instance 2's stream")
        await until(lambda: len(h.control.events("g", f"p/ecs/{tid}")) == 3, "the ECS stream")
        assert h.control.events("g", f"p/pod/{tid}") == ["pod run 0"]
        assert h.control.events("g", f"p/pod/{tid}/1") == ["pod run 1"]
        assert h.control.events("g", f"p/ecs/{tid}") == ["ecs run 0", "ecs run 1", "ecs run 2"]
        assert not [s for s in h.control.groups["g"] if s.startswith(f"p/ecs/{tid}/")]
        await h.close()

    run(body())
