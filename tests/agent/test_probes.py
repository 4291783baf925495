"""A pod container's probes on the agent (fake engine and its exec, virtual time; httpGet and
tcpSocket against real sockets on 127.0.0.1)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from aiohttp import web

from stowage.agent import labels as lbl
from stowage.runtime.base import ExecResult
from tests.agent.fakes import FakeTask
from tests.agent.harness import Harness, container, run, until


def _pod(name: str, policy: str = "Always", **k8s: Any) -> dict[str, Any]:
    return container(name, "sleep", "1000", _k8s={"restartPolicy": policy, **k8s})


def _life(task: FakeTask, name: str) -> dict[str, Any]:
    if not task.reports:
        return {}
    return dict(task.container(name).get("lifecycle") or {})


def _running(h: Harness, task: FakeTask) -> str:
    return next(
        s.id
        for s in h.containers()
        if s.labels.get(lbl.TASK_ARN) == task.arn
        and s.labels.get(lbl.ROLE) == lbl.ROLE_CONTAINER
        and s.running
    )


class Answers:
    """The fake engine's exec: per command (its last word), exit 0 or a failure with output."""

    def __init__(self, h: Harness) -> None:
        self.ok: dict[str, bool] = {}
        self.calls: list[str] = []
        h.engine.exec_handler = self

    def __call__(self, container_id: str, argv: tuple[str, ...]) -> ExecResult | None:
        key = argv[-1]
        if key not in self.ok:
            return None
        self.calls.append(key)
        if self.ok[key]:
            return ExecResult(0, "")
        return ExecResult(1, f"cat: can't open '{key}': No such file or directory\n")


def test_failed_liveness_kills_and_restarts_the_container(tmp_path: Path) -> None:
    async def body() -> None:
        h = Harness(tmp_path)
        answers = Answers(h)
        answers.ok["/tmp/alive"] = False
        agent = await h.start()
        probe = {"exec": {"command": ["cat", "/tmp/alive"]}, "periodSeconds": 10, "failureThreshold": 3}
        task = await h.control.assign(
            agent.instance_arn, h.control.task_definition(_pod("app", livenessProbe=probe))
        )
        await h.reach(task, "RUNNING")
        first = _running(h, task)
        await until(lambda: _life(task, "app").get("probeFailure", {}).get("count") == 1, "first failure")
        assert _life(task, "app")["ready"] is True  # liveness alone does not make it unready
        await h.clock.advance(10)
        await until(lambda: _life(task, "app")["probeFailure"]["count"] == 2, "second failure")
        assert task.container("app")["restartCount"] == 0
        await h.clock.advance(10)
        await until(lambda: task.container("app").get("restartCount") == 1, "killed and restarted")
        assert any(
            (c.get("lifecycle") or {}).get("killing") == "Liveness"
            for r in task.reports
            for c in r["containers"]
        )
        app = task.container("app")
        failure = app["lifecycle"]["probeFailure"]
        assert failure["probe"] == "Liveness" and failure["count"] >= 3  # the new run is probed too
        assert failure["message"] == "cat: can't open '/tmp/alive': No such file or directory\n"
        assert app["lastExit"]["cause"] == "Liveness" and app["lastExit"]["exitCode"] == 137
        assert app["lastExit"]["runtimeId"] == first and app["runtimeId"] != first
        assert "killing" not in app["lifecycle"] and task.last == "RUNNING"
        # The new run is probed from its start: it passes now.
        answers.ok["/tmp/alive"] = True
        await h.clock.advance(30)
        assert task.container("app")["restartCount"] == 1
        await h.close()

    run(body())


def test_readiness_follows_its_probe_with_thresholds(tmp_path: Path) -> None:
    async def body() -> None:
        h = Harness(tmp_path)
        answers = Answers(h)
        answers.ok["/tmp/ready"] = False
        agent = await h.start()
        probe = {"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 5, "failureThreshold": 2,
                 "successThreshold": 2}  # fmt: skip
        task = await h.control.assign(
            agent.instance_arn, h.control.task_definition(_pod("web", readinessProbe=probe))
        )
        await h.reach(task, "RUNNING")
        await until(
            lambda: _life(task, "web").get("probeFailure", {}).get("probe") == "Readiness", "a failure"
        )
        assert _life(task, "web")["ready"] is False and _life(task, "web")["started"] is True
        answers.ok["/tmp/ready"] = True
        await h.clock.advance(5)
        assert _life(task, "web")["ready"] is False  # one success of the two needed
        await h.clock.advance(5)
        await until(lambda: _life(task, "web")["ready"] is True, "ready")
        answers.ok["/tmp/ready"] = False
        await h.clock.advance(5)
        assert _life(task, "web")["ready"] is True  # one failure of the two needed
        await h.clock.advance(5)
        await until(lambda: _life(task, "web")["ready"] is False, "unready again")
        assert task.container("web")["restartCount"] == 0  # readiness never restarts
        await h.close()

    run(body())


