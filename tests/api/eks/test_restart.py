"""A control-plane restart keeps every EKS cluster: same endpoint (its own port), same CA, same
objects, and the kubeconfig ``update-kubeconfig`` wrote still works (kubectl verifies the
restarted listener's certificate with the CA that kubeconfig holds)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.api.eks.support import FAST, KUBECTL, ROLE, VPC
from tests.support.server import free_port, start_server


def test_clusters_survive_a_restart(tmp_path: Path) -> None:
    first = free_port()  # a range of the server's own (--eks-port-range): ports in use are skipped
    ports = ["--eks-port-range", f"{first}-{first + 40}"]
    server = start_server(tmp_path / "server", ["--k8s-port", str(free_port()), *ports])
    try:
        eks = server.boto3_client("eks")
        for name in ("kept", "also-kept"):
            eks.create_cluster(name=name, roleArn=ROLE, resourcesVpcConfig=VPC)
        for name in ("kept", "also-kept"):
            eks.get_waiter("cluster_active").wait(name=name, WaiterConfig=FAST)
        before = {n: eks.describe_cluster(name=n)["cluster"] for n in ("kept", "also-kept")}
        assert len({c["endpoint"] for c in before.values()}) == 2  # a port each, from the range
        assert all(first <= int(c["endpoint"].rsplit(":", 1)[1]) <= first + 40 for c in before.values())
        assert len({c["certificateAuthority"]["data"] for c in before.values()}) == 2  # a CA each
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KUBE"))}
        env.update(server.env(), HOME=str(tmp_path), KUBECONFIG=str(tmp_path / "kubeconfig"))
        env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}"

        def run(*cmd: str) -> str:
            proc = subprocess.run(list(cmd), capture_output=True, text=True, env=env, timeout=120)
            assert proc.returncode == 0, f"{' '.join(cmd)}: {proc.stderr}"
            return proc.stdout

        run(str(Path(sys.executable).parent / "aws"), "eks", "update-kubeconfig", "--name", "kept")
        run(KUBECTL, "create", "configmap", "survivor", "--from-literal=k=v")

        server.restart()
        eks = server.boto3_client("eks")
        for name, was in before.items():
            cluster = eks.describe_cluster(name=name)["cluster"]
            assert (cluster["status"], cluster["endpoint"], cluster["certificateAuthority"]) == (
                "ACTIVE",
                was["endpoint"],
                was["certificateAuthority"],
            )
        got = json.loads(run(KUBECTL, "get", "configmap", "survivor", "-o", "json"))
        assert got["data"] == {"k": "v"}
        for name in before:
            eks.delete_cluster(name=name)
        for name in before:
            eks.get_waiter("cluster_deleted").wait(name=name, WaiterConfig=FAST)
    finally:
        server.stop()
