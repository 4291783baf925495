"""Behaviour every ContainerRuntime shows, run against the fake and a real Docker engine."""

from __future__ import annotations

import asyncio

import pytest

from stowage.runtime.base import (
    ContainerConflictError,
    ContainerNotFoundError,
    ContainerRuntime,
    ContainerStatus,
    HealthStatus,
    ImageNotFoundError,
    ImagePullError,
)
from tests.runtime.conftest import Backend
from tests.runtime.helpers import all_logs, run_to_exit, wait_for_line
from tests.support.images import TEST_IMAGE

# A registry address on this machine that refuses connections: pulls fail fast and locally.
MISSING_IMAGE = "127.0.0.1:1/stowage-test/missing:latest"


def test_echo_container_logs_and_exits_zero(backend: Backend) -> None:
    async def body(rt: ContainerRuntime) -> None:
        cid = await rt.create(backend.spec("sh", "-c", "echo hello stowage; echo to-stderr >&2"))
        assert await run_to_exit(rt, cid) == 0
        lines = await all_logs(rt, cid)
        assert [ln.line for ln in lines if ln.stream == "stdout"] == ["hello stowage"]
        assert ("stderr", "to-stderr") in [(ln.stream, ln.line) for ln in lines]
        assert all(ln.timestamp.tzinfo is not None for ln in lines)
        state = await rt.inspect(cid)
        assert state.status is ContainerStatus.EXITED
        assert state.exit_code == 0 and not state.oom_killed
        assert state.started_at is not None and state.finished_at is not None
        assert state.finished_at >= state.started_at
        assert state.image == TEST_IMAGE
        assert state.labels["stowage-test.case"] == backend.case
        assert state.health is HealthStatus.NONE

    backend.run(body)


def test_exit_code_is_reported(backend: Backend) -> None:
    async def body(rt: ContainerRuntime) -> None:
        cid = await rt.create(backend.spec("sh", "-c", "exit 3"))
        await rt.start(cid)
        info = await rt.wait(cid)
        assert info.exit_code == 3 and not info.oom_killed
        assert (await rt.inspect(cid)).exit_code == 3

    backend.run(body)


def test_logs_since_skips_older_lines(backend: Backend) -> None:
    async def body(rt: ContainerRuntime) -> None:
        cid = await rt.create(backend.spec("sh", "-c", "echo one; echo two"))
        await run_to_exit(rt, cid)
        lines = await all_logs(rt, cid)
        later = [ln async for ln in rt.logs(cid, since=lines[-1].timestamp)]
        assert later and later[-1].line == "two"
        assert all(ln.timestamp >= lines[-1].timestamp for ln in later)

    backend.run(body)


def test_stop_delivers_sigterm_to_a_trapping_container(backend: Backend) -> None:
    script = "trap 'echo got TERM; exit 0' TERM; echo ready; while true; do sleep 0.1; done"

    async def body(rt: ContainerRuntime) -> None:
        cid = await rt.create(backend.spec("sh", "-c", script))
        await rt.start(cid)
        await wait_for_line(rt, cid, "ready")  # the trap is installed
        assert (await rt.inspect(cid)).status is ContainerStatus.RUNNING
        await rt.stop(cid, timeout_s=30)
        state = await rt.inspect(cid)
        # exit 0 (not 137) means the handler ran: SIGTERM arrived before the SIGKILL deadline
        assert state.exit_code == 0
        assert "got TERM" in [ln.line for ln in await all_logs(rt, cid)]

    backend.run(body)


def test_stop_kills_a_container_that_ignores_sigterm(backend: Backend) -> None:
    async def body(rt: ContainerRuntime) -> None:
        # `sleep` as PID 1 has no SIGTERM handler, so the kernel ignores the signal
        cid = await rt.create(backend.spec("sleep", "1000"))
        await rt.start(cid)
        await rt.stop(cid, timeout_s=1)
        info = await rt.wait(cid)
        assert info.exit_code == 137 and not info.oom_killed  # 128 + SIGKILL
        await rt.stop(cid, timeout_s=1)  # stopping a stopped container is a no-op

    backend.run(body)