def test_startup_probe_gates_the_others_and_its_failure_restarts(tmp_path: Path) -> None:
    async def body() -> None:
        h = Harness(tmp_path)
        answers = Answers(h)
        answers.ok.update({"/tmp/started": False, "/tmp/alive": False, "/tmp/ready": True})
        agent = await h.start()
        k8s = {
            "startupProbe": {
                "exec": {"command": ["cat", "/tmp/started"]},
                "periodSeconds": 1,
                "failureThreshold": 30,
            },
            "livenessProbe": {"exec": {"command": ["cat", "/tmp/alive"]}, "periodSeconds": 10},
            "readinessProbe": {"exec": {"command": ["cat", "/tmp/ready"]}, "initialDelaySeconds": 5},
        }
        task = await h.control.assign(agent.instance_arn, h.control.task_definition(_pod("app", **k8s)))
        await h.reach(task, "RUNNING")
        for _ in range(20):
            await h.clock.advance(1)
        assert set(answers.calls) == {"/tmp/started"}  # neither liveness nor readiness ran
        assert _life(task, "app")["started"] is False and _life(task, "app")["ready"] is False
        answers.ok["/tmp/started"] = answers.ok["/tmp/alive"] = True
        await h.clock.advance(1)
        await until(lambda: _life(task, "app").get("started") is True, "started")
        await h.clock.advance(10)
        await until(lambda: _life(task, "app").get("ready") is True, "ready")
        assert {"/tmp/alive", "/tmp/ready"} <= set(answers.calls)
        calls = answers.calls.count("/tmp/started")
        await h.clock.advance(10)
        assert answers.calls.count("/tmp/started") == calls  # a passed startup probe stops

        # a startup probe that never passes: killed after failureThreshold, then restarted
        answers.ok["/tmp/never"] = False
        never = {
            "startupProbe": {
                "exec": {"command": ["cat", "/tmp/never"]},
                "periodSeconds": 2,
                "failureThreshold": 3,
            }
        }
        other = await h.control.assign(agent.instance_arn, h.control.task_definition(_pod("slow", **never)))
        await h.reach(other, "RUNNING")
        for _ in range(3):
            await h.clock.advance(2)
        await until(lambda: other.container("slow").get("restartCount") == 1, "restarted")
        assert other.container("slow")["lastExit"]["cause"] == "Startup"
        await h.close()

    run(body())


def test_initial_delay_and_never_policy_on_liveness_failure(tmp_path: Path) -> None:
    async def body() -> None:
        h = Harness(tmp_path)
        answers = Answers(h)
        answers.ok["/tmp/alive"] = False
        agent = await h.start()
        probe = {"exec": {"command": ["cat", "/tmp/alive"]}, "initialDelaySeconds": 30, "periodSeconds": 10,
                 "failureThreshold": 1}  # fmt: skip
        td = h.control.task_definition(_pod("once", "Never", livenessProbe=probe))
        task = await h.control.assign(agent.instance_arn, td)
        await h.reach(task, "RUNNING")
        await h.clock.advance(29)
        assert answers.calls == []
        await h.clock.advance(1)
        state = await h.reach(task, "STOPPED")  # killed, and Never: the pod is over
        assert state["containers"][0]["exitCode"] == 137 and answers.calls == ["/tmp/alive"]
        assert state["containers"][0]["restartCount"] == 0
        await h.close()

    run(body())


async def _http_server(status: dict[str, int]) -> tuple[web.AppRunner, int]:
    async def health(request: web.Request) -> web.Response:
        assert request.headers["User-Agent"].startswith("kube-probe/")
        return web.Response(status=status["code"], text="ok")

    app = web.Application()
    app.router.add_get("/healthz", health)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, int(port)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_http_and_tcp_probes_against_real_sockets(tmp_path: Path) -> None:
    async def body() -> None:
        status = {"code": 500}
        server, port = await _http_server(status)
        closed = _closed_port()
        h = Harness(tmp_path)
        agent = await h.start()
        http = {"host": "127.0.0.1", "port": "web", "path": "/healthz"}
        tcp = {"host": "127.0.0.1", "port": closed}
        k8s = {
            "readinessProbe": {"httpGet": http, "periodSeconds": 5},
            "livenessProbe": {"tcpSocket": tcp, "periodSeconds": 5, "failureThreshold": 100},
            "ports": {"web": port},
        }
        task = await h.control.assign(agent.instance_arn, h.control.task_definition(_pod("app", **k8s)))
        await h.reach(task, "RUNNING")

        def failures() -> dict[str, str]:
            return {
                c["lifecycle"]["probeFailure"]["probe"]: c["lifecycle"]["probeFailure"]["message"]
                for r in task.reports
                for c in r["containers"]
                if c.get("lifecycle", {}).get("probeFailure")
            }

        await until(lambda: len(failures()) == 2, "both probes failed", within=10)
        assert failures()["Readiness"] == "HTTP probe failed with statuscode: 500"
        assert failures()["Liveness"] == f"dial tcp 127.0.0.1:{closed}: connect: connection refused"
        status["code"] = 204
        await h.clock.advance(5)
        await until(lambda: _life(task, "app").get("ready") is True, "ready on 2xx", within=10)
        await h.close()
        await server.cleanup()

    run(body())
