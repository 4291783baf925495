"""In-process scheduler benchmark: 5,000 hosts, 100,000 tasks, the pure planner only.

    .venv/bin/python bench/scheduler.py [--hosts 5000] [--tasks 100000] [--seed 1]

Each scenario starts from an empty cluster (hosts of 4096 CPU units and 8192 MiB over three
availability zones) and places ``--tasks`` copies of a 200-CPU / 400-MiB task in batches:
RunTask-sized (10) and service-sized (500), with ``binpack`` (cpu) and with ``spread``
(availability zone, then instance). 5,000 x 20 = 100,000 slots, so the cluster ends full: the
last 10% of placements hunt for the last free slots. After every batch the plan is applied to
the snapshot (``Snapshot.apply``), as the control plane would see the committed result.

Printed per scenario: placements/s overall, over the first 10% and over the last 10% of the
placements (flat means the per-copy cost does not grow as the cluster fills), and a check that
no host ended over-committed. Target: >= 10,000 placements/s.
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import dataclass

from stowage.model.placement import PlacementRequest
from stowage.model.tasks import Needs
from stowage.scheduler import planner
from stowage.scheduler.snapshot import Instance, Snapshot

HOST_CPU, HOST_MEMORY = 4096, 8192
TASK_CPU, TASK_MEMORY = 200, 400
STRATEGIES = {
    "binpack": [{"type": "binpack", "field": "cpu"}],
    "spread": [
        {"type": "spread", "field": "attribute:ecs.availability-zone"},
        {"type": "spread", "field": "instanceId"},
    ],
}


def cluster(hosts: int) -> Snapshot:
    return Snapshot(
        Instance(
            key=f"/ecs/ci/bench/{n:05d}",
            instance_id=f"{n:05d}",
            arn=f"arn:aws:ecs:us-east-1:123456789012:container-instance/bench/{n:05d}",
            mod_revision=1,
            status="ACTIVE",
            connected=True,
            cpu=HOST_CPU,
            memory=HOST_MEMORY,
            tcp=frozenset({22}),
            attributes={"ecs.availability-zone": f"us-east-1{'abc'[n % 3]}", "ecs.os-type": "linux"},
            registered_at=float(n),
            ec2_instance_id=f"i-{n:017x}",
        )
        for n in range(hosts)
    )


@dataclass
class Result:
    name: str
    placed: int
    seconds: float
    first: float
    last: float
    overcommitted: int


def scenario(name: str, hosts: int, tasks: int, batch: int, seed: int) -> Result:
    snap = cluster(hosts)
    rng = random.Random(seed)
    request = PlacementRequest(
        Needs(TASK_CPU, TASK_MEMORY), "service:bench", (), STRATEGIES[name.split("/", maxsplit=1)[0]]
    )
    tenth = tasks // 10
    marks: list[tuple[int, float]] = []  # (placed so far, elapsed) after each batch
    placed = 0
    elapsed = 0.0
    while placed < tasks:
        start = time.perf_counter()
        plan = planner.plan(snap, request, min(batch, tasks - placed), rng)
        snap = snap.apply(plan)
        elapsed += time.perf_counter() - start
        if plan.placed == 0:
            break
        placed += plan.placed
        marks.append((placed, elapsed))

    def rate(lo: int, hi: int) -> float:
        begin = max((m for m in marks if m[0] <= lo), default=(0, 0.0))
        end = min((m for m in marks if m[0] >= hi), default=marks[-1])
        return (end[0] - begin[0]) / max(end[1] - begin[1], 1e-9)

    over = sum(1 for i in snap.instances if i.cpu < 0 or i.memory < 0)
    return Result(name, placed, elapsed, rate(0, tenth), rate(placed - tenth, placed), over)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hosts", type=int, default=5000)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"scheduler: {args.hosts} hosts, {args.tasks} tasks of {TASK_CPU} CPU / {TASK_MEMORY} MiB")
    print(f"{'scenario':<16}{'placed':>9}{'seconds':>9}{'overall/s':>12}{'first10%/s':>12}{'last10%/s':>12}")
    worst = float("inf")
    for name in ("binpack", "spread"):
        for batch in (10, 500):
            r = scenario(f"{name}/{batch}", args.hosts, args.tasks, batch, args.seed)
            overall = r.placed / r.seconds
            worst = min(worst, overall)
            print(
                f"{r.name:<16}{r.placed:>9}{r.seconds:>9.2f}{overall:>12,.0f}{r.first:>12,.0f}{r.last:>12,.0f}"
                + (f"   OVER-COMMITTED HOSTS: {r.overcommitted}" if r.overcommitted else "")
            )
    print(f"slowest scenario: {worst:,.0f} placements/s (target >= 10,000)")


if __name__ == "__main__":
    main()
