"""bench/metrics: the metrics pipeline at 2,000 simulated hosts x 20 tasks reporting every 10 s.

    .venv/bin/python bench/metrics.py [--hosts 2000] [--tasks-per-host 20] [--stats-interval 10]
                                      [--window 60] [--queries 200]

Starts ``stowage server`` (SQLite), and a simulator child process (this script with
``--child``: ``hosts`` real agents over the simulated engine, like ``stowage simulate``, whose
stats reports the parent can switch off and on). Places ``hosts x tasks-per-host`` tasks: one
service ``bench-svc`` of ``--service-tasks`` tasks, the rest by RunTask. Before the server starts,
the metrics store is given one day of history for that service (minute points, compacted as the
store compacts them), so the one-day query reads a real day's worth of chunks.

Printed:

- **ingestion CPU**: the server's CPU over ``--window`` seconds with every host reporting, minus
  the same window with reports switched off (same tasks, same heartbeats), as a share of one
  core; with the samples per second that cost bought;
- **ingest latency**: from a ReportStats batch's arrival to its points in the store's head (the
  server's own histogram), and the ReportStats request latency as the agents see it;
- **storage**: bytes per series per day, from a separately written day of 10-second points of
  ``--storage-containers`` containers with realistic noise, compacted and rolled up as the
  server does (raw day + its minute rollups, per container and per field); and the live
  store's size;
- **query p99**: the query function (what GetMetricData will call) for one day of the service's
  CPUUtilization at a 60 s period, ``--queries`` times, run in this process on the live database
  while the server ingests.

Targets (issue 9): ingestion under 10% of one core, query p99 <= 50 ms. Everything shares this
machine's cores: the server, the simulator of all the hosts and this script.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from botocore.credentials import Credentials  # noqa: E402
from tests.support.server import (  # noqa: E402
    ACCESS_KEY_ID,
    ACCOUNT_ID,
    REGION,
    SECRET_ACCESS_KEY,
    start_server,
)

from stowage.client import ApiError, ControlPlaneClients  # noqa: E402
from stowage.controllers import metrics_series as ms  # noqa: E402
from stowage.controllers.metrics_query import MetricQueries, MetricQuery  # noqa: E402
from stowage.metricstore import MetricStore, StoreConfig  # noqa: E402
from stowage.metricstore.store import DB_FILE  # noqa: E402

CLUSTER = "bench"
SERVICE = "bench-svc"
DAY = 86400.0


# -- the simulator child ---------------------------------------------------------------------------
async def child(args: argparse.Namespace) -> int:
    from stowage.simulation.fleet import Fleet, FleetSpec, pool_size

    spec = FleetSpec(
        cluster=CLUSTER,
        hosts=args.hosts,
        state_dir=Path(args.state_dir),
        cpu=4096,
        memory=16384,
        stats_interval_s=args.stats_interval,
        poll_wait_s=20,
    )
    gc.set_threshold(50_000, 50, 100)
    clients = ControlPlaneClients(
        args.endpoint, Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY), REGION, pool_size=pool_size(args.hosts)
    )
    fleet = Fleet(spec, clients)
    paused = False
    for agent in fleet.agents:  # reports can be switched off without touching anything else
        collect = agent.stats.collect_once

        async def gated(collect: Any = collect) -> int:
            return 0 if paused else int(await collect())

        agent.stats.collect_once = gated  # type: ignore[method-assign]
    await fleet.ensure_cluster()
    started = time.monotonic()
    fleet.start()
    p = await fleet.wait_registered()
    gc.freeze()
    print(f"child: {p.connected}/{p.hosts} hosts connected in {time.monotonic() - started:.1f}s", flush=True)
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[str] = asyncio.Queue()

    def read_stdin() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(commands.put_nowait, line.strip())
        loop.call_soon_threadsafe(commands.put_nowait, "quit")

    threading.Thread(target=read_stdin, daemon=True).start()
    while True:
        command = await commands.get()
        if command == "off":
            paused = True
        elif command == "on":
            paused = False
        elif command == "progress":
            p = fleet.progress()
            print(f"child: tasks {p.tasks}, containers {p.containers}", flush=True)
            continue
        elif command == "quit":
            break
        print(f"child: {command}", flush=True)
    await fleet.stop()
    await clients.close()
    return 0


# -- history and storage ---------------------------------------------------------------------------
def seed_service_day(data_dir: Path, now: float) -> None:
    """One day of the service's minute points (as the server would have written them),
    compacted, in the data dir's metrics store before the server opens it."""
    store = MetricStore(data_dir / DB_FILE, ms.LAYOUTS, StoreConfig(background=False), clock=lambda: now)
    labels = {"account": ACCOUNT_ID, "region": REGION, "cluster": CLUSTER, "service": SERVICE}
    info = store.series(
        ms.service_key(ACCOUNT_ID, REGION, CLUSTER, SERVICE), ms.cluster_group(ACCOUNT_ID, REGION, CLUSTER),
        ms.SERVICE.name, labels,
    )  # fmt: skip
    rng = random.Random(9)
    start = now - DAY - (now % 60)
    rows = []
    for i in range(1440):
        tasks = 100.0
        used = tasks * rng.uniform(20, 60)
        lo, hi = rng.uniform(5, 20), rng.uniform(60, 99)
        mem = tasks * rng.uniform(100, 200)
        rows.append(
            (info, (start + 60 * i, used, tasks * 128, mem, tasks * 256, 0.0, 0.0, 0.0, 0.0, tasks, used,
                    tasks, lo, hi, mem, tasks, lo, hi, tasks, 0.0, tasks, 1.0))
        )  # fmt: skip
    for i in range(0, len(rows), 60):
        store.append(rows[i : i + 60])
        store.flush()
    store.maintain(now)
    store.close()


