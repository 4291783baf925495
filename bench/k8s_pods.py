"""bench/k8s_pods: a Deployment scaled to 3,000 pods on 100 simulated nodes, through the
Kubernetes API; pod startup latency as the Kubernetes SLO measures it, and mutating-call latency.

    .venv/bin/python bench/k8s_pods.py [--nodes 100] [--pods 3000] [--clients 16] [-v]

Starts ``stowage server`` (SQLite store, its own temporary data dir, the Kubernetes listener on
a free port) and ``stowage simulate --hosts N`` joined to the ECS cluster behind the Kubernetes
API (``default``): those container instances are the nodes. Then, on the HTTPS listener with
the admin token of the kubeconfig the server wrote:

1. **scale-up**: a namespace and a Deployment (replicas 0; 10m cpu / 16Mi memory per pod) made
   with the official ``kubernetes`` client; a pod watch started (raw HTTPS, below); then
   ``deployments/scale`` to ``--pods``. Each pod's **startup latency** is measured from the
   moment this watch first saw it (ADDED) to the first event showing it ``Running`` with every
   container ready: the watch-ADDED time has millisecond resolution, while
   ``creationTimestamp`` has one-second resolution as in Kubernetes, so the figure from
   ``creationTimestamp`` (printed too) is the same latency plus up to 1 s of truncation.
   Throughput: pods Running per second from the scale call to the last pod Running.
2. **mutating burst** (cluster at steady state): ``--clients`` concurrent clients create
   ``--burst`` ConfigMaps, then strategic-merge-patch each, then delete each.
3. **scale-down**: ``deployments/scale`` to 0 while the same clients delete ``--deletes``
   pods by name (graceful deletes racing the ReplicaSet controller's own); the time until the
   watch saw every pod DELETED.

Mutating latency: per call, from send to the whole response read, over all calls of phases 2
and 3 (and per verb). The watch and the bursts use raw HTTPS (aiohttp, bearer token) rather than
the official client: its per-event model deserialization costs milliseconds of the one core
the bench shares with the server and the 100 simulated agents, which would delay the watch's
observations and inflate the figures; the requests are the ones the client sends.

Printed next to the targets of issue 7 (pod startup p99 <= 1 s, mutating p99 <= 100 ms) and
their anchors (Kubernetes SLOs: pod startup p99 <= 5 s, mutating API calls p99 <= 1 s; kwok's
CI creates 10,000 pods in 60 s), with the server's peak RSS and the load average: everything
(server, simulator, this client) shares the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import calendar
import contextlib
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.server import free_port, start_server  # noqa: E402
from tests.support.simulator import read_summary, start_simulator  # noqa: E402

CLUSTER = "default"
NAMESPACE = "bench"
DEPLOYMENT = "web"
Obj = dict[str, Any]
Call = tuple[str, str, bytes | None, str]
"""One request of a burst: method, URL, body, content type."""


def load() -> str:
    one, five, _fifteen = os.getloadavg()
    return f"load {one:.2f}/{five:.2f}"


def peak_rss_mib(pid: int) -> float:
    """VmHWM: the process's peak resident set size."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile of ``values`` (seconds), in milliseconds."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


def summary(values: list[float]) -> str:
    return (
        f"p50 {pct(values, 0.5):,.0f} ms, p90 {pct(values, 0.9):,.0f} ms, "
        f"p99 {pct(values, 0.99):,.0f} ms, max {max(values, default=float('nan')) * 1000:,.0f} ms"
    )


