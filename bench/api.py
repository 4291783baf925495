"""bench/api: stowage's ECS API against moto_server, same load, same machine, same run.

Starts a stowage server (SQLite store) and a moto_server, seeds both with the same clusters and
task definitions, then drives each with ``wrk`` (16 connections) replaying a mix of signed
DescribeClusters, DescribeTaskDefinition and ListTaskDefinitions requests. Prints requests/s and
p99 latency for both and the ratio. Target (issue 2): >= 5x moto's requests/s, p99 < 20 ms.

    .venv/bin/python bench/api.py [--duration 10] [--connections 16]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.server import (  # noqa: E402
    ACCESS_KEY_ID,
    REGION,
    SECRET_ACCESS_KEY,
    free_port,
    start_server,
    wait_for_port,
)

TARGET = "AmazonEC2ContainerServiceV20141113"
CLUSTERS = [f"bench-{i}" for i in range(20)]
FAMILIES = [f"bench-web-{i}" for i in range(5)]


def seed(endpoint: str) -> None:
    client = botocore.session.get_session().create_client(
        "ecs",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )
    for name in CLUSTERS:
        client.create_cluster(clusterName=name, tags=[{"key": "team", "value": "bench"}])
    for family in FAMILIES:
        for rev in range(3):
            client.register_task_definition(
                family=family,
                containerDefinitions=[
                    {
                        "name": "web",
                        "image": f"busybox:{rev}",
                        "memory": 128,
                        "essential": True,
                        "portMappings": [{"containerPort": 80, "hostPort": 0}],
                        "environment": [{"name": "REVISION", "value": str(rev)}],
                    }
                ],
            )


def signed_requests(host: str) -> list[tuple[dict[str, str], str]]:
    """A rotating mix of the three operations, each request signed once (SigV4 signatures stay
    valid for 15 minutes, so replaying them is what a busy client looks like to the server)."""
    bodies: list[tuple[str, dict[str, Any]]] = []
    for i in range(60):
        bodies.append(("DescribeClusters", {"clusters": [CLUSTERS[i % 20], CLUSTERS[(i + 7) % 20]]}))
        bodies.append(("DescribeTaskDefinition", {"taskDefinition": f"{FAMILIES[i % 5]}:{1 + i % 3}"}))
        bodies.append(("ListTaskDefinitions", {"familyPrefix": "bench-web", "maxResults": 10}))
    creds = Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY)
    out = []
    for op, params in bodies:
        body = json.dumps(params)
        req = AWSRequest(
            method="POST",
            url=f"http://{host}/",
            data=body,
            headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"{TARGET}.{op}"},
        )
        SigV4Auth(creds, "ecs", REGION).add_auth(req)
        headers = {k: v for k, v in req.headers.items()}
        headers["Host"] = host
        out.append((headers, body))
    return out


def lua_script(requests: list[tuple[dict[str, str], str]]) -> str:
    def q(s: str) -> str:
        return json.dumps(s)  # a JSON string literal is a valid Lua string literal here

    lines = ["local reqs = {}"]
    for headers, body in requests:
        hs = ", ".join(f"[{q(k)}] = {q(v)}" for k, v in headers.items())
        lines.append(f'reqs[#reqs + 1] = wrk.format("POST", "/", {{{hs}}}, {q(body)})')
    lines.append(
        """
local i = 0
request = function()
  i = i + 1
  if i > #reqs then i = 1 end
  return reqs[i]
end
done = function(summary, latency, requests)
  local fmt = 'RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
    .. '"errors": %d}\\n'
  io.write(string.format(fmt,
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status
    + summary.errors.timeout))
end
"""
    )
    return "\n".join(lines)


def run_wrk(port: int, script: Path, duration: int, connections: int) -> dict[str, float]:
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}/",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("RESULT "))
    r = json.loads(line[len("RESULT ") :])
    return {
        "rps": r["requests"] / (r["duration_us"] / 1e6),
        "p50_ms": r["p50_us"] / 1000,
        "p99_ms": r["p99_us"] / 1000,
        "errors": r["errors"],
    }


def check_ok(port: int, requests: list[tuple[dict[str, str], str]]) -> None:
    """Every request of the mix must succeed before we time anything."""
    import http.client

    for headers, body in requests[:3]:
        conn = http.client.HTTPConnection("127.0.0.1", port)
        conn.request("POST", "/", body=body, headers=headers)
        resp = conn.getresponse()
        payload = resp.read()
        if resp.status != 200:
            raise SystemExit(f"request failed on port {port}: {resp.status} {payload[:300]!r}")


def bench(name: str, port: int, duration: int, connections: int, workdir: Path) -> dict[str, float]:
    reqs = signed_requests(f"127.0.0.1:{port}")
    check_ok(port, reqs)
    script = workdir / f"{name}.lua"
    script.write_text(lua_script(reqs))
    run_wrk(port, script, 2, connections)  # warm-up
    result = run_wrk(port, script, duration, connections)
    print(
        f"{name:8s} {result['rps']:9.0f} req/s   p50 {result['p50_ms']:6.2f} ms   "
        f"p99 {result['p99_ms']:6.2f} ms   errors {result['errors']:.0f}"
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench/api needs wrk: apt-get install wrk (make bench-api installs it)")
    with tempfile.TemporaryDirectory(prefix="stowage-bench-") as tmp:
        workdir = Path(tmp)
        server = start_server(workdir / "stowage")
        moto_port = free_port()
        moto_log = (workdir / "moto.log").open("wb")
        moto = subprocess.Popen(
            [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)],
            stdout=moto_log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(moto_port, moto, workdir / "moto.log")
            seed(server.endpoint)
            seed(f"http://127.0.0.1:{moto_port}")
            time.sleep(0.5)
            print(
                f"mix: DescribeClusters / DescribeTaskDefinition / ListTaskDefinitions, "
                f"{args.connections} connections, {args.duration}s each, signed (SigV4)"
            )
            ours = bench("stowage", server.port, args.duration, args.connections, workdir)
            theirs = bench("moto", moto_port, args.duration, args.connections, workdir)
        finally:
            server.stop()
            moto.terminate()
            moto.wait(timeout=10)
    ratio = ours["rps"] / theirs["rps"]
    print(
        f"ratio stowage/moto requests/s: {ratio:.1f}x (target >= 5x); "
        f"stowage p99 {ours['p99_ms']:.2f} ms (target < 20 ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
