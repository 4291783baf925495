"""The fake runtime's own promises: test controls (exit, crash, OOM, health) and a small
footprint for thousands of containers."""

from __future__ import annotations

import asyncio
import tracemalloc

from stowage.runtime.base import ContainerRuntime, ContainerSpec, ContainerStatus, HealthCheck, HealthStatus
from stowage.runtime.fake import FakeEngine, FakeRuntime
from tests.support.images import TEST_IMAGE


def _run(body: asyncio.Future[None] | object) -> None:
    asyncio.run(body)  # type: ignore[arg-type]


def test_fake_is_a_container_runtime() -> None:
    assert isinstance(FakeRuntime(), ContainerRuntime)


def test_controls_exit_crash_oom_and_health() -> None:
    engine = FakeEngine(images={TEST_IMAGE: ("sh",)})
    rt = FakeRuntime(engine)

    async def body() -> None:
        spec = ContainerSpec(TEST_IMAGE, command=("sleep", "1000"), healthcheck=HealthCheck(("CMD", "true")))
        ids = [await rt.create(spec) for _ in range(4)]
        for cid in ids:
            await rt.start(cid)
        assert (await rt.inspect(ids[0])).health is HealthStatus.HEALTHY
        engine.set_health(ids[0], HealthStatus.UNHEALTHY)
        assert (await rt.inspect(ids[0])).health is HealthStatus.UNHEALTHY
        waiter = asyncio.create_task(rt.wait(ids[1]))
        await asyncio.sleep(0)
        engine.exit(ids[1], 5)
        assert (await waiter).exit_code == 5
        engine.crash(ids[2])
        assert (await rt.inspect(ids[2])).exit_code == 139
        engine.oom_kill(ids[3])
        info = await rt.wait(ids[3])
        assert info.oom_killed and info.exit_code == 137
        engine.write_log(ids[0], "late line", "stderr")
        assert [(ln.stream, ln.line) async for ln in rt.logs(ids[0])] == [("stderr", "late line")]

    asyncio.run(body())


def test_follow_logs_end_when_the_container_exits() -> None:
    engine = FakeEngine(images={TEST_IMAGE: ("sh",)})
    rt = FakeRuntime(engine)

    async def body() -> None:
        cid = await rt.create(ContainerSpec(TEST_IMAGE, command=("sleep", "1000")))
        await rt.start(cid)

        async def follow() -> list[str]:
            return [ln.line async for ln in rt.logs(cid, follow=True)]

        task = asyncio.create_task(follow())
        await asyncio.sleep(0)
        engine.write_log(cid, "one")
        await asyncio.sleep(0)
        engine.exit(cid, 0)
        assert await asyncio.wait_for(task, 5) == ["one"]

    asyncio.run(body())


def test_thousands_of_containers_cost_little_memory() -> None:
    n = 5000
    engine = FakeEngine(images={TEST_IMAGE: ("sh",)})
    rt = FakeRuntime(engine)
    spec = ContainerSpec(TEST_IMAGE, command=("sleep", "1000"), labels={"stowage.cluster": "c"})

    async def body() -> None:
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(n):
            await rt.start(await rt.create(spec))
        used = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        assert sum(1 for c in engine.containers.values() if c.status is ContainerStatus.RUNNING) == n
        assert used / n < 4096, f"{used / n:.0f} bytes per container"
        assert len(await rt.list({"stowage.cluster": "c"})) == n

    asyncio.run(body())
