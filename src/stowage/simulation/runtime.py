"""`SimulatedRuntime`: the fake runtime as a simulated host's engine.

Every image "pulls" (a simulated host has no registry to ask), and an image's default command
runs until the container is stopped, so a task definition without a command behaves like a
long-running service; a ``command`` the fake understands (``echo``, ``exit N``, ``sh -c``...)
still does what it says (see `stowage.runtime.fake_program`).
"""

from __future__ import annotations

from stowage.runtime.base import ContainerStatus, ImageResult
from stowage.runtime.fake import FakeEngine, FakeRuntime

_MIB = 1024 * 1024
DEFAULT_COMMAND = ("sleep", "infinity")


class SimulatedRuntime(FakeRuntime):
    def __init__(self, *, cpus: int, memory_mib: int) -> None:
        super().__init__(FakeEngine(cpus=max(1, cpus), memory_bytes=max(1, memory_mib) * _MIB))

    async def ensure_image(self, ref: str) -> ImageResult:
        if await self.inspect_image(ref) is None:
            self.engine.pullable.setdefault(ref, DEFAULT_COMMAND)
        return await super().ensure_image(ref)

    def running(self) -> int:
        """How many containers are running on this host."""
        return sum(1 for c in self.engine.containers.values() if c.status is ContainerStatus.RUNNING)