def test_recovery_lists_labelled_containers_from_a_new_runtime(backend: Backend) -> None:
    async def body(rt: ContainerRuntime) -> None:
        mine = {"stowage.task": "t-1"}
        a = await rt.create(backend.spec("sleep", "1000", labels=mine))
        b = await rt.create(backend.spec("sh", "-c", "exit 4", labels=mine))
        other = await rt.create(backend.spec("sleep", "1000", labels={"stowage.task": "t-2"}))
        for cid in (a, b, other):
            await rt.start(cid)
        await rt.wait(b)
        fresh = await backend.runtime()  # the agent restarted: a new runtime object, same engine
        try:
            found = {s.id: s for s in await fresh.list({**backend.labels, **mine})}
            assert set(found) == {a, b}
            assert found[a].status is ContainerStatus.RUNNING
            assert found[b].status is ContainerStatus.EXITED and found[b].exit_code == 4
            assert found[a].labels["stowage.task"] == "t-1"
        finally:
            await fresh.close()

    backend.run(body)


def test_missing_image_fails_to_pull_with_the_engine_message(backend: Backend) -> None:
    async def body(rt: ContainerRuntime) -> None:
        with pytest.raises(ImagePullError) as err:
            await rt.ensure_image(MISSING_IMAGE)
        assert err.value.ref == MISSING_IMAGE
        assert err.value.engine_message  # the engine's own words, for the task's reason
        assert MISSING_IMAGE in str(err.value)
        with pytest.raises(ImageNotFoundError):
            await rt.create(backend.spec("true", image=MISSING_IMAGE))

    backend.run(body)


def test_present_image_is_used_without_pulling(backend: Backend) -> None:
    async def body(rt: ContainerRuntime) -> None:
        result = await rt.ensure_image(TEST_IMAGE)
        assert not result.pulled
        assert result.image_id == await rt.inspect_image(TEST_IMAGE)

    backend.run(body)


def test_stats_report_memory_of_a_running_container(backend: Backend) -> None:
    limit = 64 * 1024 * 1024

    async def body(rt: ContainerRuntime) -> None:
        cid = await rt.create(backend.spec("sleep", "1000", memory_bytes=limit))
        await rt.start(cid)
        stats = await rt.stats(cid)
        assert stats.memory_limit_bytes == limit
        assert 0 < stats.memory_usage_bytes < limit
        assert stats.pids >= 1 and stats.online_cpus >= 1
        assert stats.cpu_usage_ns >= 0

    backend.run(body)


def test_errors_for_unknown_and_running_containers(backend: Backend) -> None:
    async def body(rt: ContainerRuntime) -> None:
        with pytest.raises(ContainerNotFoundError):
            await rt.inspect("0" * 64)
        await rt.remove("0" * 64)  # removing a missing container is a no-op
        cid = await rt.create(backend.spec("sleep", "1000", name=f"stowage-test-{backend.case}"))
        with pytest.raises(ContainerConflictError):
            await rt.create(backend.spec("sleep", "1000", name=f"stowage-test-{backend.case}"))
        await rt.start(cid)
        with pytest.raises(ContainerConflictError):
            await rt.remove(cid)
        await rt.remove(cid, force=True)
        with pytest.raises(ContainerNotFoundError):
            await rt.inspect(cid)

    backend.run(body)


def test_events_report_start_and_die_with_exit_code(backend: Backend) -> None:
    async def body(rt: ContainerRuntime) -> None:
        cid = await rt.create(backend.spec("sh", "-c", "exit 2"))
        (before,) = [s.created_at for s in await rt.list(backend.labels)]
        assert before is not None
        await run_to_exit(rt, cid)
        seen = []
        async with asyncio.timeout(30):
            async for event in rt.events(backend.labels, since=before):
                assert event.container_id == cid
                seen.append(event.kind)
                if event.kind == "die":
                    assert event.exit_code == 2
                    break
        assert "start" in seen and seen[-1] == "die"

    backend.run(body)
