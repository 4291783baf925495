"""bench/task_start_bare: the runtime's start path against bare Docker Engine API calls.

Times N sequential container starts (create + start; the start call returns once the
container's process runs) of the tiny busybox test image, interleaving two clients in one run:
the official `docker` SDK (blocking, one request each) and `stowage.runtime.docker.DockerRuntime`
(aiodocker). Prints medians and the ratio runtime/bare: the runtime's share of the issue's
budget (stowage task start <= 1.25x a bare Docker start). Containers run `sleep`, are removed
after each sample (outside the timing) and carry the stowage-test label.

    .venv/bin/python bench/task_start_bare.py [-n 30]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import docker  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.images import TEST_IMAGE, TEST_LABEL, ensure_test_image  # noqa: E402

from stowage.runtime.base import ContainerSpec  # noqa: E402
from stowage.runtime.docker import DockerRuntime  # noqa: E402

LABELS = {TEST_LABEL: "1", f"{TEST_LABEL}.bench": "task_start_bare"}


async def main(n: int) -> None:
    rt = await DockerRuntime.connect()
    _, created = await ensure_test_image(rt)
    bare = docker.APIClient(version="auto")
    spec = ContainerSpec(image=TEST_IMAGE, command=("sleep", "1000"), labels=LABELS)
    bare_times: list[float] = []
    ours_times: list[float] = []
    try:
        for i in range(n + 2):  # the first two rounds warm both clients up and are dropped
            t0 = time.perf_counter()
            cid = bare.create_container(TEST_IMAGE, command=["sleep", "1000"], labels=LABELS)["Id"]
            bare.start(cid)
            t1 = time.perf_counter()
            bare.remove_container(cid, force=True)

            t2 = time.perf_counter()
            rid = await rt.create(spec)
            await rt.start(rid)
            t3 = time.perf_counter()
            await rt.remove(rid, force=True)
            if i >= 2:
                bare_times.append(t1 - t0)
                ours_times.append(t3 - t2)
    finally:
        for state in await rt.list(LABELS):
            await rt.remove(state.id, force=True)
        if created:
            await rt.remove_image(TEST_IMAGE, force=True)
        await rt.close()
        bare.close()
    b, o = statistics.median(bare_times), statistics.median(ours_times)
    print(f"n={n}  bare docker SDK create+start median {b * 1000:.1f} ms")
    print(f"      DockerRuntime create+start median {o * 1000:.1f} ms")
    print(f"      ratio runtime/bare {o / b:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=30)
    asyncio.run(main(parser.parse_args().n))
