"""bench/service: one ECS service on 200 simulated hosts, scaled 0 -> 5,000 tasks, then rolled
to a new task definition revision.

    .venv/bin/python bench/service.py [--hosts 200] [--tasks 5000] [--runs 1]

Starts ``stowage server`` (SQLite store) and ``stowage simulate --hosts N`` as subprocesses,
registers a small task definition (64 CPU units, 128 MiB: the rollout's 200 % peak fits the
default 4096-unit hosts), creates a REPLICA service with desiredCount 0, then:

1. **scale-out**: UpdateService desiredCount 0 -> ``--tasks``;
2. **rollout**: UpdateService to revision 2 of the family (minimumHealthyPercent 100,
   maximumPercent 200: the new tasks start first, the old stop as the new become healthy).

Each phase is timed from the UpdateService call to the ``services_stable`` condition (one
deployment, runningCount == desiredCount), polled with DescribeServices every 0.2 s; the
rollout also waits for the new deployment to be the only one. Printed per phase: seconds,
tasks/s and the 1-minute load average (the machine is shared: read the figures with it).
Targets (issue 5): scale-out to 5,000 in <= 30 s, full rollout in <= 60 s. Anchor: ECS
launches at most 500 tasks per minute per service (10 minutes for 5,000).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from botocore.credentials import Credentials  # noqa: E402
from tests.support.server import (  # noqa: E402
    ACCESS_KEY_ID,
    REGION,
    SECRET_ACCESS_KEY,
    start_server,
)
from tests.support.simulator import read_summary, start_simulator  # noqa: E402

from stowage.client import ControlPlaneClients  # noqa: E402

CLUSTER = "bench-svc"
SERVICE = "web"
FAMILY = "bench-service"


def load() -> str:
    one, five, _fifteen = os.getloadavg()
    return f"load {one:.2f}/{five:.2f}"


async def register(ecs: Any, image: str) -> str:
    td = await ecs.call(
        "RegisterTaskDefinition",
        {
            "family": FAMILY,
            "containerDefinitions": [
                {"name": "app", "image": image, "cpu": 64, "memory": 128, "essential": True}
            ],
        },
    )
    return str(td["taskDefinition"]["taskDefinitionArn"])


async def until_stable(
    ecs: Any, desired: int, td: str, limit: float, verbose: bool = False
) -> tuple[float, dict[str, Any]]:
    """Seconds (from now) until the services_stable condition holds for ``td``."""
    start = time.perf_counter()
    svc: dict[str, Any] = {}
    shown = 0.0
    while time.perf_counter() - start < limit:
        answer = await ecs.call("DescribeServices", {"cluster": CLUSTER, "services": [SERVICE]})
        svc = answer["services"][0]
        deps = svc["deployments"]
        if (
            len(deps) == 1
            and deps[0]["taskDefinition"] == td
            and svc["runningCount"] == svc["desiredCount"] == desired
        ):
            return time.perf_counter() - start, svc
        if verbose and time.perf_counter() - start - shown >= 2.0:
            shown = time.perf_counter() - start
            print(f"  {shown:5.1f}s {progress(svc)}", flush=True)
        await asyncio.sleep(0.2)
    return float("nan"), svc


def progress(svc: dict[str, Any]) -> str:
    deps = ", ".join(
        f"{d['status']} {d['runningCount']}/{d['desiredCount']} ({d.get('rolloutState')})"
        for d in svc.get("deployments", [])
    )
    return f"running {svc.get('runningCount')}, pending {svc.get('pendingCount')}; deployments: {deps}"


async def drive(endpoint: str, tasks: int, limit: float, verbose: bool) -> list[tuple[str, float, str]]:
    creds = Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY)
    out: list[tuple[str, float, str]] = []
    async with ControlPlaneClients(endpoint, creds, REGION, pool_size=8) as cp:
        ecs = cp.ecs
        v1 = await register(ecs, "bench/app:1")
        v2 = await register(ecs, "bench/app:2")
        await ecs.call(
            "CreateService",
            {
                "cluster": CLUSTER,
                "serviceName": SERVICE,
                "taskDefinition": v1,
                "desiredCount": 0,
                "deploymentConfiguration": {"minimumHealthyPercent": 100, "maximumPercent": 200},
            },
        )
        await until_stable(ecs, 0, v1, 30)
        before = load()
        await ecs.call("UpdateService", {"cluster": CLUSTER, "service": SERVICE, "desiredCount": tasks})
        seconds, svc = await until_stable(ecs, tasks, v1, limit, verbose)
        out.append(("scale-out", seconds, f"{before} at start, {load()} at steady state"))
        if seconds != seconds:  # NaN: not stable
            print("scale-out did not reach steady state:", progress(svc), flush=True)
            return out
        before = load()
        await ecs.call("UpdateService", {"cluster": CLUSTER, "service": SERVICE, "taskDefinition": v2})
        seconds, svc = await until_stable(ecs, tasks, v2, limit, verbose)
        out.append(("rollout", seconds, f"{before} at start, {load()} at steady state"))
        if seconds != seconds:
            print("rollout did not reach steady state:", progress(svc), flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=1, help="repeat on a fresh server")
    parser.add_argument("--limit", type=float, default=300.0, help="give up on a phase after this")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument("-v", "--verbose", action="store_true", help="print progress every 2 s")
    args = parser.parse_args()
    ok = True
    for run in range(args.runs):
        tmp = Path(tempfile.mkdtemp(prefix="stowage-bench-service-"))
        server = start_server(tmp / "server")
        sim: subprocess.Popen[str] | None = None
        try:
            sim = start_simulator(server, CLUSTER, args.hosts, str(tmp / "hosts"))
            print(read_summary(sim), flush=True)
            assert server.proc is not None
            print(f"pids: server {server.proc.pid}, simulator {sim.pid}", flush=True)
            results = asyncio.run(drive(server.endpoint, args.tasks, args.limit, args.verbose))
        finally:
            if sim is not None:
                sim.terminate()
                try:
                    sim.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    sim.kill()
            server.stop()
            if not args.keep:
                subprocess.run(["rm", "-rf", str(tmp)], check=False)
        targets = {"scale-out": 30.0, "rollout": 60.0}
        for phase, seconds, loads in results:
            rate = args.tasks / seconds if seconds == seconds and seconds > 0 else 0.0
            print(
                f"run {run + 1}: {phase} to {args.tasks} tasks: {seconds:.1f} s to steady state "
                f"({rate:,.0f} tasks/s; target <= {targets[phase]:.0f} s) [{loads}]",
                flush=True,
            )
            ok = ok and seconds == seconds
        ok = ok and len(results) == 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