def storage_per_series(containers: int, seconds: float = DAY) -> tuple[float, float, float]:
    """(bytes per container per day, per field-series per day, raw share): a day of 10-second
    points with realistic noise written, compacted and rolled up as the server does."""
    with tempfile.TemporaryDirectory(prefix="stowage-bench-metrics-storage-") as tmp:
        t0 = 1_764_000_000.0
        clock = [t0]
        store = MetricStore(
            Path(tmp) / DB_FILE, ms.LAYOUTS, StoreConfig(background=False), clock=lambda: clock[0]
        )
        rng = random.Random(5)
        series = []
        state = []
        for c in range(containers):
            series.append(store.series(f"c{c}", f"g{c}", ms.CONTAINER.name, {"container": str(c)}))
            state.append([rng.uniform(0.01, 1.0), rng.uniform(20, 500) * 2**20, 0.0])
        steps = int(seconds / 10)
        for step in range(steps):
            ts = t0 + 10 * step + rng.uniform(0, 0.05)
            batch = []
            for s, st in zip(series, state, strict=True):
                st[0] = max(0.0, st[0] + rng.gauss(0, 0.01))  # CPU wanders around its level
                st[1] = max(2**20, st[1] + rng.choice((-1, 0, 0, 1)) * 4096 * rng.randrange(1, 64))
                cores = round(st[0] * rng.uniform(0.9, 1.1), 6)
                rx = float(rng.choice((0, 0, rng.randrange(100, 50_000))))
                disk = float(rng.choice((0, 4096)))
                batch.append((s, (ts, cores, st[1], 2.0 * 2**30, st[1] * 0.9, rx, rx * 0.3, 0.0, disk)))
            store.append(batch)
            if step % 90 == 89:  # the server flushes every 15 s and maintains every 5 min
                store.flush()
                clock[0] = ts
                if step % 360 == 359:
                    store.maintain(ts)
        store.flush()
        clock[0] = t0 + seconds + 3600
        store.maintain(clock[0])
        size = store.size_bytes()
        store.close()
    per_container = size / containers * (DAY / seconds)
    return per_container, per_container / len(ms.CONTAINER.fields), size


# -- measurement ---------------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scrape(endpoint: str) -> str:
    with urllib.request.urlopen(f"{endpoint}/metrics?cluster=__none__", timeout=30) as resp:
        return str(resp.read().decode())


def histogram(text: str, name: str, **labels: str) -> dict[str, float]:
    """``le`` → cumulative count (plus ``_sum``/``_count``) of one histogram in an exposition."""
    out: dict[str, float] = {}
    want = [f'{k}="{v}"' for k, v in labels.items()]
    for line in text.splitlines():
        if not line.startswith(name) or not all(w in line for w in want):
            continue
        value = float(line.rsplit(" ", 1)[1])
        m = re.search(r'le="([^"]+)"', line)
        if m:
            out[m[1]] = value
        elif line.startswith(f"{name}_sum"):
            out["_sum"] = value
        elif line.startswith(f"{name}_count"):
            out["_count"] = value
    return out


