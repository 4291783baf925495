"""bench/aws_protocol: per-request cost of the AWS protocol layer, in process and over HTTP.

In process (µs per call, best of 5 runs): SigV4 verification (ours, and botocore's
``SigV4Auth`` pieces for comparison), input validation, output serialization, and one whole
ASGI call of a signed DescribeClusters with a dict-backed handler. With ``--http``, the same app
runs under uvicorn (httptools + uvloop, one process = one core) and ``wrk`` replays a signed
DescribeClusters on keep-alive connections: requests/s and latency for the whole stack.

    .venv/bin/python bench/aws_protocol.py [--http] [--duration 5] [--connections 16]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from stowage.api.aws.app import AwsApi  # noqa: E402
from stowage.api.aws.catalog import build_catalog  # noqa: E402
from stowage.api.aws.context import RequestContext  # noqa: E402
from stowage.api.aws.service import AwsService  # noqa: E402
from stowage.api.aws.sigv4 import SigV4Verifier, parse_authorization  # noqa: E402
from stowage.model.identity import Credential  # noqa: E402

KEY, SECRET, ACCOUNT = "AKIABENCHMARK0000001", "bench-secret-key-000000000000000000000000", "123456789012"
TARGET = "AmazonEC2ContainerServiceV20141113.DescribeClusters"
BODY = orjson.dumps({"clusters": ["default", "prod"], "include": ["TAGS", "SETTINGS"]})
CLUSTER = {
    "clusterArn": f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/default",
    "clusterName": "default",
    "status": "ACTIVE",
    "registeredContainerInstancesCount": 3,
    "runningTasksCount": 12,
    "pendingTasksCount": 0,
    "activeServicesCount": 4,
    "statistics": [],
    "tags": [{"key": "team", "value": "infra"}],
    "settings": [{"name": "containerInsights", "value": "disabled"}],
    "capacityProviders": ["FARGATE"],
    "defaultCapacityProviderStrategy": [],
}


def describe_clusters_service() -> AwsService:
    async def describe(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"clusters": [CLUSTER] * len(params.get("clusters", [1])), "failures": []}

    return AwsService("ecs", {"DescribeClusters": describe})


async def lookup(key: str) -> Credential | None:
    return Credential(KEY, SECRET, ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root") if key == KEY else None


def signed_headers(host: str) -> dict[str, str]:
    request = AWSRequest(
        method="POST",
        url=f"http://{host}/",
        data=BODY,
        headers={"X-Amz-Target": TARGET, "Content-Type": "application/x-amz-json-1.1"},
    )
    SigV4Auth(Credentials(KEY, SECRET), "ecs", "us-east-1").add_auth(request)
    return dict(request.headers.items())


def per_call_us(fn: Callable[[], object], number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def in_process() -> dict[str, float]:
    host = "127.0.0.1:8000"
    sent = signed_headers(host)
    headers = {k.lower(): v for k, v in sent.items()} | {"host": host, "content-length": str(len(BODY))}
    auth = parse_authorization(headers)
    verifier = SigV4Verifier()

    def ours() -> None:
        verifier.verify(
            parse_authorization(headers),
            SECRET,
            method="POST",
            raw_path="/",
            query="",
            headers=headers,
            body=BODY,
        )

    botocore_auth = SigV4Auth(Credentials(KEY, SECRET), "ecs", "us-east-1")
    signed_only = {k: v for k, v in sent.items() if k.lower() in auth.signed_headers}

    def with_botocore() -> None:
        request = AWSRequest(method="POST", url=f"http://{host}/", data=BODY, headers=signed_only)
        request.context["timestamp"] = auth.amz_date
        canonical = botocore_auth.canonical_request(request)
        botocore_auth.signature(botocore_auth.string_to_sign(request, canonical), request)

    catalog = build_catalog([describe_clusters_service()], strict=False)
    op = catalog.operations[TARGET]
    assert op.validate is not None and op.serialize is not None
    validate, serialize = op.validate, op.serialize
    params = orjson.loads(BODY)
    one = {"clusters": [CLUSTER], "failures": []}
    hundred = {"clusters": [CLUSTER] * 100, "failures": []}

    app = AwsApi([describe_clusters_service()], lookup, strict_shapes=False)
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in sent.items()]
        + [(b"host", host.encode()), (b"content-length", str(len(BODY)).encode())],
    }
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def asgi_calls(n: int) -> None:
        for _ in range(n):
            await app(scope, receive, send)

    loop = asyncio.new_event_loop()
    n_asgi = 20000
    best = min(
        timeit.repeat(lambda: loop.run_until_complete(asgi_calls(n_asgi)), number=1, repeat=5)
    )  # one loop entry per batch, as uvicorn runs many requests per loop turn
    loop.close()
    assert set(statuses) == {200}, set(statuses)

    return {
        "sigv4 verify (ours, parse + verify)": per_call_us(ours, 20000),
        "sigv4 verify (botocore SigV4Auth pieces)": per_call_us(with_botocore, 5000),
        "validate DescribeClusters input": per_call_us(lambda: validate(params), 50000),
        "serialize DescribeClusters output (1 cluster)": per_call_us(lambda: serialize(one), 50000),
        "  + orjson.dumps": per_call_us(lambda: orjson.dumps(serialize(one)), 50000),
        "serialize DescribeClusters output (100 clusters)": per_call_us(lambda: serialize(hundred), 2000),
        "whole ASGI call, signed DescribeClusters": best / n_asgi * 1e6,
    }


def _serve(port: int) -> None:
    import uvicorn

    app = AwsApi([describe_clusters_service()], lookup, strict_shapes=False)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


def over_http(duration: int, connections: int) -> str:
    if shutil.which("wrk") is None:
        return "wrk is not installed (make setup-test installs it)"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = multiprocessing.get_context("spawn").Process(target=_serve, args=(port,), daemon=True)
    server.start()
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        # One signature, replayed: the server still verifies it in full on every request, and it
        # stays valid for the 15-minute skew window.
        headers = signed_headers(f"127.0.0.1:{port}")
        lua = "wrk.method = 'POST'\n" + f"wrk.body = {orjson.dumps(BODY.decode()).decode()}\n"
        lua += "".join(
            f"wrk.headers[{orjson.dumps(k).decode()}] = {orjson.dumps(v).decode()}\n"
            for k, v in headers.items()
        )
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
            f.write(lua)
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{duration}s",
                "--latency",
                "-s",
                f.name,
                f"http://127.0.0.1:{port}/",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=duration + 30,
        )
        Path(f.name).unlink()
        return out.stdout
    finally:
        server.terminate()
        server.join(10)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--http", action="store_true", help="also measure requests/s under uvicorn with wrk")
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    print(f"in process, µs per call (best of 5), {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    for name, us in in_process().items():
        print(f"  {name:<50} {us:8.2f}")
    if args.http:
        print(
            f"\nuvicorn (httptools + uvloop, 1 process) + wrk -c{args.connections}, signed DescribeClusters:"
        )
        print(over_http(args.duration, args.connections))


if __name__ == "__main__":
    main()
