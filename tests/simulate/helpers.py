"""Helpers for the simulated-host tests: a real server subprocess and ``stowage simulate``."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.server import ServerProcess, start_server
from tests.support.simulator import read_summary
from tests.support.simulator import start_simulator as start_fleet

HOSTS = 45
ZONES = 3
HOST_CPU, HOST_MEMORY = 1024, 2048
CLUSTER = "sim"


@dataclass
class Sim:
    server: ServerProcess
    ecs: Any
    cluster: str
    proc: subprocess.Popen[str]
    summary: str


def start_simulator(
    server: ServerProcess, state_dir: str, hosts: int, *extra: str, cluster: str = CLUSTER
) -> subprocess.Popen[str]:
    return start_fleet(
        server, cluster, hosts, state_dir,
        "--cpu", str(HOST_CPU), "--memory", str(HOST_MEMORY), "--zones", str(ZONES),
        "--poll-wait", "5", "--stats-interval", "2", *extra,
    )  # fmt: skip


@pytest.fixture(scope="package")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    server = start_server(tmp_path_factory.mktemp("sim-server"))
    proc = start_simulator(
        server, str(tmp_path_factory.mktemp("sim-hosts")), HOSTS, "--attributes", "tier=sim"
    )
    try:
        summary = read_summary(proc)
        yield Sim(server, server.boto3_client("ecs"), CLUSTER, proc, summary)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        server.stop()


def resources(instance: dict[str, Any], which: str) -> dict[str, int]:
    return {r["name"]: r.get("integerValue", 0) for r in instance[which] if r["name"] in ("CPU", "MEMORY")}


def instances(sim: Sim) -> list[dict[str, Any]]:
    arns: list[str] = []
    for page in sim.ecs.get_paginator("list_container_instances").paginate(cluster=sim.cluster):
        arns.extend(page["containerInstanceArns"])
    out: list[dict[str, Any]] = []
    for i in range(0, len(arns), 100):
        out.extend(
            sim.ecs.describe_container_instances(cluster=sim.cluster, containerInstances=arns[i : i + 100])[
                "containerInstances"
            ]
        )
    return out


def describe(sim: Sim, arns: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(0, len(arns), 100):
        out.extend(sim.ecs.describe_tasks(cluster=sim.cluster, tasks=arns[i : i + 100])["tasks"])
    return out


def wait_status(sim: Sim, arns: list[str], status: str, timeout: float = 30) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        tasks = describe(sim, arns)
        if all(t["lastStatus"] == status for t in tasks) and len(tasks) == len(arns):
            return tasks
        if time.monotonic() > deadline:
            late = {t["taskArn"]: t["lastStatus"] for t in tasks if t["lastStatus"] != status}
            raise AssertionError(f"not {status} within {timeout}s: {late}")
        time.sleep(0.1)


def stop_all(sim: Sim) -> None:
    """Stop every task and wait until every instance has all its resources back."""
    arns: list[str] = []
    for page in sim.ecs.get_paginator("list_tasks").paginate(cluster=sim.cluster, desiredStatus="RUNNING"):
        arns.extend(page["taskArns"])
    for arn in arns:
        sim.ecs.stop_task(cluster=sim.cluster, task=arn, reason="test cleanup")
    if arns:
        wait_status(sim, arns, "STOPPED")
    deadline = time.monotonic() + 30
    while any(
        resources(i, "remainingResources") != resources(i, "registeredResources") for i in instances(sim)
    ):
        assert time.monotonic() < deadline, "resources not released after every task stopped"
        time.sleep(0.1)


@pytest.fixture()
def clean(sim: Sim) -> Iterator[Sim]:
    """The simulated cluster with no task running, before and after the test."""
    stop_all(sim)
    yield sim
    stop_all(sim)
