"""Usage metrics for real: containers on Docker that hold a known amount of memory or spin a
CPU, measured by the real agent, shown by the query function, ``GET /metrics``,
``stowage top --once`` and ``kubectl top pod``, and still there after a control-plane restart.

The control plane runs in this process (``InProcessControlPlane``) so the test can call the
query function that the CloudWatch API will call; the agent is a real ``stowage agent``
subprocess and kubectl is the machine's. Memory is held in the container's /dev/shm (tmpfs:
charged to the container's memory cgroup as long as the file exists); CPU is a shell loop under
a task-level cpu of 256 units, which the agent enforces as a quarter of a core."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import pytest

from stowage.controllers.metrics_query import MetricQuery
from tests.e2e.stack import Stack
from tests.k8s.conftest import K8sServer
from tests.support.images import TEST_IMAGE
from tests.support.inproc_control_plane import InProcessControlPlane
from tests.support.server import ACCESS_KEY_ID, ACCOUNT_ID, REGION, SECRET_ACCESS_KEY, free_port

pytestmark = pytest.mark.docker

MIB = 1024 * 1024
HELD_MIB = 48
TOLERANCE = 0.05
"""Measured memory may exceed what the test holds by the shell and sleep (well under a MiB)."""


@dataclass
class Plane:
    """An in-process control plane with what ``Stack`` and ``K8sServer`` expect of a server."""

    data_dir: Path
    port: int
    k8s_port: int
    cluster: str
    inproc: InProcessControlPlane | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        cp = InProcessControlPlane(self.data_dir, k8s_port=self.k8s_port, k8s_cluster=self.cluster)
        cp.port = cp.config.port = self.port  # the same address across restarts
        self.inproc = cp.start()

    def stop(self) -> None:
        if self.inproc is not None:
            self.inproc.stop()
            self.inproc = None

    def kill9(self) -> None:  # what Stack.close calls: a graceful stop is as quick in-process
        self.stop()

    def boto3_client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
            config=botocore.config.Config(retries={"max_attempts": 1}),
        )

    def query(self, metric: str, task_id: str, stat: str, since: float, period: int = 10) -> list[float]:
        assert self.inproc is not None and self.inproc.app.metrics is not None
        q = MetricQuery(
            ACCOUNT_ID,
            REGION,
            "ECS/ContainerInsights",
            metric,
            {"ClusterName": self.cluster, "TaskId": task_id},
            since,
            # a window that starts ahead of now (points yet to come) still ends after it starts
            max(time.time(), since) + 1,
            period,
            stat,
        )
        return list(self.inproc.call(self.inproc.app.metrics.query(q)).values)


@pytest.fixture()
def env(e2e_images: None, tmp_path: Path) -> Iterator[tuple[Stack, Plane]]:
    stack = Stack(tmp_path)
    plane = Plane(tmp_path / "server", free_port(), free_port(), stack.cluster)
    try:
        plane.start()
        stack.server = plane  # type: ignore[assignment]
        stack.ecs = plane.boto3_client("ecs")
        stack.logs = plane.boto3_client("logs")
        stack.ecs.create_cluster(clusterName=stack.cluster)
        stack.start_agent("a")
        yield stack, plane
    finally:
        stack.close()


def task_id(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def metrics_text(plane: Plane) -> str:
    with urllib.request.urlopen(f"{plane.endpoint}/metrics", timeout=10) as resp:
        assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
        return str(resp.read().decode())


def sample(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def close_to(value: float | None, want: float, tolerance: float = TOLERANCE) -> bool:
    return value is not None and abs(value - want) <= tolerance * want


def top(plane: Plane, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.run(
        [sys.executable, "-m", "stowage.cli.main", "top", "--once", "--data-dir", str(plane.data_dir), *args],
        capture_output=True, text=True, env=environ, timeout=60,
    )  # fmt: skip


def test_memory_and_cpu_show_everywhere_and_survive_a_restart(env: tuple[Stack, Plane]) -> None:
    stack, plane = env
    started = time.time()
    hold = f"dd if=/dev/zero of=/dev/shm/fill bs=1M count={HELD_MIB} 2>/dev/null && exec sleep 3600"
    mem_td = stack.register(
        "metrics-mem", {"name": "hold", "image": TEST_IMAGE, "command": ["sh", "-c", hold], "memory": 256}
    )
    spin_td = stack.register(
        "metrics-spin",
        {"name": "spin", "image": TEST_IMAGE, "command": ["sh", "-c", "while :; do :; done"], "memory": 64},
        cpu="256",
    )
    mem_arn, spin_arn = stack.run_task(mem_td), stack.run_task(spin_td)
    stack.wait_status(mem_arn, "RUNNING")
    stack.wait_status(spin_arn, "RUNNING")
    mem_id, spin_id = task_id(mem_arn), task_id(spin_arn)

    # the query function (what GetMetricData will call): the newest 10-second points
    held = stack.until(
        lambda: (
            (v := plane.query("MemoryUtilized", mem_id, "Average", started))
            and close_to(v[-1], HELD_MIB)
            and v
        ),
        "the held memory in the query function",
    )
    assert close_to(held[-1], HELD_MIB), held
    # the same through the CloudWatch API (real boto3): GetMetricData on the task's memory
    answer = plane.boto3_client("cloudwatch").get_metric_data(
        MetricDataQueries=[
            {
                "Id": "mem",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "ECS/ContainerInsights",
                        "MetricName": "MemoryUtilized",
                        "Dimensions": [
                            {"Name": "ClusterName", "Value": stack.cluster},
                            {"Name": "TaskId", "Value": mem_id},
                        ],
                    },
                    "Period": 10,
                    "Stat": "Average",
                },
            }
        ],
        StartTime=started,
        EndTime=time.time() + 1,
    )
    newest = answer["MetricDataResults"][0]["Values"][0]  # newest first
    assert close_to(newest, HELD_MIB), answer["MetricDataResults"]
    time.sleep(6)  # a few seconds of spinning under the quota
    spin = plane.query("CpuUtilized", spin_id, "Average", time.time() - 5, period=1)
    assert spin and all(180 <= v <= 280 for v in spin[-3:]), spin  # 256 units = a quarter core
    assert plane.query("CpuReserved", spin_id, "Maximum", started)[-1] == 256

    # Prometheus
    text = metrics_text(plane)
    mem_bytes = sample(text, "stowage_container_memory_usage_bytes", task=mem_id, container="hold")
    assert close_to(mem_bytes, HELD_MIB * MIB), mem_bytes
    cores = sample(text, "stowage_container_cpu_usage_cores", task=spin_id)
    assert cores is not None and 0.18 <= cores <= 0.28, cores
    assert sample(text, "stowage_task_cpu_reserved_units", task=spin_id) == 256
    assert (
        'stowage_api_request_duration_seconds_bucket{service="stowage-agent",operation="ReportStats"' in text
    )

    # stowage top --once: the held memory in the task's row, the spinning task's CPU near 100%
    shown = top(plane, "--cluster", stack.cluster, "--sort", "memory")
    assert shown.returncode == 0, shown.stderr
    row = next(line for line in shown.stdout.splitlines() if mem_id in line)
    assert re.search(r"\b4[789]\.\dMiB\b", row), row
    answer = json.loads(top(plane, "--cluster", stack.cluster, "--output", "json").stdout)
    rows = {task_id(r["taskArn"]): r for r in answer["rows"]}
    assert close_to(rows[mem_id]["memoryUsedBytes"], HELD_MIB * MIB)
    assert 70 <= rows[spin_id]["cpuUtilization"] <= 110, rows[spin_id]
    hosts = top(plane, "--hosts", "--cluster", stack.cluster)
    assert hosts.returncode == 0 and "i-" in hosts.stdout

    # the points survive a control-plane restart (and the agent carries on reporting)
    before = plane.query("MemoryUtilized", mem_id, "Average", started)
    restarted = time.time()
    plane.stop()
    plane.start()
    after = plane.query("MemoryUtilized", mem_id, "Average", started)
    assert len(after) >= len(before) and after[: len(before)] == before
    stack.until(
        lambda: plane.query("MemoryUtilized", mem_id, "Average", restarted + 2),
        "new points after the restart",
    )


POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "holder", "labels": {"app": "holder"}},
    "spec": {
        "terminationGracePeriodSeconds": 2,
        "containers": [
            {
                "name": "main",
                "image": TEST_IMAGE,
                "command": ["sh", "-c"],
                "args": [
                    f"dd if=/dev/zero of=/dev/shm/fill bs=1M count={HELD_MIB} 2>/dev/null && exec sleep 3600"
                ],
                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
            }
        ],
    },
}


def test_kubectl_top_pod_shows_the_held_memory(env: tuple[Stack, Plane]) -> None:
    stack, plane = env
    k8s = K8sServer(plane, plane.k8s_port)  # type: ignore[arg-type]
    k8s.kubectl("apply", "-f", "-", input=json.dumps(POD))

    def shown() -> str | None:
        out = k8s.kubectl("top", "pod", "holder", "--containers", check=False)
        if out.returncode != 0:
            return None
        m = re.search(r"holder\s+main\s+\S+\s+(\d+)Mi", out.stdout)
        return out.stdout if m and abs(int(m[1]) - HELD_MIB) <= HELD_MIB * TOLERANCE else None

    stack.until(shown, "kubectl top pod holder showing the held memory", within=90)
    nodes = k8s.kubectl("top", "nodes")
    assert re.search(r"\bi-\S+\s+\d+m\s+\d+%\s+\d+Mi\s+\d+%", nodes.stdout), nodes.stdout
    missing = k8s.kubectl("top", "pod", "nobody", check=False)
    assert missing.returncode != 0 and "not found" in missing.stderr
    k8s.kubectl("delete", "pod", "holder", "--wait=true")