def parse_ts(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return float(calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        return None


def is_running(pod: Obj) -> bool:
    """Running with every container ready: what the SLO's "observed running" means here."""
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    return status.get("phase") == "Running" and bool(statuses) and all(s.get("ready") for s in statuses)


# -- the pod watch -------------------------------------------------------------------------------
@dataclass
class PodTimes:
    seen: float
    created: float | None
    name: str = ""
    bound: float | None = None
    """first seen with ``spec.nodeName``: scheduled"""
    running: float | None = None
    deleted: float | None = None


@dataclass
class PodWatch:
    """One watch of the namespace's pods: when each pod (by uid) was first seen, seen Running,
    seen deleted."""

    session: aiohttp.ClientSession
    url: str
    pods: dict[str, PodTimes] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    """uid -> name, of the pods not deleted yet."""
    events: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def live(self) -> int:
        return sum(1 for t in self.pods.values() if t.deleted is None)

    def running(self) -> int:
        return sum(1 for t in self.pods.values() if t.deleted is None and t.running is not None)

    async def start(self) -> asyncio.Task[None]:
        async with self.session.get(f"{self.url}/api/v1/namespaces/{NAMESPACE}/pods") as resp:
            resp.raise_for_status()
            rv = str((await resp.json(loads=orjson.loads))["metadata"]["resourceVersion"])
        self.task = asyncio.create_task(self._run(rv))
        return self.task

    async def _run(self, rv: str) -> None:
        while True:
            query = f"watch=true&allowWatchBookmarks=true&timeoutSeconds=3600&resourceVersion={rv}"
            url = f"{self.url}/api/v1/namespaces/{NAMESPACE}/pods?{query}"
            timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
            async with self.session.get(url, timeout=timeout) as resp:
                resp.raise_for_status()
                buffer = b""
                async for chunk in resp.content.iter_any():
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    now = time.time()
                    for line in lines:
                        if line:
                            rv = self._event(orjson.loads(line), now) or rv
                    self.changed.set()

    def _event(self, ev: Obj, now: float) -> str | None:
        kind, obj = ev.get("type"), ev.get("object") or {}
        meta = obj.get("metadata") or {}
        if kind == "ERROR":
            raise RuntimeError(f"watch error: {obj}")
        self.events += kind != "BOOKMARK"
        uid = meta.get("uid")
        if kind in ("ADDED", "MODIFIED", "DELETED") and uid:
            times = self.pods.get(uid)
            if times is None:
                created = parse_ts(meta.get("creationTimestamp"))
                times = self.pods[uid] = PodTimes(now, created, str(meta.get("name")))
            if times.bound is None and (obj.get("spec") or {}).get("nodeName"):
                times.bound = now
            if times.running is None and is_running(obj):
                times.running = now
            if kind == "DELETED":
                times.deleted = now
                self.names.pop(uid, None)
            else:
                self.names[uid] = str(meta.get("name"))
        return str(meta["resourceVersion"]) if meta.get("resourceVersion") else None

    async def until(self, done: Callable[[], bool], limit: float, what: str, verbose: bool) -> bool:
        """Wait until ``done()`` holds (True) or ``limit`` seconds passed (False)."""
        start = time.perf_counter()
        shown = start
        while not done():
            if self.task is not None and self.task.done():
                self.task.result()  # the watch failed: raise its error
                raise RuntimeError("the watch ended")
            left = limit - (time.perf_counter() - start)
            if left <= 0:
                return False
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), timeout=min(left, 1.0))
            if verbose and time.perf_counter() - shown >= 5.0:
                shown = time.perf_counter()
                print(
                    f"  {shown - start:6.1f}s {what}: {self.live()} pods, {self.running()} running "
                    f"({self.events} events) [{load()}]",
                    flush=True,
                )
        return True


# -- concurrent mutating clients ----------------------------------------------------------------
@dataclass
class Calls:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[str, dict[int, int]] = field(default_factory=dict)

    def all(self) -> list[float]:
        return [v for values in self.latencies.values() for v in values]