def gauge(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return float("nan")


def quantile(before: dict[str, float], after: dict[str, float], q: float) -> str:
    """The bucket bound holding quantile ``q`` of what was observed between two scrapes."""
    bounds = sorted((float(k), k) for k in after if not k.startswith("_") and k != "+Inf")
    total = after.get("_count", 0) - before.get("_count", 0)
    if total <= 0:
        return "n/a"
    for value, key in bounds:
        if after[key] - before.get(key, 0) >= q * total:
            return f"<= {value * 1000:g} ms"
    return "> largest bucket"


async def place(endpoint: str, total: int, service_tasks: int, clients: int) -> int:
    async with ControlPlaneClients(
        endpoint, Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY), REGION, pool_size=clients + 4
    ) as cp:
        ecs = cp.ecs
        td = await ecs.call(
            "RegisterTaskDefinition",
            {
                "family": "bench-metrics",
                "containerDefinitions": [{"name": "app", "image": "bench/app:1", "cpu": 128, "memory": 256}],
            },
        )
        arn = td["taskDefinition"]["taskDefinitionArn"]
        await ecs.call(
            "CreateService",
            {
                "cluster": CLUSTER,
                "serviceName": SERVICE,
                "taskDefinition": arn,
                "desiredCount": service_tasks,
            },
        )
        calls = max(0, total - service_tasks) // 10
        issued = placed = 0
        failures: dict[str, int] = {}

        async def client() -> None:
            nonlocal issued, placed
            while issued < calls:
                issued += 1
                try:
                    params = {"cluster": CLUSTER, "taskDefinition": arn, "count": 10}
                    answer = await ecs.call("RunTask", params)
                except ApiError as exc:
                    failures[exc.code] = failures.get(exc.code, 0) + 1
                    continue
                placed += len(answer.get("tasks") or [])
                for f in answer.get("failures") or []:
                    failures[str(f.get("reason"))] = failures.get(str(f.get("reason")), 0) + 1

        await asyncio.gather(*(client() for _ in range(clients)))
        if failures:
            print(f"RunTask failures: {failures}", flush=True)
        want = placed + service_tasks
        deadline = time.monotonic() + 300
        while True:
            answer = await ecs.call("DescribeClusters", {"clusters": [CLUSTER]})
            running = int(answer["clusters"][0]["runningTasksCount"])
            if running >= want or time.monotonic() > deadline:
                return running
            await asyncio.sleep(1.0)


