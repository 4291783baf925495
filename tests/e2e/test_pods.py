"""Pods for real: the machine's kubectl → stowage's Kubernetes API → the pod controller → the
same scheduler and agent as ECS tasks → real Docker containers. Marked `docker`."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stowage.agent import labels as lbl
from tests.e2e.stack import Stack
from tests.k8s.conftest import KUBECTL, K8sServer
from tests.support.images import TEST_IMAGE
from tests.support.server import free_port, start_server

pytestmark = pytest.mark.docker


@dataclass
class Kube:
    stack: Stack
    k8s: K8sServer

    def kubectl(self, *args: str, check: bool = True, input: str | None = None) -> Any:
        return self.k8s.kubectl(*args, check=check, input=input)

    def get(self, kind: str, name: str, ns: str = "default") -> dict[str, Any]:
        return dict(json.loads(self.kubectl("get", kind, name, "-n", ns, "-o", "json").stdout))

    def pod_containers(self, name: str) -> list[Any]:
        return [
            s
            for s in self.stack.engine.containers(**{"io.kubernetes.pod.name": name})
            if s.labels.get(lbl.ROLE) == lbl.ROLE_CONTAINER
        ]

    def events(self, name: str, ns: str = "default") -> list[str]:
        out = self.kubectl(
            "get", "events", "-n", ns, "--field-selector", f"involvedObject.name={name}", "-o", "json"
        )
        return [str(e["reason"]) for e in json.loads(out.stdout)["items"]]


@pytest.fixture()
def kube(e2e_images: None, tmp_path: Path) -> Iterator[Kube]:
    stack = Stack(tmp_path)
    port = free_port()
    try:
        stack.server = start_server(
            tmp_path / "server", ["--k8s-port", str(port), "--k8s-cluster", stack.cluster]
        )
        stack.ecs = stack.server.boto3_client("ecs")
        stack.logs = stack.server.boto3_client("logs")
        stack.ecs.create_cluster(clusterName=stack.cluster)
        yield Kube(stack, K8sServer(stack.server, port))
    finally:
        stack.close()


POD = """apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{app: demo}}
spec:
  restartPolicy: {restart}
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: {image}
    command: ["sh", "-c"]
    args: ["{script}"]
    env:
    - name: GREETING
      value: hello
    - name: POD_NAME
      valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}
    - name: FROM_CM
      valueFrom: {{configMapKeyRef: {{name: settings, key: colour}}}}
    resources:
      requests: {{cpu: 100m, memory: 32Mi}}
      limits: {{memory: 64Mi, cpu: 250m}}
