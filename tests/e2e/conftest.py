"""Fixtures for the end-to-end suite: real Docker (FAILS, never skips, when unreachable), the
busybox test images imported once per session, and a `stack` per test."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from stowage.runtime.awsvpc import ensure_pause_image
from stowage.runtime.docker import DockerRuntime
from tests.e2e.stack import ENGINE_URL, Stack
from tests.support.images import TEST_IMAGE, TEST_LABEL, TEST_PAUSE_IMAGE, ensure_test_image


@pytest.fixture(scope="session")
def e2e_images() -> Iterator[None]:
    async def setup() -> list[str]:
        try:
            rt = await DockerRuntime.connect(ENGINE_URL)
        except Exception as exc:
            pytest.fail(
                f"Docker engine not reachable ({exc}): the e2e tests need a running dockerd", pytrace=False
            )
        try:
            created = []
            if (await ensure_test_image(rt))[1]:
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
            for ref in created:
                await rt.remove_image(ref, force=True)
        finally:
            await rt.close()

    created = asyncio.run(setup())
    yield
    asyncio.run(teardown(created))


@pytest.fixture()
def stack(e2e_images: None, tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path)
    try:
        s.start()
        yield s
    finally:
        s.close()