async def burst(
    session: aiohttp.ClientSession,
    calls: Calls,
    verb: str,
    requests: Sequence[Call],
    clients: int,
    ok: tuple[int, ...] = (200, 201),
) -> None:
    """Send ``requests`` (method, url, body, content-type) from ``clients`` concurrent clients,
    timing each call; statuses outside ``ok`` are counted, not retried."""
    queue = deque(requests)
    latencies = calls.latencies.setdefault(verb, [])
    statuses = calls.statuses.setdefault(verb, {})

    async def client() -> None:
        while queue:
            method, url, body, ctype = queue.popleft()
            headers = {"content-type": ctype} if body is not None else {}
            t0 = time.perf_counter()
            async with session.request(method, url, data=body, headers=headers) as resp:
                await resp.read()
                latencies.append(time.perf_counter() - t0)
                statuses[resp.status] = statuses.get(resp.status, 0) + 1
                if resp.status not in ok and statuses[resp.status] == 1:
                    print(f"  {verb}: HTTP {resp.status}: {(await resp.read())[:300]!r}", flush=True)

    await asyncio.gather(*(client() for _ in range(clients)))


def configmap_burst(url: str, count: int) -> dict[str, list[Call]]:
    base = f"{url}/api/v1/namespaces/{NAMESPACE}/configmaps"
    names = [f"burst-{i:05d}" for i in range(count)]
    create: list[Call] = [
        ("POST", base, orjson.dumps({"metadata": {"name": n}, "data": {"greeting": "hello"}}),
         "application/json")
        for n in names
    ]  # fmt: skip
    patch: list[Call] = [
        ("PATCH", f"{base}/{n}", orjson.dumps({"data": {"patched": "yes"}}),
         "application/strategic-merge-patch+json")
        for n in names
    ]  # fmt: skip
    delete: list[Call] = [("DELETE", f"{base}/{n}", None, "") for n in names]
    return {"create configmap": create, "patch configmap": patch, "delete configmap": delete}


# -- the run -------------------------------------------------------------------------------------
def deployment(replicas: int) -> Obj:
    labels = {"app": DEPLOYMENT}
    container = {
        "name": "app",
        "image": "bench/app:1",
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": DEPLOYMENT, "namespace": NAMESPACE},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [container], "terminationGracePeriodSeconds": 1},
            },
        },
    }


async def scale(apps: Any, replicas: int) -> None:
    """``deployments/scale`` through the official client (in a thread: it is synchronous)."""
    body = {"spec": {"replicas": replicas}}
    await asyncio.to_thread(apps.patch_namespaced_deployment_scale, DEPLOYMENT, NAMESPACE, body)


@dataclass
class Results:
    pods: int = 0
    startup_added: list[float] = field(default_factory=list)
    startup_created: list[float] = field(default_factory=list)
    to_bound: list[float] = field(default_factory=list)
    bound_to_running: list[float] = field(default_factory=list)
    slowest: list[PodTimes] = field(default_factory=list)
    started: float = 0.0
    scale_up_s: float = float("nan")
    first_running_s: float = float("nan")
    scale_down_s: float = float("nan")
    calls: Calls = field(default_factory=Calls)
    scale_call_s: list[float] = field(default_factory=list)
    load_during: str = ""
    cpu: dict[str, float] = field(default_factory=dict)
    """process -> CPU seconds per second during the scale-up"""