"""


def test_a_node_per_instance_and_a_pod_runs_logs_and_is_deleted(kube: Kube) -> None:
    stack = kube.stack
    agent = stack.start_agent()
    node = stack.ecs.describe_container_instances(
        cluster=stack.cluster, containerInstances=[agent.instance_arn]
    )["containerInstances"][0]["ec2InstanceId"]
    stack.until(lambda: node in kube.kubectl("get", "nodes", "-o", "name").stdout, "node listed")
    rows = kube.kubectl("get", "nodes", "-o", "wide").stdout.splitlines()
    assert rows[0].split()[:5] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert rows[1].split()[:3] == [node, "Ready", "<none>"]
    got = kube.get("node", node)
    assert got["metadata"]["labels"]["kubernetes.io/hostname"] == node
    assert got["metadata"]["labels"]["kubernetes.io/os"] == "linux"
    assert int(got["status"]["capacity"]["cpu"].rstrip("m") or 0) > 0
    assert got["status"]["allocatable"]["memory"].endswith("Ki")

    kube.kubectl("create", "configmap", "settings", "--from-literal=colour=blue")
    script = "echo $GREETING from $POD_NAME in $FROM_CM; sleep 3600"
    kube.kubectl(
        "apply", "-f", "-", input=POD.format(name="web", restart="Always", image=TEST_IMAGE, script=script)
    )
    kube.kubectl("wait", "--for=condition=Ready", "pod/web", "--timeout=60s")
    wide = kube.kubectl("get", "pods", "-o", "wide").stdout.splitlines()
    assert wide[0].split()[:7] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]
    cells = wide[1].split()
    assert cells[:4] == ["web", "1/1", "Running", "0"]
    assert cells[5].count(".") == 3 and cells[6] == node
    pod = kube.get("pod", "web")
    assert pod["status"]["phase"] == "Running"
    assert pod["spec"]["nodeName"] == node
    main = pod["status"]["containerStatuses"][0]
    assert main["ready"] is True and main["restartCount"] == 0 and "running" in main["state"]
    # the same scheduler and agent: it is an ECS task of the cluster, with the pod's reservation
    arn = pod["metadata"]["annotations"]["ecs.stowage.io/task-arn"]
    task = stack.describe(arn)
    assert task["lastStatus"] == "RUNNING" and task["cpu"] == "103" and task["memory"] == "32"
    containers = kube.pod_containers("web")
    assert len(containers) == 1 and containers[0].running
    assert main["containerID"] == f"docker://{containers[0].id}"
    # limits.cpu is a hard cap (a CFS quota, as the kubelet sets), the request the shares
    inspected = subprocess.run(
        ["docker", "inspect", "-f", "{{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}}", containers[0].id],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert inspected.stdout.split() == ["250000000", "103"]

    def logged() -> bool:
        out = kube.kubectl("logs", "web", check=False)
        return out.returncode == 0 and "hello from web in blue" in out.stdout

    stack.until(logged, "kubectl logs shows the pod's output")
    follow = subprocess.Popen(
        [KUBECTL, "--kubeconfig", str(kube.k8s.kubeconfig), "logs", "-f", "web"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "HOME": str(kube.k8s.server.data_dir)},
    )  # fmt: skip
    try:
        assert follow.stdout is not None
        assert follow.stdout.readline().strip() == "hello from web in blue"
    finally:
        follow.kill()
        follow.wait()
    stack.until(
        lambda: {"Scheduled", "Pulled", "Created", "Started"} <= set(kube.events("web")), "pod events"
    )

    kube.kubectl("delete", "pod", "web", "--timeout=60s")
    assert "web" not in kube.kubectl("get", "pods", "-o", "name").stdout
    assert not any(c.running for c in kube.pod_containers("web"))
    assert stack.describe(arn)["lastStatus"] == "STOPPED"


def test_a_pod_that_fits_nowhere_stays_pending_with_failed_scheduling(kube: Kube) -> None:
    kube.stack.start_agent()
    big = POD.format(name="huge", restart="Never", image=TEST_IMAGE, script="true").replace(
        "cpu: 100m", "cpu: '4096'"
    )
    kube.kubectl("create", "configmap", "settings", "--from-literal=colour=red")
    kube.kubectl("apply", "-f", "-", input=big)

    def failed_scheduling() -> bool:
        return "FailedScheduling" in kube.events("huge")

    kube.stack.until(failed_scheduling, "FailedScheduling event")
    pod = kube.get("pod", "huge")
    assert pod["status"]["phase"] == "Pending"
    cond = next(c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled")
    assert cond["status"] == "False" and cond["reason"] == "Unschedulable"
    assert "Insufficient cpu" in cond["message"]
    assert not pod["spec"].get("nodeName")
    # an unscheduled pod has nothing to wait for: it is deleted at once
    kube.kubectl("delete", "pod", "huge", "--timeout=20s")


def test_run_to_completion_and_a_missing_configmap(kube: Kube) -> None:
    kube.stack.start_agent()
    job = POD.format(name="once", restart="Never", image=TEST_IMAGE, script="echo done; exit 3")
    kube.kubectl("apply", "-f", "-", input=job)
    time.sleep(0.5)
    pod = kube.get("pod", "once")
    waiting = pod["status"]["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "CreateContainerConfigError"
    assert 'configmap "settings" not found' in waiting["message"]
    kube.kubectl("create", "configmap", "settings", "--from-literal=colour=green")
    kube.stack.until(lambda: kube.get("pod", "once")["status"]["phase"] == "Failed", "pod Failed")
    pod = kube.get("pod", "once")
    term = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 3 and term["reason"] == "Error"
    line = kube.kubectl("get", "pod", "once").stdout.splitlines()[1].split()
    assert line[:3] == ["once", "0/1", "Error"]
    kube.stack.until(lambda: "done" in kube.kubectl("logs", "once", check=False).stdout, "logs of a done pod")
    # follow on a finished pod prints what there is and ends
    out = kube.kubectl("logs", "-f", "--timestamps", "once").stdout.strip()
    stamp, text = out.split(" ", 1)
    assert text == "done" and stamp.endswith("Z")


def test_kubectl_run_to_completion(kube: Kube) -> None:
    kube.stack.start_agent()
    kube.kubectl("run", "hi", f"--image={TEST_IMAGE}", "--restart=Never", "--", "echo", "hi there")
    kube.stack.until(lambda: kube.get("pod", "hi")["status"]["phase"] == "Succeeded", "pod Succeeded")
    line = kube.kubectl("get", "pod", "hi").stdout.splitlines()[1].split()
    assert line[:4] == ["hi", "0/1", "Completed", "0"]
    kube.stack.until(lambda: kube.kubectl("logs", "hi", check=False).stdout == "hi there\n", "logs")
    kube.kubectl("delete", "pod", "hi", "--timeout=30s")
