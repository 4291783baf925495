"""EKS Fargate on real Docker: a Fargate profile selects a namespace, a real pool agent
(``stowage agent --fargate``) is the only capacity, and a pod applied there with plain kubectl
(update-kubeconfig's token) runs as a Fargate task on the pool: Running on its own
``fargate-ip-...`` node, in its own network namespace with its own address, its size as one
cgroup, and its log readable with ``kubectl logs``."""

from __future__ import annotations

import ipaddress
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
    "metadata": {"name": "hello", "namespace": "serverless"},
    "spec": {
        "terminationGracePeriodSeconds": 1,
        "containers": [
            {
                "name": "main",
                "image": TEST_IMAGE,
                "command": ["sh", "-c", "echo hello-fargate; ip -4 -o addr show; sleep 600"],
                "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}},
            }
        ],
    },
}


def test_a_profile_pod_runs_on_the_fargate_pool(stack: Stack, tmp_path: Path) -> None:
    assert stack.server is not None
    eks = stack.server.boto3_client("eks")
    name = unique("fgreal")
    eks.create_cluster(name=name, roleArn=ROLE, resourcesVpcConfig=VPC)
    eks.get_waiter("cluster_active").wait(name=name, WaiterConfig=FAST)
    eks.create_fargate_profile(
        clusterName=name, fargateProfileName="serverless", selectors=[{"namespace": "serverless"}],
        podExecutionRoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/pods",
    )  # fmt: skip
    eks.get_waiter("fargate_profile_active").wait(
        clusterName=name, fargateProfileName="serverless", WaiterConfig=FAST
    )
    stack.cluster = f"eks-{name}"  # the agent's containers are labelled with it (cleanup)
    stack.start_agent("pool", "--fargate", "--cpu-units", "1024", "--memory-mib", "2048")

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KUBE"))}
    env.update(stack.server.env())
    env.update(HOME=str(tmp_path), KUBECONFIG=str(tmp_path / "kubeconfig"))
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}"

    def run(*cmd: str, input: str | None = None) -> str:
        proc = subprocess.run(list(cmd), capture_output=True, text=True, input=input, env=env, timeout=120)
        assert proc.returncode == 0, f"{' '.join(cmd)}: {proc.stderr}"
        return proc.stdout

    run(str(Path(sys.executable).parent / "aws"), "eks", "update-kubeconfig", "--name", name)
    run(KUBECTL, "create", "namespace", "serverless")
    run(KUBECTL, "apply", "-f", "-", input=json.dumps(POD))

    def running() -> dict[str, Any] | None:
        pod: dict[str, Any] = json.loads(
            run(KUBECTL, "get", "pod", "hello", "-n", "serverless", "-o", "json")
        )
        return pod if pod.get("status", {}).get("phase") == "Running" else None

    pod = stack.until(running, "the Fargate pod Running", within=90)
    ip = pod["status"]["podIP"]
    assert ipaddress.ip_address(ip) in ipaddress.ip_network(stack.subnet)  # the pool agent's awsvpc subnet
    assert pod["spec"]["nodeName"] == f"fargate-ip-{ip.replace('.', '-')}.ec2.internal"
    assert pod["metadata"]["annotations"]["CapacityProvisioned"] == "0.25vCPU 0.5GB"
    node = json.loads(run(KUBECTL, "get", "node", pod["spec"]["nodeName"], "-o", "json"))
    assert node["metadata"]["labels"]["eks.amazonaws.com/compute-type"] == "fargate"

    # its own network namespace: the address it sees on its interface is the pod's
    stack.until(
        lambda: "hello-fargate" in (out := run(KUBECTL, "logs", "hello", "-n", "serverless")) and ip in out,
        "the pod's log with its own address",
    )
    # the task's size is one cgroup (the agent's Fargate isolation)
    arn = pod["metadata"]["annotations"]["ecs.stowage.io/task-arn"]
    [task] = stack.ecs.describe_tasks(cluster=f"eks-{name}", tasks=[arn])["tasks"]
    assert (task["launchType"], task["cpu"], task["memory"]) == ("FARGATE", "256", "512")
    attrs = {a["name"]: a.get("value") for a in task.get("attributes") or []}
    assert attrs["stowage.isolation.scope"] == "TASK", attrs
    parent = str(attrs["stowage.isolation.cgroup-parent"]).strip("/")
    if Path("/sys/fs/cgroup/cgroup.controllers").exists():  # cgroup v2
        limit = Path("/sys/fs/cgroup", parent, "memory.max").read_text().strip()
    else:
        limit = Path("/sys/fs/cgroup/memory", parent, "memory.limit_in_bytes").read_text().strip()
    assert int(limit) == 512 << 20  # 256 MiB asked + 256 MiB for Kubernetes, as one cgroup

    run(KUBECTL, "delete", "pod", "hello", "-n", "serverless", "--wait=true")
    stack.until(
        lambda: "No resources found" in subprocess.run(
            [KUBECTL, "get", "nodes"], capture_output=True, text=True, env=env, timeout=60
        ).stderr,
        "the Fargate node removed with its pod",
    )  # fmt: skip
    stack.wait_status(arn, "STOPPED")
    eks.delete_fargate_profile(clusterName=name, fargateProfileName="serverless")
    eks.get_waiter("fargate_profile_deleted").wait(
        clusterName=name, fargateProfileName="serverless", WaiterConfig=FAST
    )
    eks.delete_cluster(name=name)