async def drive(
    kubeconfig: Path, ca: Path, token: str, url: str, pids: dict[str, int], args: argparse.Namespace
) -> Results:
    from kubernetes import client, config  # type: ignore[import-untyped]

    api = config.new_client_from_config(config_file=str(kubeconfig))
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    out = Results()
    ctx = ssl.create_default_context(cafile=str(ca))
    connector = aiohttp.TCPConnector(ssl=ctx, limit=args.clients + 4)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        await asyncio.to_thread(
            core.create_namespace, client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE))
        )
        await asyncio.to_thread(apps.create_namespaced_deployment, NAMESPACE, deployment(0))
        watch = PodWatch(session, url)
        watching = await watch.start()
        try:
            # 1. scale-up
            cpu = {what: cpu_seconds(pid) for what, pid in pids.items()}
            started = out.started = time.time()
            before = load()
            await scale(apps, args.pods)
            out.scale_call_s.append(time.time() - started)
            up = await watch.until(lambda: watch.running() >= args.pods, args.limit, "scale-up", args.verbose)
            times = [t for t in watch.pods.values() if t.running is not None]
            out.pods = len(times)
            out.load_during = f"{before} at start, {load()} at the end"
            wall = time.time() - started
            out.cpu = {what: (cpu_seconds(pid) - cpu[what]) / wall for what, pid in pids.items()}
            if times:
                last = max(t.running for t in times if t.running is not None)
                first = min(t.running for t in times if t.running is not None)
                out.scale_up_s = last - started if up else float("nan")
                out.first_running_s = first - started
            out.startup_added = [t.running - t.seen for t in times if t.running is not None]
            out.startup_created = [
                t.running - t.created for t in times if t.running is not None and t.created is not None
            ]
            out.to_bound = [t.bound - t.seen for t in times if t.bound is not None]
            out.bound_to_running = [
                t.running - t.bound for t in times if t.running is not None and t.bound is not None
            ]
            out.slowest = sorted(times, key=lambda t: t.seen - (t.running or t.seen))[:5]
            if not up:
                print(f"scale-up did not finish in {args.limit:.0f} s: {watch.running()} running", flush=True)
            # 2. mutating burst on the steady cluster
            for verb, requests in configmap_burst(url, args.burst).items():
                await burst(session, out.calls, verb, requests, args.clients)
            # 3. scale-down, with pods deleted by name at the same time
            victims = list(watch.names.values())[: args.deletes]
            base = f"{url}/api/v1/namespaces/{NAMESPACE}/pods"
            deletes: list[Call] = [("DELETE", f"{base}/{name}", None, "") for name in victims]
            started = time.time()
            scaled = asyncio.create_task(scale(apps, 0))
            await burst(session, out.calls, "delete pod", deletes, args.clients, ok=(200, 202, 404))
            await scaled
            down = await watch.until(lambda: watch.live() == 0, args.limit, "scale-down", args.verbose)
            out.scale_down_s = time.time() - started if down else float("nan")
        finally:
            watching.cancel()
            try:
                await watching
            except asyncio.CancelledError:
                pass
            except Exception as exc:
                print(f"the watch failed: {exc!r}", flush=True)
            # cleanup on the server too (it is stopped next, but a --keep'd data dir stays clean)
            await scale(apps, 0)
            await asyncio.to_thread(apps.delete_namespaced_deployment, DEPLOYMENT, NAMESPACE)
    api.close()
    return out


