"""bench/task_start: how much stowage adds to a container start, and how long a stop takes.

In one run, on the same engine and the same tiny busybox image (built locally, no registry):

- bare: N sequential starts through the Docker Engine API (the official ``docker`` SDK:
  create + start; the start call returns once the process runs), each container removed
  outside the timing;
- stowage: N sequential tasks through a real control plane and a real agent (RunTask, then
  DescribeTasks until the task shows RUNNING), each stopped and waited to STOPPED outside the
  start timing.

Prints the medians and the ratio stowage/bare (target, issue 3: <= 1.25), and the median time
from StopTask to STOPPED for a container that exits on SIGTERM.

    .venv/bin/python bench/task_start.py [-n 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import docker  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.stack import Stack  # noqa: E402
from tests.support.images import TEST_IMAGE, TEST_LABEL, ensure_test_image  # noqa: E402

from stowage.runtime.docker import DockerRuntime  # noqa: E402

LABELS = {TEST_LABEL: "1", f"{TEST_LABEL}.bench": "task_start"}
COMMAND = ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]


def bare_starts(n: int) -> list[float]:
    api = docker.APIClient(version="auto")
    times = []
    for i in range(n + 2):  # two warm-up rounds, dropped
        t0 = time.perf_counter()
        cid = api.create_container(TEST_IMAGE, command=COMMAND, labels=LABELS)["Id"]
        api.start(cid)
        elapsed = time.perf_counter() - t0
        api.remove_container(cid, force=True)
        if i >= 2:
            times.append(elapsed)
    return times


def stowage_starts(stack: Stack, n: int) -> tuple[list[float], list[float]]:
    td = stack.register(
        "bench-start",
        {"name": "app", "image": TEST_IMAGE, "command": COMMAND, "memory": 32, "essential": True},
    )
    starts, stops = [], []
    for i in range(n + 2):
        t0 = time.perf_counter()
        arn = stack.run_task(td)
        while stack.describe(arn)["lastStatus"] != "RUNNING":
            time.sleep(0.005)
        started = time.perf_counter() - t0
        t1 = time.perf_counter()
        stack.ecs.stop_task(cluster=stack.cluster, task=arn, reason="bench")
        while stack.describe(arn)["lastStatus"] != "STOPPED":
            time.sleep(0.005)
        stopped = time.perf_counter() - t1
        if i >= 2:
            starts.append(started)
            stops.append(stopped)
    return starts, stops


async def _ensure_image() -> None:
    rt = await DockerRuntime.connect()
    try:
        await ensure_test_image(rt)
    finally:
        await rt.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=20, help="starts measured on each side")
    args = parser.parse_args()
    asyncio.run(_ensure_image())
    with tempfile.TemporaryDirectory(prefix="stowage-bench-") as tmp:
        stack = Stack(Path(tmp))
        try:
            stack.start()
            stack.start_agent("bench", "--task-cleanup-wait", "1")
            bare = bare_starts(args.n)
            ours, stops = stowage_starts(stack, args.n)
        finally:
            stack.close()
    b, o = statistics.median(bare), statistics.median(ours)
    print(f"bare Docker create+start   median {b * 1000:7.1f} ms  (n={len(bare)})")
    print(f"stowage RunTask→RUNNING    median {o * 1000:7.1f} ms  (n={len(ours)})")
    print(f"ratio stowage/bare: {o / b:.2f} (target <= 1.25)")
    print(f"StopTask→STOPPED (SIGTERM honoured) median {statistics.median(stops) * 1000:7.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
