"""Container ordering, health, networking and stats on the fake engine."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from stowage.agent import labels as lbl
from stowage.agent.host import attributes, docker_api_versions, total_resources
from stowage.runtime.base import HealthStatus
from tests.agent.harness import Harness, container, run, until


def test_depends_on_complete_success_and_start(tmp_path: Path) -> None:
    async def body() -> None:
        h = Harness(tmp_path)
        agent = await h.start()
        td = h.control.task_definition(
            container("init", "sh", "-c", "echo init; exit 0", essential=False),
            container("side", "sleep", "1000", essential=False),
            container(
                "app",
                "sleep",
                "1000",
                dependsOn=[
                    {"containerName": "init", "condition": "SUCCESS"},
                    {"containerName": "side", "condition": "START"},
                ],
            ),
        )
        task = await h.control.assign(agent.instance_arn, td)
        state = await h.reach(task, "RUNNING")
        by_name = {c["name"]: c for c in state["containers"]}
        assert by_name["init"]["lastStatus"] == "STOPPED" and by_name["init"]["exitCode"] == 0
        assert by_name["app"]["lastStatus"] == "RUNNING"
        init, app = h.task_containers(task)["init"], h.task_containers(task)["app"]
        assert init.finished_at is not None and app.started_at is not None
        assert app.started_at >= init.finished_at
        # Shutdown runs in reverse order: app (the dependent) before side.
        await h.control.stop(task)
        await h.reach(task, "STOPPED")
        side = h.task_containers(task)["side"]
        app = h.task_containers(task)["app"]
        assert (
            side.finished_at is not None
            and app.finished_at is not None
            and app.finished_at <= side.finished_at
        )
        await h.close()

    run(body())


def test_unmet_success_dependency_stops_the_task(tmp_path: Path) -> None:
    async def body() -> None:
        h = Harness(tmp_path)
        agent = await h.start()
        td = h.control.task_definition(
            container("init", "sh", "-c", "exit 1", essential=False),
            container("app", "sleep", "1000", dependsOn=[{"containerName": "init", "condition": "SUCCESS"}]),
        )
        task = await h.control.assign(agent.instance_arn, td)
        state = await h.reach(task, "STOPPED")
        app = next(c for c in state["containers"] if c["name"] == "app")
        assert app["reason"].startswith("CannotStartContainerError: dependency graph: failed to resolve")
        assert "init" in app["reason"]
        assert "app" not in h.task_containers(task)  # never created
        assert state["stopCode"] == "EssentialContainerExited"
        await h.close()

    run(body())


def test_healthy_dependency_and_health_reporting(tmp_path: Path) -> None:
    async def body() -> None:
        h = Harness(tmp_path)
        agent = await h.start()
        check = {"command": ["CMD-SHELL", "true"], "interval": 5}
        td = h.control.task_definition(
            container("db", "sleep", "1000", healthCheck=check),
            container("app", "sleep", "1000", dependsOn=[{"containerName": "db", "condition": "HEALTHY"}]),
        )
        task = await h.control.assign(agent.instance_arn, td)
        state = await h.reach(task, "RUNNING")
        assert task.container("db")["healthStatus"] == "HEALTHY"
        assert state["healthStatus"] == "HEALTHY"
        h.engine.set_health(h.task_containers(task)["db"].id, HealthStatus.UNHEALTHY)
        await until(lambda: task.state.get("healthStatus") == "UNHEALTHY", "task unhealthy")
        assert task.last == "RUNNING"  # unhealthy is reported, not acted on (that is the scheduler's job)
        await h.close()

    run(body())


def test_port_mappings_reported_as_network_bindings(tmp_path: Path) -> None:
    async def body() -> None:
        h = Harness(tmp_path)
        agent = await h.start()
        td = h.control.task_definition(
            container(
                "web",
                "httpd",
                "-f",
                portMappings=[{"containerPort": 80, "hostPort": 8080}, {"containerPort": 81}],
            )
        )
        task = await h.control.assign(agent.instance_arn, td)
        state = await h.reach(task, "RUNNING")
        bindings = {
            (b["containerPort"], b["hostPort"] if b["containerPort"] == 80 else "dyn")
            for b in state["containers"][0]["networkBindings"]
        }
        assert bindings == {(80, 8080), (81, "dyn")}
        dynamic = next(
            b["hostPort"] for b in state["containers"][0]["networkBindings"] if b["containerPort"] == 81
        )
        assert 32768 <= dynamic <= 60999
        await h.close()

    run(body())


def test_awsvpc_task_gets_a_namespace_and_an_eni_attachment(tmp_path: Path) -> None:
    async def body() -> None:
        h = Harness(tmp_path)
        agent = await h.start()
        td = h.control.task_definition(
            container("a", "sleep", "1000"), container("b", "sleep", "1000"), networkMode="awsvpc"
        )
        task = await h.control.assign(agent.instance_arn, td)
        state = await h.reach(task, "RUNNING")
        (attachment,) = state["attachments"]
        assert attachment["id"] == task.spec.network.attachment_id and attachment["status"] == "ATTACHED"
        details = {d["name"]: d["value"] for d in attachment["details"]}
        ip = details["privateIPv4Address"]
        assert ipaddress.ip_address(ip) in ipaddress.ip_network("10.254.0.0/24")
        (pause,) = h.task_containers(task, role=lbl.ROLE_PAUSE).values()
        for c in h.task_containers(task).values():
            assert h.engine.containers[c.id].spec.network == f"container:{pause.id}"
        assert all(c["networkInterfaces"][0]["privateIpv4Address"] == ip for c in state["containers"])
        await h.control.stop(task)
        state = await h.reach(task, "STOPPED")
        assert state["attachments"][0]["status"] == "DELETED"
        assert h.task_containers(task, role=lbl.ROLE_PAUSE) == {}  # the namespace is gone
        await h.close()

    run(body())


def test_stats_reported_every_interval(tmp_path: Path) -> None:
    async def body() -> None:
        h = Harness(tmp_path)
        agent = await h.start(stats_interval_s=10)
        task = await h.control.assign(
            agent.instance_arn, h.control.task_definition(container("a", "sleep", "1000"))
        )
        await h.reach(task, "RUNNING")
        assert h.control.stats == []
        await h.clock.advance(10)
        await until(lambda: len(h.control.stats) == 1, "first sample")
        await h.clock.advance(10)
        await until(lambda: len(h.control.stats) == 2, "second sample")
        first, second = h.control.stats
        assert first["task"] == task.arn and first["containerName"] == "a"
        assert second["memoryUsageBytes"] > 0 and second["memoryLimitBytes"] == 64 * 1024 * 1024
        assert "cpuPercentOfHost" not in first and second["cpuPercentOfHost"] >= 0
        await h.close()

    run(body())


def test_registration_resources_and_attributes(tmp_path: Path) -> None:
    async def body() -> None:
        h = Harness(tmp_path)
        await h.start(
            cpu_units=None,
            memory_mib=4096,
            memory_reserve_mib=256,
            attributes={"stack": "blue"},
            availability_zone="us-east-1c",
            engine_api_version="1.41",
        )
        (request,) = h.control.registrations
        resources = {r["name"]: r for r in request["totalResources"]}
        import os

        assert resources["CPU"]["integerValue"] == (os.cpu_count() or 1) * 1024
        assert resources["MEMORY"]["integerValue"] == 4096 - 256
        assert resources["PORTS"]["stringSetValue"] == ["22", "2375", "2376", "51678", "51679"]
        assert resources["PORTS_UDP"]["stringSetValue"] == []
        attrs = {a["name"]: a.get("value") for a in request["attributes"]}
        assert attrs["stack"] == "blue" and attrs["ecs.availability-zone"] == "us-east-1c"
        assert attrs["ecs.os-type"] == "linux" and attrs["ecs.cpu-architecture"] in ("x86_64", "arm64")
        assert "com.amazonaws.ecs.capability.docker-remote-api.1.41" in attrs
        assert "com.amazonaws.ecs.capability.docker-remote-api.1.42" not in attrs
        assert "com.amazonaws.ecs.capability.logging-driver.awslogs" in attrs
        assert "ecs.capability.task-eni" in attrs and "ecs.capability.container-health-check" in attrs
        assert "com.amazonaws.ecs.capability.privileged-container" not in attrs
        await h.close()

    run(body())


def test_host_helpers() -> None:
    assert docker_api_versions("1.19") == ["1.17", "1.18", "1.19"]
    from stowage.agent.config import AgentConfig

    assert "com.amazonaws.ecs.capability.privileged-container" in attributes(
        AgentConfig(allow_privileged=True)
    )
    cpu = {
        r["name"]: r
        for r in total_resources(AgentConfig(cpu_units=3072, memory_mib=100, memory_reserve_mib=200))
    }
    assert cpu["CPU"]["integerValue"] == 3072 and cpu["MEMORY"]["integerValue"] == 0