def query_p99(data_dir: Path, queries: int) -> tuple[float, float, int]:
    """(p50, p99 in ms, points) of the one-day service query on the live store."""
    store = MetricStore(data_dir / DB_FILE, ms.LAYOUTS, StoreConfig(read_only=True))
    try:
        runner = MetricQueries(store)
        times, points = [], 0
        for _ in range(queries):
            now = time.time()
            q = MetricQuery(
                ACCOUNT_ID, REGION, "AWS/ECS", "CPUUtilization",
                {"ClusterName": CLUSTER, "ServiceName": SERVICE}, now - DAY, now, 60, "Average",
            )  # fmt: skip
            t0 = time.perf_counter()
            points = len(runner.run(q).values)
            times.append(time.perf_counter() - t0)
        times.sort()
        return (
            times[len(times) // 2] * 1000,
            times[min(len(times) - 1, math.ceil(0.99 * len(times)) - 1)] * 1000,
            points,
        )
    finally:
        store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=2000)
    parser.add_argument("--tasks-per-host", type=int, default=20)
    parser.add_argument("--service-tasks", type=int, default=100)
    parser.add_argument("--stats-interval", type=float, default=10.0)
    parser.add_argument("--window", type=float, default=60.0, help="seconds of each CPU measurement")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--storage-containers", type=int, default=200)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    parser.add_argument("--state-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return asyncio.run(child(args))

    per_container, per_series, _ = storage_per_series(args.storage_containers)
    print(
        f"storage: {per_container / 1024:.1f} KiB per container per day "
        f"({per_series / 1024:.1f} KiB per series per day, {len(ms.CONTAINER.fields)} fields, raw day + "
        f"minute rollups; {args.storage_containers} containers of noisy 10 s points)",
        flush=True,
    )
    tmp = Path(tempfile.mkdtemp(prefix="stowage-bench-metrics-"))
    data = tmp / "server"
    data.mkdir()
    seed_service_day(data, time.time())
    server = start_server(data)
    sim: subprocess.Popen[str] | None = None
    total = args.hosts * args.tasks_per_host
    try:
        assert server.proc is not None
        cmd = [
            sys.executable, __file__, "--child", "--endpoint", server.endpoint,
            "--state-dir", str(tmp / "hosts"), "--hosts", str(args.hosts),
            "--stats-interval", str(args.stats_interval),
        ]  # fmt: skip
        sim = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        assert sim.stdin is not None and sim.stdout is not None

        def tell(command: str) -> str:
            assert sim is not None and sim.stdin is not None and sim.stdout is not None
            sim.stdin.write(command + "\n")
            sim.stdin.flush()
            for line in sim.stdout:
                if line.startswith("child:"):
                    return line.strip()
            raise RuntimeError("the simulator ended")

        for line in sim.stdout:
            print(line.rstrip(), flush=True)
            if line.startswith("child:") and "connected" in line:
                break
        t0 = time.perf_counter()
        running = asyncio.run(place(server.endpoint, total, args.service_tasks, args.clients))
        print(
            f"{running:,} tasks RUNNING on {args.hosts:,} hosts in {time.perf_counter() - t0:.1f}s",
            flush=True,
        )
        print(tell("progress"), flush=True)
        # Every host has reported a few times, and the store has flushed once since the series
        # were created (that first flush writes 40,000 new series: a one-off, not steady state).
        time.sleep(max(3 * args.stats_interval, 75.0))

        sim_cpu: list[float] = []

        def window() -> tuple[float, str, str]:
            before = scrape(server.endpoint)
            c0 = cpu_seconds(server.proc.pid)  # type: ignore[union-attr]
            s0 = cpu_seconds(sim.pid)  # type: ignore[union-attr]
            time.sleep(args.window)
            c1 = cpu_seconds(server.proc.pid)  # type: ignore[union-attr]
            sim_cpu.append((cpu_seconds(sim.pid) - s0) / args.window)  # type: ignore[union-attr]
            return (c1 - c0) / args.window, before, scrape(server.endpoint)

        on_share, on_before, on_after = window()
        p50_ms, p99_ms, points = query_p99(data, args.queries)  # while the server ingests
        print(tell("off"), flush=True)
        time.sleep(2 * args.stats_interval)
        off_share, _, _ = window()
        print(tell("on"), flush=True)
        samples = gauge(on_after, "stowage_metrics_samples_total") - gauge(
            on_before, "stowage_metrics_samples_total"
        )
        thread_cpu = gauge(on_after, "stowage_metrics_ingest_cpu_seconds_total") - gauge(
            on_before, "stowage_metrics_ingest_cpu_seconds_total"
        )
        ingest_b = histogram(on_before, "stowage_metrics_ingest_latency_seconds")
        ingest_a = histogram(on_after, "stowage_metrics_ingest_latency_seconds")
        rs_b = histogram(on_before, "stowage_api_request_duration_seconds", operation="ReportStats")
        rs_a = histogram(on_after, "stowage_api_request_duration_seconds", operation="ReportStats")
        final = scrape(server.endpoint)
    finally:
        if sim is not None:
            with contextlib.suppress(Exception):
                assert sim.stdin is not None
                sim.stdin.close()
            try:
                sim.wait(timeout=60)
            except subprocess.TimeoutExpired:
                sim.kill()
        server.stop()
        if not args.keep:
            subprocess.run(["rm", "-rf", str(tmp)], check=False)
    rate = samples / args.window
    share = on_share - off_share
    print(
        f"server CPU: {on_share * 100:.1f}% of a core with reports, {off_share * 100:.1f}% without "
        f"(same tasks and heartbeats) over {args.window:.0f}s windows; the simulator meanwhile "
        f"{sim_cpu[0] * 100:.0f}% and {sim_cpu[1] * 100:.0f}% (it shares the machine's 2 cores)"
    )
    print(
        f"ingestion: {share * 100:.1f}% of one core for {rate:,.0f} samples/s "
        f"({share / rate * 1e6 if rate else float('nan'):.1f} us per sample; ingest thread alone "
        f"{thread_cpu / args.window * 100:.1f}%)  (target < 10%)"
    )
    print(
        f"ingest latency (arrival -> store head): p50 {quantile(ingest_b, ingest_a, 0.5)}, "
        f"p99 {quantile(ingest_b, ingest_a, 0.99)}; ReportStats request p50 {quantile(rs_b, rs_a, 0.5)}, "
        f"p99 {quantile(rs_b, rs_a, 0.99)}"
    )
    print(
        f"live store: {gauge(final, 'stowage_metrics_store_bytes') / 2**20:.1f} MiB, "
        f"{gauge(final, 'stowage_metrics_series'):,.0f} series"
    )
    print(
        f"one-day query ({SERVICE} CPUUtilization, period 60, {points} points): p50 {p50_ms:.1f} ms, "
        f"p99 {p99_ms:.1f} ms over {args.queries} queries  (target p99 <= 50 ms)"
    )
    if args.keep:
        print(f"data kept in {tmp}")
    return 0 if running >= 0.99 * total else 1


if __name__ == "__main__":
    sys.exit(main())
