"""Fargate isolation decisions on the fake engine: the task cgroup, the per-container fallback
when the engine cannot limit a task, ephemeral storage refusals, adoption after a restart, and
EC2 tasks left as they were. (The same on real Docker: test_fargate_docker.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stowage.agent import labels as lbl
from stowage.runtime.base import ContainerSpec, TaskLimits
from tests.agent.fakes import FakeTask
from tests.agent.harness import Harness, container, run, until

MIB = 1024 * 1024
GIB = 1024 * MIB


def fargate_td(*containers: dict[str, Any], cpu: str = "256", memory: str = "512") -> dict[str, Any]:
    return {
        "family": "fg",
        "revision": 1,
        "networkMode": "awsvpc",
        "cpu": cpu,
        "memory": memory,
        "containerDefinitions": list(containers),
    }


def specs(h: Harness, task: FakeTask) -> dict[str, ContainerSpec]:
    """The specs the engine was given, by ECS container name (the pause container as "~pause")."""
    out = {}
    for c in h.engine.containers.values():
        if c.spec.labels.get(lbl.TASK_ARN) == task.arn:
            role = c.spec.labels.get(lbl.ROLE)
            out["~pause" if role == lbl.ROLE_PAUSE else c.spec.labels[lbl.CONTAINER_NAME]] = c.spec
    return out


async def assign_fargate(h: Harness, instance: str, td: dict[str, Any], **kw: Any) -> FakeTask:
    return await h.control.assign(instance, td, launch_type="FARGATE", capacity_provider="FARGATE_SPOT", **kw)


def test_task_cgroup_holds_every_container_and_goes_with_the_task(tmp_path: Path) -> None:
    async def body() -> None:
        h = Harness(tmp_path)
        agent = await h.start()
        task = await assign_fargate(
            h,
            agent.instance_arn,
            fargate_td(container("app", "sleep", "1000"), container("side", "sleep", "1000")),
        )
        state = await h.reach(task, "RUNNING")
        parent = state["isolation"]["cgroupParent"]
        assert state["isolation"] == {
            "scope": "TASK",
            "cpu": 256,
            "memory": 512,
            "cgroupParent": parent,
            "ephemeralStorageGiB": 20,
            "ephemeralStorageEnforced": True,
        }
        assert h.engine.task_cgroups == {parent: TaskLimits(nano_cpus=250_000_000, memory_bytes=512 * MIB)}
        by_name = specs(h, task)
        assert {s.cgroup_parent for s in by_name.values()} == {parent}
        assert by_name["~pause"].cap_drop == ("ALL",) and by_name["~pause"].cap_add == ()
        assert by_name["app"].storage_size_bytes == 20 * GIB
        await h.control.stop(task)
        await h.reach(task, "STOPPED")
        await until(lambda: parent not in h.engine.task_cgroups, "the task cgroup removed")
        await h.close()

    run(body())


def test_engine_without_task_cgroups_splits_the_task_size_over_its_containers(tmp_path: Path) -> None:
    async def body() -> None:
        h = Harness(tmp_path)
        h.engine.task_cgroup_refusal = "the engine is rootless"
        agent = await h.start()
        td = fargate_td(
            container("app", "sleep", "1000", cpu=512, memory=None),
            container("side", "sleep", "1000", memory=None),
            container("log", "sleep", "1000", memory=None, memoryReservation=256),
            cpu="1024",
            memory="2048",
        )
        task = await assign_fargate(h, agent.instance_arn, td)
        state = await h.reach(task, "RUNNING")
        isolation = state["isolation"]
        assert isolation["scope"] == "CONTAINER" and isolation["reason"] == "the engine is rootless"
        assert "cgroupParent" not in isolation
        by_name = specs(h, task)
        assert all(s.cgroup_parent == "" for s in by_name.values())
        # cpu: app's 512 units, the two others split the remaining 512; memory: log's 256 MiB
        # reservation, the two others split the remaining 1792 MiB.
        assert {n: by_name[n].nano_cpus for n in ("app", "side", "log")} == {
            "app": 500_000_000,
            "side": 250_000_000,
            "log": 250_000_000,
        }
        assert {n: by_name[n].memory_bytes for n in ("app", "side", "log")} == {
            "app": 896 * MIB,
            "side": 896 * MIB,
            "log": 256 * MIB,
        }
        assert isolation["cpu"] == 1024 and isolation["memory"] == 2048
        await h.close()

    run(body())


def test_storage_quota_refused_at_create_is_dropped_and_reported(tmp_path: Path) -> None:
    async def body() -> None:
        h = Harness(tmp_path)
        h.engine.storage_quota_refusal = "--storage-opt is supported only for overlay over xfs with 'pquota'"
        agent = await h.start()
        td = fargate_td(container("app", "sleep", "1000", memory=None))
        first = await assign_fargate(
            h, agent.instance_arn, td, overrides={"ephemeralStorage": {"sizeInGiB": 50}}
        )
        state = await h.reach(first, "RUNNING")
        assert state["isolation"]["ephemeralStorageGiB"] == 50
        assert specs(h, first)["app"].storage_size_bytes is None
        second = await assign_fargate(h, agent.instance_arn, td)
        state = await h.reach(second, "RUNNING")
        isolation = state["isolation"]
        assert isolation["ephemeralStorageGiB"] == 20
        assert isolation["ephemeralStorageEnforced"] is False
        assert "pquota" in isolation["ephemeralStorageReason"]
        assert specs(h, second)["app"].storage_size_bytes is None
        await h.close()

    run(body())


def test_restarted_agent_adopts_the_sandbox(tmp_path: Path) -> None:
    async def body() -> None:
        h = Harness(tmp_path)
        agent = await h.start()
        task = await assign_fargate(h, agent.instance_arn, fargate_td(container("app", "sleep", "1000")))
        before = (await h.reach(task, "RUNNING"))["isolation"]
        await h.kill(agent)
        task.reports.clear()
        agent = await h.start()
        await until(lambda: "isolation" in task.state, "a report from the restarted agent")
        assert task.state["isolation"] == before
        assert len(h.task_containers(task)) == 1  # adopted, not started again
        await h.close()

    run(body())


def test_ec2_tasks_are_not_sandboxed(tmp_path: Path) -> None:
    async def body() -> None:
        h = Harness(tmp_path)
        agent = await h.start()
        td = fargate_td(container("app", "sleep", "1000"))
        task = await h.control.assign(agent.instance_arn, td)
        state = await h.reach(task, "RUNNING")
        assert "isolation" not in state
        assert h.engine.task_cgroups == {}
        by_name = specs(h, task)
        assert by_name["app"].cgroup_parent == "" and by_name["app"].cap_drop == ()
        assert by_name["app"].storage_size_bytes is None
        await h.close()

    run(body())
