"""File volumes and init containers through the whole control plane without Docker: kubectl →
the pod controller → the scheduler → a real agent over a simulated engine (``stowage
simulate``), which writes the files to its state directory as it would on a host.

The pod controller's side of FailedMount (a pod waits for its ConfigMap, then starts), the
files the agent receives, and init containers run in order, succeed or fail the pod.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from stowage.agent import projected_files
from tests.k8s.conftest import K8sServer
from tests.support.server import free_port, start_server
from tests.support.simulator import read_summary, start_simulator

CLUSTER = "k8s-files"
T = TypeVar("T")


class Cluster:
    def __init__(self, k8s: K8sServer, hosts: Path) -> None:
        self.k8s = k8s
        self.hosts = hosts

    def kubectl(self, *args: str, input: str | None = None) -> str:
        return str(self.k8s.kubectl(*args, input=input).stdout)

    def pod(self, name: str) -> dict[str, Any]:
        return dict(json.loads(self.kubectl("get", "pod", name, "-o", "json")))

    def status_cell(self, name: str) -> str:
        return self.kubectl("get", "pod", name).splitlines()[1].split()[2]

    def events(self, name: str) -> list[dict[str, Any]]:
        out = self.kubectl("get", "events", "--field-selector", f"involvedObject.name={name}", "-o", "json")
        return list(json.loads(out)["items"])

    def task_dir(self, pod: dict[str, Any]) -> Path:
        arn = pod["metadata"]["annotations"]["ecs.stowage.io/task-arn"]
        [host] = sorted(self.hosts.glob("host-*"))
        return projected_files.task_dir(host, arn)


def until(check: Callable[[], T | None], what: str, within: float = 30.0) -> T:
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    port = free_port()
    server = start_server(
        tmp_path_factory.mktemp("server"), ["--k8s-port", str(port), "--k8s-cluster", CLUSTER]
    )
    hosts = tmp_path_factory.mktemp("hosts")
    sim: subprocess.Popen[str] | None = None
    try:
        server.boto3_client("ecs").create_cluster(clusterName=CLUSTER)
        sim = start_simulator(server, CLUSTER, 1, str(hosts), "--poll-wait", "5")
        read_summary(sim)
        yield Cluster(K8sServer(server, port), hosts)
    finally:
        if sim is not None:
            sim.terminate()
            try:
                sim.wait(timeout=20)
            except subprocess.TimeoutExpired:
                sim.kill()
        server.stop()


def _pod(name: str, **spec: Any) -> str:
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"terminationGracePeriodSeconds": 1, **spec},
    }
    return json.dumps(body)


APP = {"name": "main", "image": "busybox", "command": ["sleep", "3600"]}


def test_a_pod_waits_for_its_configmap_then_its_task_carries_the_files(cluster: Cluster) -> None:
    volumes = [
        {
            "name": "config",
            "configMap": {"name": "late", "items": [{"key": "a", "path": "x/a.txt", "mode": 0o600}]},
        },
        {"name": "creds", "secret": {"secretName": "late-secret"}},
        {
            "name": "info",
            "downwardAPI": {"items": [{"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]},
        },
    ]
    mounts = [
        {"name": "config", "mountPath": "/etc/config"},
        {"name": "creds", "mountPath": "/etc/creds"},
        {"name": "info", "mountPath": "/etc/info"},
    ]
    cluster.kubectl(
        "apply", "-f", "-", input=_pod("late", containers=[{**APP, "volumeMounts": mounts}], volumes=volumes)
    )
    until(lambda: any(e["reason"] == "FailedMount" for e in cluster.events("late")), "FailedMount")
    [event] = [e for e in cluster.events("late") if e["reason"] == "FailedMount"]
    assert event["message"] == 'MountVolume.SetUp failed for volume "config" : configmap "late" not found'
    assert cluster.status_cell("late") == "ContainerCreating"
    assert not cluster.pod("late")["spec"].get("nodeName")  # nothing placed, nothing reserved

    cluster.kubectl("create", "configmap", "late", "--from-literal=a=alpha")
    # the next volume is missing now: the event says so (once per new message)
    until(
        lambda: sum(e["reason"] == "FailedMount" for e in cluster.events("late")) == 2, "second FailedMount"
    )
    assert cluster.status_cell("late") == "ContainerCreating"
    cluster.kubectl("create", "secret", "generic", "late-secret", "--from-literal=token=t0k3n")
    until(lambda: cluster.pod("late")["status"].get("phase") == "Running", "pod Running")
    pod = cluster.pod("late")
    directory = cluster.task_dir(pod)
    assert (directory / "config" / "x" / "a.txt").read_text() == "alpha"
    assert (directory / "config" / "x" / "a.txt").stat().st_mode & 0o777 == 0o600
    assert (directory / "creds" / "token").read_text() == "t0k3n"
    assert (directory / "info" / "name").read_text() == "late"
    assert len([e for e in cluster.events("late") if e["reason"] == "FailedMount"]) == 2
    cluster.kubectl("delete", "pod", "late", "--timeout=30s")
    until(lambda: not directory.exists(), "the files removed with the task")


def test_init_containers_run_in_order_before_the_app(cluster: Cluster) -> None:
    inits = [
        {"name": "first", "image": "busybox", "command": ["sh", "-c", "echo one"]},
        {"name": "second", "image": "busybox", "command": ["sh", "-c", "echo two"]},
    ]
    cluster.kubectl("apply", "-f", "-", input=_pod("ordered", initContainers=inits, containers=[APP]))
    until(lambda: cluster.pod("ordered")["status"].get("phase") == "Running", "pod Running")
    status = cluster.pod("ordered")["status"]
    assert [s["state"]["terminated"]["reason"] for s in status["initContainerStatuses"]] == ["Completed"] * 2
    initialized = next(c for c in status["conditions"] if c["type"] == "Initialized")
    assert initialized["status"] == "True"
    assert cluster.status_cell("ordered") == "Running"
    started = [
        e["involvedObject"].get("fieldPath")
        for e in sorted(cluster.events("ordered"), key=lambda e: e["metadata"]["creationTimestamp"])
        if e["reason"] == "Started"
    ]
    assert set(started) == {
        "spec.initContainers{first}",
        "spec.initContainers{second}",
        "spec.containers{main}",
    }
    described = cluster.kubectl("describe", "pod", "ordered")
    assert "Init Containers:" in described and "Reason:       Completed" in described
    cluster.kubectl("delete", "pod", "ordered", "--timeout=30s")


def test_a_failing_init_container_fails_a_never_restarting_pod(cluster: Cluster) -> None:
    inits = [
        {"name": "ok", "image": "busybox", "command": ["sh", "-c", "echo fine"]},
        {"name": "bad", "image": "busybox", "command": ["sh", "-c", "echo no; exit 4"]},
        {"name": "never", "image": "busybox", "command": ["sh", "-c", "echo unreached"]},
    ]
    cluster.kubectl(
        "apply",
        "-f",
        "-",
        input=_pod("failing", restartPolicy="Never", initContainers=inits, containers=[APP]),
    )
    until(lambda: cluster.pod("failing")["status"].get("phase") == "Failed", "pod Failed")
    status = cluster.pod("failing")["status"]
    states = [s["state"] for s in status["initContainerStatuses"]]
    assert states[0]["terminated"]["exitCode"] == 0
    assert states[1]["terminated"]["exitCode"] == 4
    assert states[2] == {"waiting": {"reason": "PodInitializing"}}
    assert status["containerStatuses"][0]["state"] == {"waiting": {"reason": "PodInitializing"}}
    assert cluster.status_cell("failing") == "Init:Error"
    cluster.kubectl("delete", "pod", "failing", "--timeout=30s")


def test_volumes_stowage_cannot_serve_are_refused(cluster: Cluster) -> None:
    body = _pod(
        "claims", containers=[APP], volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "c"}}]
    )
    out = cluster.k8s.kubectl("apply", "-f", "-", input=body, check=False)
    assert out.returncode != 0
    assert "persistentVolumeClaim volumes are not supported by this stowage release" in out.stderr
