"""Small async helpers shared by the runtime tests."""

from __future__ import annotations

import asyncio

from stowage.runtime.base import ContainerRuntime, ContainerState, HealthStatus, LogLine


async def all_logs(rt: ContainerRuntime, cid: str) -> list[LogLine]:
    return [line async for line in rt.logs(cid)]


async def wait_for_line(rt: ContainerRuntime, cid: str, text: str, within: float = 30.0) -> LogLine:
    """Follow the container's logs until a line equal to `text` appears."""

    async def scan() -> LogLine:
        async for line in rt.logs(cid, follow=True):
            if line.line == text:
                return line
        raise AssertionError(f"container exited without printing {text!r}")

    return await asyncio.wait_for(scan(), within)


async def wait_for_health(
    rt: ContainerRuntime, cid: str, want: HealthStatus, within: float = 60.0
) -> ContainerState:
    async def poll() -> ContainerState:
        while True:
            state = await rt.inspect(cid)
            if state.health is want:
                return state
            await asyncio.sleep(0.2)

    return await asyncio.wait_for(poll(), within)


async def run_to_exit(rt: ContainerRuntime, cid: str) -> int:
    await rt.start(cid)
    return (await rt.wait(cid)).exit_code
