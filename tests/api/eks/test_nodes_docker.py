"""An EKS cluster for real: ``aws eks create-cluster`` and ``create-nodegroup``, a real
``stowage agent --eks-cluster NAME --nodegroup NG`` on Docker joins as the group's node, and a
pod applied with plain kubectl (update-kubeconfig's token) runs there and logs. Marked `docker`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.eks.support import FAST, KUBECTL, ROLE, VPC, unique
from tests.e2e.conftest import e2e_images  # noqa: F401  (the fixture)
from tests.e2e.stack import Stack
from tests.support.images import TEST_IMAGE
from tests.support.server import ACCOUNT_ID, free_port, start_server

pytestmark = pytest.mark.docker


@pytest.fixture()
def stack(e2e_images: None, tmp_path: Path) -> Iterator[Stack]:  # noqa: F811
    s = Stack(tmp_path)
    try:
        s.server = start_server(tmp_path / "server", ["--k8s-port", str(free_port())])
        s.ecs = s.server.boto3_client("ecs")
        s.logs = s.server.boto3_client("logs")
        yield s
    finally:
        s.close()


POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "hello"},
    "spec": {
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": 1,
        "nodeSelector": {"eks.amazonaws.com/nodegroup": "workers"},
        "containers": [
            {"name": "main", "image": TEST_IMAGE, "command": ["sh", "-c", "echo hello-eks; sleep 600"]}
        ],
    },
}


def test_an_agent_joins_a_nodegroup_and_runs_a_pod(stack: Stack, tmp_path: Path) -> None:
    assert stack.server is not None
    eks = stack.server.boto3_client("eks")
    name = unique("real")
    eks.create_cluster(name=name, roleArn=ROLE, resourcesVpcConfig=VPC)
    eks.get_waiter("cluster_active").wait(name=name, WaiterConfig=FAST)
    eks.create_nodegroup(
        clusterName=name, nodegroupName="workers", nodeRole=f"arn:aws:iam::{ACCOUNT_ID}:role/nodes",
        subnets=["subnet-0a"], scalingConfig={"minSize": 1, "maxSize": 1, "desiredSize": 1},
        labels={"disk": "ssd"},
    )  # fmt: skip
    stack.cluster = f"eks-{name}"  # the agent's containers are labelled with it (cleanup)
    stack.start_agent("a", "--eks-cluster", name, "--nodegroup", "workers")
    eks.get_waiter("nodegroup_active").wait(clusterName=name, nodegroupName="workers", WaiterConfig=FAST)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KUBE"))}
    env.update(stack.server.env())
    env.update(HOME=str(tmp_path), KUBECONFIG=str(tmp_path / "kubeconfig"))
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}"

    def run(*cmd: str, input: str | None = None) -> str:
        proc = subprocess.run(list(cmd), capture_output=True, text=True, input=input, env=env, timeout=120)
        assert proc.returncode == 0, f"{' '.join(cmd)}: {proc.stderr}"
        return proc.stdout

    run(str(Path(sys.executable).parent / "aws"), "eks", "update-kubeconfig", "--name", name)

    def node_ready() -> bool:
        nodes = json.loads(run(KUBECTL, "get", "nodes", "-o", "json"))["items"]
        return len(nodes) == 1 and nodes[0]["metadata"]["labels"].get("disk") == "ssd"

    stack.until(node_ready, "the node group's node with its labels")
    run(KUBECTL, "apply", "-f", "-", input=json.dumps(POD))

    def running() -> dict[str, Any] | None:
        pod: dict[str, Any] = json.loads(run(KUBECTL, "get", "pod", "hello", "-o", "json"))
        return pod if pod.get("status", {}).get("phase") == "Running" else None

    pod = stack.until(running, "the pod Running", within=90)
    node = json.loads(run(KUBECTL, "get", "node", pod["spec"]["nodeName"], "-o", "json"))
    assert node["metadata"]["labels"]["eks.amazonaws.com/nodegroup"] == "workers"
    stack.until(lambda: "hello-eks" in run(KUBECTL, "logs", "hello"), "the pod's log")
    run(KUBECTL, "delete", "pod", "hello", "--wait=true")
    eks.delete_nodegroup(clusterName=name, nodegroupName="workers")
    eks.get_waiter("nodegroup_deleted").wait(clusterName=name, nodegroupName="workers", WaiterConfig=FAST)
    eks.delete_cluster(name=name)