def drain(proc: subprocess.Popen[str], tail: deque[str]) -> threading.Thread:
    """Read the simulator's output (its stats lines) so its pipe never fills."""

    def run() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            tail.append(line)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def report(r: Results, args: argparse.Namespace, rss: float) -> bool:
    print(f"\npods Running: {r.pods}/{args.pods} on {args.nodes} nodes [{r.load_during}]")
    rate = r.pods / r.scale_up_s if r.scale_up_s == r.scale_up_s and r.scale_up_s > 0 else 0.0
    print(
        f"scale-up 0 -> {args.pods}: first pod Running after {r.first_running_s:.2f} s, all after "
        f"{r.scale_up_s:.1f} s: {rate:,.0f} pods/s  (anchor: kwok 10,000 pods in 60 s = 167/s)"
    )
    busy = ", ".join(f"{what} {share:.0%}" for what, share in r.cpu.items())
    print(f"CPU during the scale-up (share of one core): {busy}")
    print(
        f"pod startup, watch ADDED -> Running: {summary(r.startup_added)}  "
        f"(target p99 <= 1,000 ms; Kubernetes SLO p99 <= 5 s)"
    )
    print(f"pod startup, creationTimestamp (1 s resolution) -> Running: {summary(r.startup_created)}")
    print(f"  of which ADDED -> bound to a node (scheduling): {summary(r.to_bound)}")
    print(f"  and bound -> Running (the agent starting it): {summary(r.bound_to_running)}")
    if args.verbose:
        for t in r.slowest:
            bound = f"{t.bound - t.seen:.2f}" if t.bound is not None else "-"
            running = f"{t.running - t.seen:.2f}" if t.running is not None else "-"
            seen = t.seen - r.started
            print(f"  slow: {t.name}: seen at {seen:.2f} s, then bound +{bound} s, Running +{running} s")
    every = r.calls.all()
    print(
        f"mutating calls ({len(every)}, {args.clients} clients): p50 {pct(every, 0.5):.1f} ms, "
        f"p99 {pct(every, 0.99):.1f} ms  (target p99 <= 100 ms; Kubernetes SLO p99 <= 1 s)"
    )
    for verb, values in r.calls.latencies.items():
        statuses = ", ".join(f"{n}x{code}" for code, n in sorted(r.calls.statuses[verb].items()))
        print(
            f"  {verb:17} {len(values):5}: p50 {pct(values, 0.5):6.1f} ms, "
            f"p99 {pct(values, 0.99):6.1f} ms  [{statuses}]"
        )
    if r.scale_call_s:
        print(f"  deployments/scale to {args.pods} (official client): {r.scale_call_s[0] * 1000:.1f} ms")
    print(f"scale-down to 0 (with {args.deletes} pod deletes): all pods gone after {r.scale_down_s:.1f} s")
    print(f"server peak RSS: {rss:.0f} MiB; {load()} at the end")
    return r.pods >= args.pods and r.scale_down_s == r.scale_down_s


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--pods", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=16, help="concurrent mutating clients")
    parser.add_argument("--burst", type=int, default=500, help="ConfigMaps created, patched, deleted")
    parser.add_argument("--deletes", type=int, default=500, help="pods deleted by name while scaling down")
    parser.add_argument("--limit", type=float, default=600.0, help="give up on a phase after this")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument("-v", "--verbose", action="store_true", help="print progress every 5 s")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="stowage-bench-k8s-"))
    k8s_port = free_port()
    server = start_server(tmp / "server", ["--k8s-port", str(k8s_port), "--k8s-cluster", CLUSTER])
    sim: subprocess.Popen[str] | None = None
    tail: deque[str] = deque(maxlen=20)
    try:
        t0 = time.perf_counter()
        sim = start_simulator(server, CLUSTER, args.nodes, str(tmp / "hosts"))
        print(f"{read_summary(sim)}  [{time.perf_counter() - t0:.1f}s with process start]", flush=True)
        drain(sim, tail)
        assert server.proc is not None
        print(f"pids: server {server.proc.pid}, simulator {sim.pid}; {load()}", flush=True)
        data = server.data_dir
        token = (data / "k8s" / "token").read_text().strip()
        url = f"https://127.0.0.1:{k8s_port}"
        pids = {"server": server.proc.pid, "simulator": sim.pid, "bench": os.getpid()}
        results = asyncio.run(drive(data / "kubeconfig", data / "k8s" / "ca.crt", token, url, pids, args))
        rss = peak_rss_mib(server.proc.pid)
    finally:
        if sim is not None:
            if sim.poll() is not None:
                print(f"the simulator exited with {sim.returncode}:\n{''.join(tail)}", flush=True)
            sim.terminate()
            try:
                sim.wait(timeout=30)
            except subprocess.TimeoutExpired:
                sim.kill()
        server.stop()
        if not args.keep:
            subprocess.run(["rm", "-rf", str(tmp)], check=False)
        else:
            print(f"data kept in {tmp}")
    return 0 if report(results, args, rss) else 1


if __name__ == "__main__":
    sys.exit(main())
