"""The task plane's controllers in-process, with injected time: agent liveness, the reaper,
the informer's index across a restart, and the usage samples. No server, no sleeping."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from stowage.api.agent.handlers import HANDLERS as AGENT
from stowage.api.aws.context import RequestContext
from stowage.api.ecs.service import ecs_handlers
from stowage.controllers.stats import StatsBook
from stowage.controllers.task_plane import TaskPlane, TaskPlaneConfig
from stowage.resources.records import Records
from stowage.store.memory import MemoryStore

ACCOUNT = "123456789012"
REGION = "us-east-1"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Harness:
    """ECS and agent handlers bound to one task plane over a memory store, at a fake time."""

    def __init__(self, plane: TaskPlane, clock: Clock) -> None:
        self.plane = plane
        self.clock = clock
        self.ecs = ecs_handlers(plane.records, plane)

    def ctx(self) -> RequestContext:
        return RequestContext(ACCOUNT, REGION, "req", "AKIA", f"arn:aws:iam::{ACCOUNT}:root", self.clock.now)

    async def call(self, op: str, **params: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.ecs[op](self.ctx(), params)
        return result

    async def agent(self, op: str, **params: Any) -> dict[str, Any]:
        result: dict[str, Any] = await AGENT[op](self.plane, self.ctx(), params)
        return result

    async def setup(self) -> tuple[str, str, str]:
        """A cluster, one instance, one task definition: (cluster, instance ARN, family)."""
        await self.call("CreateCluster", clusterName="c")
        ci = await self.call(
            "RegisterContainerInstance",
            cluster="c",
            totalResources=[
                {"name": "CPU", "type": "INTEGER", "integerValue": 1024},
                {"name": "MEMORY", "type": "INTEGER", "integerValue": 1024},
            ],
        )
        await self.call(
            "RegisterTaskDefinition",
            family="f",
            containerDefinitions=[{"name": "app", "image": "x", "cpu": 128, "memory": 128}],
        )
        return "c", ci["containerInstance"]["containerInstanceArn"], "f"


def scenario(
    body: Callable[[Harness], Awaitable[None]],
    *,
    config: TaskPlaneConfig | None = None,
    store: MemoryStore | None = None,
) -> None:
    async def main() -> None:
        clock = Clock()
        plane = TaskPlane(Records(store or MemoryStore()), config, clock=clock)
        await plane.start()
        try:
            await body(Harness(plane, clock))
        finally:
            await plane.stop()

    asyncio.run(main())


def test_liveness_marks_silent_agents_disconnected_and_back() -> None:
    async def body(h: Harness) -> None:
        cluster, arn, family = await h.setup()
        live = h.plane.liveness
        h.clock.now += 59
        assert await live.sweep() == 0
        h.clock.now += 2  # 61 s since registration (its first heartbeat)
        assert await live.sweep() == 1
        assert await live.sweep() == 0  # already disconnected: nothing to write
        described = await h.call("DescribeContainerInstances", cluster=cluster, containerInstances=[arn])
        ci = described["containerInstances"][0]
        assert ci["agentConnected"] is False
        ran = await h.call("RunTask", cluster=cluster, taskDefinition=family)
        assert ran["tasks"] == [] and ran["failures"] == [{"arn": arn, "reason": "AGENT"}]
        await h.agent("PollAssignments", cluster=cluster, containerInstance=arn)
        described = await h.call(
            "DescribeContainerInstances",
            cluster=cluster,
            containerInstances=[arn],
            include=["CONTAINER_INSTANCE_HEALTH"],
        )
        ci = described["containerInstances"][0]
        assert ci["agentConnected"] is True
        assert ci["healthStatus"]["overallStatus"] == "OK"
        assert len((await h.call("RunTask", cluster=cluster, taskDefinition=family))["tasks"]) == 1
        h.clock.now += 30
        await h.agent("PollAssignments", cluster=cluster, containerInstance=arn)
        h.clock.now += 45  # 45 s since the last poll: still connected
        assert await live.sweep() == 0

    scenario(body, config=TaskPlaneConfig(agent_timeout=60))


def test_reaper_forgets_stopped_tasks_after_retention() -> None:
    async def body(h: Harness) -> None:
        cluster, arn, family = await h.setup()
        ran = await h.call("RunTask", cluster=cluster, taskDefinition=family, count=2)
        done, alive = (t["taskArn"] for t in ran["tasks"])
        await h.agent(
            "SubmitTaskState", cluster=cluster, containerInstance=arn, task=done, lastStatus="STOPPED"
        )
        h.plane.stats.record(arn, [{"task": done, "containerName": "app", "timestamp": h.clock.now}])
        h.clock.now += 3599
        assert await h.plane.reaper.sweep() == 0
        h.clock.now += 1
        assert await h.plane.reaper.sweep() == 1
        await h.plane.written(await h.plane.records.store.revision())
        described = await h.call("DescribeTasks", cluster=cluster, tasks=[done, alive])
        assert [t["taskArn"] for t in described["tasks"]] == [alive]
        assert described["failures"] == [{"arn": done, "reason": "MISSING"}]
        assert h.plane.stats.latest(done) == {}
        # a deregistered instance goes the same way
        await h.call("DeregisterContainerInstance", cluster=cluster, containerInstance=arn, force=True)
        h.clock.now += 3600
        assert await h.plane.reaper.sweep() == 2  # the force-stopped task and the instance
        described = await h.call("DescribeContainerInstances", cluster=cluster, containerInstances=[arn])
        assert described["failures"][0]["reason"] == "MISSING"

    scenario(body)


def test_a_restarted_plane_rebuilds_counts_and_assignments_from_the_store() -> None:
    store = MemoryStore()
    seen: dict[str, Any] = {}

    async def first(h: Harness) -> None:
        cluster, arn, family = await h.setup()
        ran = await h.call("RunTask", cluster=cluster, taskDefinition=family, count=3)
        t = ran["tasks"][0]["taskArn"]
        await h.agent("SubmitTaskState", cluster=cluster, containerInstance=arn, task=t, lastStatus="RUNNING")
        seen["arn"] = arn
        seen["revision"] = (await h.agent("PollAssignments", cluster=cluster, containerInstance=arn))[
            "revision"
        ]

    async def second(h: Harness) -> None:
        c = (await h.call("DescribeClusters", clusters=["c"]))["clusters"][0]
        assert (c["runningTasksCount"], c["pendingTasksCount"]) == (1, 2)
        answer = await h.agent(
            "PollAssignments",
            cluster="c",
            containerInstance=seen["arn"],
            knownRevision=seen["revision"] - 1,
            waitSeconds=5,
        )
        assert answer["revision"] >= seen["revision"]  # never goes back after a restart
        assert len(answer["tasks"]) == 3
        ci = (await h.call("DescribeContainerInstances", cluster="c", containerInstances=[seen["arn"]]))[
            "containerInstances"
        ][0]
        assert (ci["runningTasksCount"], ci["pendingTasksCount"]) == (1, 2)

    scenario(first, store=store)
    scenario(second, store=store)


def test_poll_waits_for_its_own_instance_only() -> None:
    async def body(h: Harness) -> None:
        cluster, arn, family = await h.setup()
        known = (await h.agent("PollAssignments", cluster=cluster, containerInstance=arn))["revision"]
        waiting = asyncio.create_task(
            h.agent(
                "PollAssignments", cluster=cluster, containerInstance=arn, knownRevision=known, waitSeconds=20
            )
        )
        await asyncio.sleep(0)
        assert not waiting.done()
        await h.call("RunTask", cluster=cluster, taskDefinition=family)
        answer = await asyncio.wait_for(waiting, 5)
        assert answer["revision"] > known and len(answer["tasks"]) == 1

    scenario(body)


def test_stats_book_keeps_the_latest_sample_per_container() -> None:
    book = StatsBook()
    book.record("ci", [{"task": "t", "containerName": "a", "timestamp": 2.0, "cpuUsageNanos": 2}])
    book.record("ci", [{"task": "t", "containerName": "a", "timestamp": 1.0, "cpuUsageNanos": 1}])
    book.record("ci", [{"task": "t", "containerName": "b", "timestamp": 1.0, "cpuUsageNanos": 5}])
    latest = book.latest("t")
    assert latest["a"]["cpuUsageNanos"] == 2 and latest["b"]["cpuUsageNanos"] == 5
    assert latest["a"]["containerInstanceArn"] == "ci"
    book.forget("t")
    assert book.latest("t") == {}
