"""bench/fargate_start: a FARGATE task's start against the same containers started bare.

In one run, on the same engine and the same tiny busybox image (built locally, no registry):

- bare: N sequential starts through the Docker Engine API (the official ``docker`` SDK) of what
  a Fargate task is made of: a pause container owning a fresh network namespace on a bridge
  network (create + start), then the app container joining it (create + start); removed
  outside the timing;
- stowage: N sequential ``RunTask`` calls with ``launchType: FARGATE`` (awsvpc, 256 CPU /
  512 MiB) through a real control plane and a real pool host (``stowage agent --fargate``),
  timed until DescribeTasks shows RUNNING; each task stopped outside the timing.

Prints both medians and the ratio stowage/bare (target, issue 6: <= 1.5). For context, AWS
Fargate tasks commonly take 30-60 s from RunTask to RUNNING.

    .venv/bin/python bench/fargate_start.py [-n 20]
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
from tests.support.images import (  # noqa: E402
    TEST_IMAGE,
    TEST_LABEL,
    TEST_PAUSE_IMAGE,
    ensure_test_image,
)

from stowage.runtime.awsvpc import ensure_pause_image  # noqa: E402
from stowage.runtime.docker import DockerRuntime  # noqa: E402

LABELS = {TEST_LABEL: "1", f"{TEST_LABEL}.bench": "fargate_start"}
COMMAND = ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
SUBNET = "10.252.7.0/24"
NETWORK = {"awsvpcConfiguration": {"subnets": ["subnet-bench"]}}


def bare_starts(n: int) -> list[float]:
    api = docker.APIClient(version="auto")
    net = api.create_network(
        "stowage-bench-fargate",
        driver="bridge",
        ipam=docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=SUBNET)]),
        labels=LABELS,
    )["Id"]
    times = []
    try:
        for i in range(n + 2):  # two warm-up rounds, dropped
            t0 = time.perf_counter()
            pause = api.create_container(
                TEST_PAUSE_IMAGE,
                labels=LABELS,
                host_config=api.create_host_config(network_mode="stowage-bench-fargate"),
            )["Id"]
            api.start(pause)
            app = api.create_container(
                TEST_IMAGE,
                command=COMMAND,
                labels=LABELS,
                host_config=api.create_host_config(
                    network_mode=f"container:{pause}", mem_limit=512 << 20, nano_cpus=250_000_000
                ),
            )["Id"]
            api.start(app)
            elapsed = time.perf_counter() - t0
            api.remove_container(app, force=True)
            api.remove_container(pause, force=True)
            if i >= 2:
                times.append(elapsed)
    finally:
        api.remove_network(net)
    return times


def stowage_starts(stack: Stack, n: int) -> list[float]:
    td = stack.register(
        "bench-fargate",
        {"name": "app", "image": TEST_IMAGE, "command": COMMAND, "essential": True, "stopTimeout": 2},
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
    )
    starts = []
    for i in range(n + 2):
        t0 = time.perf_counter()
        arn = stack.ecs.run_task(
            cluster=stack.cluster, taskDefinition=td, launchType="FARGATE", networkConfiguration=NETWORK
        )["tasks"][0]["taskArn"]
        while stack.describe(arn)["lastStatus"] != "RUNNING":
            time.sleep(0.005)
        started = time.perf_counter() - t0
        stack.ecs.stop_task(cluster=stack.cluster, task=arn, reason="bench")
        while stack.describe(arn)["lastStatus"] != "STOPPED":
            time.sleep(0.02)
        if i >= 2:
            starts.append(started)
    return starts


async def _ensure_images() -> None:
    rt = await DockerRuntime.connect()
    try:
        await ensure_test_image(rt)
        if await rt.inspect_image(TEST_PAUSE_IMAGE) is None:
            await ensure_pause_image(rt, TEST_PAUSE_IMAGE, labels={TEST_LABEL: "1"})
    finally:
        await rt.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=20, help="starts measured on each side")
    args = parser.parse_args()
    asyncio.run(_ensure_images())
    with tempfile.TemporaryDirectory(prefix="stowage-bench-") as tmp:
        stack = Stack(Path(tmp))
        try:
            stack.start()
            stack.start_agent("pool", "--fargate", "--task-cleanup-wait", "1")
            bare = bare_starts(args.n)
            ours = stowage_starts(stack, args.n)
        finally:
            stack.close()
    b, o = statistics.median(bare), statistics.median(ours)
    print(f"bare Docker pause+app (own netns)  median {b * 1000:7.1f} ms  (n={len(bare)})")
    print(f"stowage FARGATE RunTask→RUNNING     median {o * 1000:7.1f} ms  (n={len(ours)})")
    print(f"ratio stowage/bare: {o / b:.2f} (target <= 1.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
