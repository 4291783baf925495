"""A control-plane restart keeps every EKS cluster: same endpoint, same objects, and the
kubeconfig ``update-kubeconfig`` wrote still works."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.api.eks.support import FAST, KUBECTL, ROLE, VPC
from tests.support.server import free_port, start_server


def test_clusters_survive_a_restart(tmp_path: Path) -> None:
    server = start_server(tmp_path / "server", ["--k8s-port", str(free_port())])
    try:
        eks = server.boto3_client("eks")
        eks.create_cluster(name="kept", roleArn=ROLE, resourcesVpcConfig=VPC)
        eks.get_waiter("cluster_active").wait(name="kept", WaiterConfig=FAST)
        endpoint = eks.describe_cluster(name="kept")["cluster"]["endpoint"]
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
        cluster = eks.describe_cluster(name="kept")["cluster"]
        assert (cluster["status"], cluster["endpoint"]) == ("ACTIVE", endpoint)
        got = json.loads(run(KUBECTL, "get", "configmap", "survivor", "-o", "json"))
        assert got["data"] == {"k": "v"}
        eks.delete_cluster(name="kept")
        eks.get_waiter("cluster_deleted").wait(name="kept", WaiterConfig=FAST)
    finally:
        server.stop()
