"""bench/eks_tokens: what EKS token authentication costs per Kubernetes API request.

1. In process (µs per call, best of 5): ``TokenVerifier.verify`` on a token ``aws eks get-token``
   made, with its cache (every request after the first) and without (a fresh token each time),
   next to the admin-token check of stowage's own API (``StaticToken``).
2. Over HTTPS (``--http``, the default): a real ``stowage server`` with one EKS cluster; one
   keep-alive HTTPS connection per target GETs the same ConfigMap N times from stowage's own
   API (admin token), from the EKS cluster's endpoint (its own listener and CA; its token:
   verification, the cluster's access entries) and from its ``/eks/<id>`` path on the
   Kubernetes listener (kept for compatibility), in alternating rounds so all see the same
   machine load. The overhead is the difference of the medians. Target: ≤ 0.2 ms per request.

    .venv/bin/python bench/eks_tokens.py [--requests 2000] [--no-http]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import http.client
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
import botocore.session  # noqa: E402
from awscli.customizations.eks.get_token import STSClientFactory, TokenGenerator  # noqa: E402
from tests.support.server import free_port, wait_for_port  # noqa: E402

from stowage.api.eks.tokens import TokenVerifier  # noqa: E402
from stowage.api.k8s.auth import StaticToken  # noqa: E402
from stowage.api.k8s.http import Request  # noqa: E402
from stowage.model.identity import Credential  # noqa: E402

KEY, SECRET, ACCOUNT = "AKIABENCHMARK0000001", "bench-secret-key-000000000000000000000000", "123456789012"
CRED = Credential(KEY, SECRET, ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root")


def token_for(cluster: str, endpoint: str | None = None) -> str:
    session = botocore.session.get_session()
    session.set_credentials(KEY, SECRET)
    factory = STSClientFactory(session)
    sts = session.create_client("sts", region_name="us-east-1", endpoint_url=endpoint)
    factory._register_k8s_aws_id_handlers(sts)
    return str(TokenGenerator(sts).get_token(cluster))


def in_process() -> None:
    async def lookup(key: str) -> Credential | None:
        return CRED if key == KEY else None

    loop = asyncio.new_event_loop()
    token = token_for("bench")
    cached = TokenVerifier(lookup)
    loop.run_until_complete(cached.verify(token, "bench"))
    fresh = TokenVerifier(lookup)
    static = StaticToken("s3cret-admin-token")

    async def receive() -> dict[str, object]:
        return {"type": "http.request"}

    request = Request("GET", "/api", {}, {"authorization": "Bearer s3cret-admin-token"}, receive)

    def drive(coro: Any) -> None:
        """Run a coroutine that never suspends (the cached path): its own cost, no event loop."""
        try:
            coro.send(None)
        except StopIteration:
            return
        raise RuntimeError("the coroutine suspended")

    def cold() -> None:
        fresh._cache.clear()
        drive(fresh.verify(token, "bench"))

    cases = {
        "admin token (StaticToken)": lambda: drive(static.authenticate(request)),
        "EKS token, cached": lambda: drive(cached.verify(token, "bench")),
        "EKS token, verified (no cache)": cold,
    }
    print("in process, µs per call (best of 5 x 5000):")
    for name, fn in cases.items():
        best = min(timeit.repeat(fn, number=5000, repeat=5)) / 5000
        print(f"  {name:32s} {best * 1e6:8.2f}")


def over_https(requests: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-eks-"))
    port, k8s_port = free_port(), free_port()
    cmd = [
        sys.executable, "-m", "stowage.cli.main", "server", "--host", "127.0.0.1", "--port", str(port),
        "--data-dir", str(tmp), "--access-key-id", KEY, "--secret-access-key", SECRET,
        "--account-id", ACCOUNT, "--k8s-port", str(k8s_port), "--log-level", "warning",
    ]  # fmt: skip
    log = (tmp / "server.log").open("ab")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc, tmp / "server.log")
        endpoint = f"http://127.0.0.1:{port}"
        eks = boto3.client(
            "eks",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=KEY,
            aws_secret_access_key=SECRET,
        )
        eks.create_cluster(name="bench", roleArn=f"arn:aws:iam::{ACCOUNT}:role/eks", resourcesVpcConfig={})
        eks.get_waiter("cluster_active").wait(name="bench", WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        cluster = eks.describe_cluster(name="bench")["cluster"]
        own_ca = base64.b64decode(cluster["certificateAuthority"]["data"]).decode()
        own_host, _, own_port = cluster["endpoint"].removeprefix("https://").rpartition(":")
        cluster_id = cluster["identity"]["oidc"]["issuer"].rsplit("/", 1)[1]
        admin = (tmp / "k8s" / "token").read_text().strip()
        eks_token = token_for("bench", endpoint)
        own = ssl.create_default_context(cadata=own_ca)
        listener = ssl.create_default_context(cafile=str(tmp / "k8s" / "ca.crt"))
        body = json.dumps(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}, "data": {"k": "v"}}
        )
        paths = {"local": "", "eks": "", "eks-prefix": f"/eks/{cluster_id}"}
        tokens = {"local": admin, "eks": eks_token, "eks-prefix": eks_token}
        conns = {
            "local": http.client.HTTPSConnection("127.0.0.1", k8s_port, context=listener),
            "eks": http.client.HTTPSConnection(own_host, int(own_port), context=own),
            "eks-prefix": http.client.HTTPSConnection("127.0.0.1", k8s_port, context=listener),
        }
        for k in ("local", "eks"):  # one ConfigMap in each object space
            conn = conns[k]
            conn.request(
                "POST", f"{paths[k]}/api/v1/namespaces/default/configmaps", body,
                {"Authorization": f"Bearer {tokens[k]}", "Content-Type": "application/json"},
            )  # fmt: skip
            conn.getresponse().read()
        samples: dict[str, list[float]] = {k: [] for k in paths}

        def get(which: str) -> None:
            conn = conns[which]
            t0 = time.perf_counter()
            conn.request(
                "GET", f"{paths[which]}/api/v1/namespaces/default/configmaps/b",
                headers={"Authorization": f"Bearer {tokens[which]}"},
            )  # fmt: skip
            response = conn.getresponse()
            response.read()
            samples[which].append(time.perf_counter() - t0)
            assert response.status == 200, (which, response.status)

        order = list(paths)
        for _ in range(50):  # warm every path
            for which in order:
                get(which)
        samples = {k: [] for k in paths}
        for i in range(requests):
            for which in order[i % 3 :] + order[: i % 3]:  # rotate who goes first
                get(which)
        med = {k: statistics.median(v) * 1e3 for k, v in samples.items()}
        p90 = {k: statistics.quantiles(v, n=10)[-1] * 1e3 for k, v in samples.items()}
        print(
            f"over HTTPS, {requests} GETs each on one keep-alive connection (load {os.getloadavg()[0]:.1f}):"
        )
        print(f"  stowage's own API, admin token   median {med['local']:.3f} ms  p90 {p90['local']:.3f} ms")
        print(f"  EKS cluster endpoint, EKS token  median {med['eks']:.3f} ms  p90 {p90['eks']:.3f} ms")
        print(
            f"  /eks/<id> on the k8s listener    median {med['eks-prefix']:.3f} ms  "
            f"p90 {p90['eks-prefix']:.3f} ms"
        )
        overhead = med["eks"] - med["local"]
        verdict = "OK" if overhead <= 0.2 else "MISSED"
        print(f"  overhead per request: {overhead:.3f} ms (target <= 0.2 ms): {verdict}")
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--no-http", action="store_true", help="only the in-process figures")
    args = parser.parse_args(argv)
    in_process()
    if not args.no_http:
        over_https(args.requests)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
