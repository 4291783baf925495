"""Fixtures for the runtime suite: one `backend` fixture, parametrized over the fake runtime and a
real Docker engine, so each behavioural test is written once.

Docker tests are marked `docker` and FAIL (never skip) when the engine is unreachable: CI starts
dockerd. Every container, network and image they create carries the TEST_LABEL label and is
removed at the end of its test (containers, networks) or of the session (images this session
imported).
"""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import pytest

from stowage.runtime.awsvpc import ensure_pause_image
from stowage.runtime.base import ContainerRuntime, ContainerSpec, NetworkSpec
from stowage.runtime.docker import DockerRuntime
from stowage.runtime.fake import FakeEngine, FakeRuntime
from tests.support.images import TEST_IMAGE, TEST_LABEL, TEST_PAUSE_IMAGE, ensure_test_image

T = TypeVar("T")
BODY_TIMEOUT = 120.0
ENGINE_URL = os.environ.get("DOCKER_HOST")  # None: aiodocker's default socket search


@dataclass
class Backend:
    """One runtime implementation plus what a test needs around it."""

    kind: str  # "fake" | "docker"
    engine: FakeEngine | None = None
    case: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)

    @property
    def labels(self) -> dict[str, str]:
        return {TEST_LABEL: "1", f"{TEST_LABEL}.case": self.case}

    async def runtime(self) -> ContainerRuntime:
        """A new runtime object over the same engine (as a restarted agent would make)."""
        if self.kind == "fake":
            assert self.engine is not None
            return FakeRuntime(self.engine)
        return await DockerRuntime.connect(ENGINE_URL)

    def spec(self, *command: str, **kw: Any) -> ContainerSpec:
        labels = {**self.labels, **kw.pop("labels", {})}
        base = ContainerSpec(image=TEST_IMAGE, command=command or None, labels=labels)
        return replace(base, **kw)

    def network(self, subnet: str | None = None) -> NetworkSpec:
        name = f"stowage-test-{self.case}"
        self.networks.append(name)
        # A /24 in a range nothing else on a test machine uses; traffic stays inside the host.
        subnet = subnet or f"10.251.{random.randrange(256)}.0/24"
        return NetworkSpec(name=name, subnet=subnet, labels=self.labels)

    def run(self, body: Callable[[ContainerRuntime], Awaitable[T]]) -> T:
        async def main() -> T:
            rt = await self.runtime()
            try:
                return await asyncio.wait_for(body(rt), BODY_TIMEOUT)
            finally:
                await self.cleanup(rt)
                await rt.close()

        return asyncio.run(main())

    async def cleanup(self, rt: ContainerRuntime) -> None:
        for state in await rt.list({f"{TEST_LABEL}.case": self.case}):
            await rt.remove(state.id, force=True)
        for name in self.networks:
            await rt.remove_network(name)
        for name in self.volumes:
            await rt.remove_volume(name)


def _engine_unreachable(exc: BaseException) -> str:
    where = ENGINE_URL or "the default socket (unix:///var/run/docker.sock)"
    return (
        f"Docker engine not reachable at {where}: {exc}. The `docker` tests need a running engine: "
        "start dockerd (CI does: `.ci/run` installs docker.io and starts it) or set DOCKER_HOST."
    )


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[None]:
    """Checks the engine answers (fails the test otherwise), imports the test images once, and
    removes at the end what this session created."""

    async def setup() -> list[str]:
        try:
            rt = await DockerRuntime.connect(ENGINE_URL)
        except Exception as exc:
            pytest.fail(_engine_unreachable(exc), pytrace=False)
        try:
            created = []
            _, made = await ensure_test_image(rt)
            if made:
                created.append(TEST_IMAGE)
            if await rt.inspect_image(TEST_PAUSE_IMAGE) is None:
                await ensure_pause_image(rt, TEST_PAUSE_IMAGE, labels={TEST_LABEL: "1"})
                created.append(TEST_PAUSE_IMAGE)
            return created
        finally:
            await rt.close()

    async def teardown(created: list[str]) -> None:
        rt = await DockerRuntime.connect(ENGINE_URL)
        try:
            for state in await rt.list({TEST_LABEL: "1"}):
                await rt.remove(state.id, force=True)
            for ref in created:
                await rt.remove_image(ref, force=True)
        finally:
            await rt.close()

    created = asyncio.run(setup())
    yield
    asyncio.run(teardown(created))


@pytest.fixture(params=["fake", pytest.param("docker", marks=pytest.mark.docker)])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "docker":
        request.getfixturevalue("docker_engine")
        return Backend("docker")
    engine = FakeEngine(images={TEST_IMAGE: ("sh",)})
    engine.add_image(TEST_PAUSE_IMAGE, ("/pause",))
    return Backend("fake", engine=engine)


@pytest.fixture()
def docker_backend(docker_engine: None) -> Backend:
    return Backend("docker")
