"""Services on simulated hosts (real agents over the simulated engine, in ``stowage simulate``
subprocesses) against a real server started with a short ``--agent-timeout``: a DAEMON service
follows 50 hosts joining and draining; a host whose agent stops has its service tasks replaced
elsewhere, and when the agent comes back it stops the old ones."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.simulate.helpers import read_summary, start_simulator
from tests.support.server import ServerProcess, start_server

AGENT_TIMEOUT = 3  # seconds: the server is told so, to see disconnections quickly
T = TypeVar("T")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = start_server(tmp_path_factory.mktemp("svc-sim"), ["--agent-timeout", str(AGENT_TIMEOUT)])
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture()
def fleets() -> Iterator[list[subprocess.Popen[str]]]:
    """Simulator processes a test starts; each is resumed (if paused) and stopped afterwards."""
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGCONT)
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()


def until(check: Callable[[], T | None], within: float = 30.0, what: str = "condition") -> T:
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def simulate(
    server: ServerProcess, procs: list[subprocess.Popen[str]], state: Path, hosts: int, cluster: str
) -> None:
    proc = start_simulator(server, str(state), hosts, cluster=cluster)
    procs.append(proc)
    assert f"{hosts}/{hosts} hosts registered, {hosts} connected" in read_summary(proc)


def task_def(ecs: Any, family: str) -> str:
    container = {"name": "app", "image": "example/app:1", "cpu": 64, "memory": 128, "essential": True}
    td = ecs.register_task_definition(family=family, containerDefinitions=[container])
    return str(td["taskDefinition"]["taskDefinitionArn"])


def service(ecs: Any, cluster: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = ecs.describe_services(cluster=cluster, services=[name])["services"][0]
    return found


def steady(ecs: Any, cluster: str, name: str, count: int) -> dict[str, Any] | None:
    """The services_stable waiter's condition, at ``count`` tasks."""
    s = service(ecs, cluster, name)
    ok = len(s["deployments"]) == 1 and s["runningCount"] == s["desiredCount"] == count
    return s if ok else None


def tasks(ecs: Any, cluster: str, name: str, desired: str = "RUNNING") -> list[dict[str, Any]]:
    arns: list[str] = []
    pages = ecs.get_paginator("list_tasks").paginate(cluster=cluster, serviceName=name, desiredStatus=desired)
    for page in pages:
        arns.extend(page["taskArns"])
    out: list[dict[str, Any]] = []
    for i in range(0, len(arns), 100):
        out.extend(ecs.describe_tasks(cluster=cluster, tasks=arns[i : i + 100])["tasks"])
    return out


def instance_arns(ecs: Any, cluster: str) -> list[str]:
    arns: list[str] = []
    for page in ecs.get_paginator("list_container_instances").paginate(cluster=cluster):
        arns.extend(page["containerInstanceArns"])
    return sorted(arns)


def one_each(ecs: Any, cluster: str, name: str, expected: set[str]) -> bool:
    """Exactly one RUNNING task of the service on each of ``expected``, and none elsewhere."""
    running = [t for t in tasks(ecs, cluster, name) if t["lastStatus"] == "RUNNING"]
    per = Counter(t["containerInstanceArn"] for t in running)
    return set(per) == expected and set(per.values()) == {1}


def test_daemon_follows_fifty_hosts_joining_and_draining(
    server: ServerProcess, fleets: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    ecs = server.boto3_client("ecs")
    cluster, name = "daemon-sim", "agentd"
    ecs.create_cluster(clusterName=cluster)
    td = task_def(ecs, "daemon-sim")
    ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=td, schedulingStrategy="DAEMON")
    until(lambda: steady(ecs, cluster, name, 0), what="an empty daemon to be stable")

    simulate(server, fleets, tmp_path / "a", 50, cluster)
    hosts = instance_arns(ecs, cluster)
    assert len(hosts) == 50
    until(lambda: steady(ecs, cluster, name, 50), what="one daemon task on each of 50 hosts")
    assert one_each(ecs, cluster, name, set(hosts))

    # Draining 10 hosts stops their daemon tasks; the others keep theirs.
    drained, kept = hosts[:10], hosts[10:]
    before = {t["containerInstanceArn"]: t["taskArn"] for t in tasks(ecs, cluster, name)}
    ecs.update_container_instances_state(cluster=cluster, containerInstances=drained, status="DRAINING")
    until(lambda: steady(ecs, cluster, name, 40) and one_each(ecs, cluster, name, set(kept)), what="40")
    stopped = ecs.describe_tasks(cluster=cluster, tasks=[before[h] for h in drained])["tasks"]
    assert {t["lastStatus"] for t in stopped} == {"STOPPED"}
    assert {t["stopCode"] for t in stopped} == {"ServiceSchedulerInitiated"}
    assert {t["containerInstanceArn"]: t["taskArn"] for t in tasks(ecs, cluster, name)} == {
        h: before[h] for h in kept
    }  # the kept hosts' tasks were not touched

    # New hosts join: each gets one.
    simulate(server, fleets, tmp_path / "b", 5, cluster)
    joined = set(instance_arns(ecs, cluster)) - set(hosts)
    assert len(joined) == 5
    until(
        lambda: steady(ecs, cluster, name, 45) and one_each(ecs, cluster, name, set(kept) | joined), what="45"
    )

    # The drained hosts come back to ACTIVE: one task each again.
    ecs.update_container_instances_state(cluster=cluster, containerInstances=drained, status="ACTIVE")
    until(
        lambda: steady(ecs, cluster, name, 55) and one_each(ecs, cluster, name, set(hosts) | joined),
        what="55",
    )
    s = service(ecs, cluster, name)
    assert s["events"][0]["message"] == f"(service {name}) has reached a steady state."


def test_stopped_agent_tasks_are_replaced_and_stopped_when_it_returns(
    server: ServerProcess, fleets: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    ecs = server.boto3_client("ecs")
    cluster, name = "agent-stop", "web"
    ecs.create_cluster(clusterName=cluster)
    simulate(server, fleets, tmp_path / "victim", 1, cluster)
    (victim,) = instance_arns(ecs, cluster)
    victim_proc = fleets[0]
    simulate(server, fleets, tmp_path / "others", 4, cluster)
    others = set(instance_arns(ecs, cluster)) - {victim}
    td = task_def(ecs, "agent-stop")
    ecs.create_service(
        cluster=cluster, serviceName=name, taskDefinition=td, desiredCount=5,
        placementStrategy=[{"type": "spread", "field": "instanceId"}],
    )  # fmt: skip
    until(lambda: steady(ecs, cluster, name, 5), what="5 running")
    assert one_each(ecs, cluster, name, others | {victim})
    (old,) = [t["taskArn"] for t in tasks(ecs, cluster, name) if t["containerInstanceArn"] == victim]

    # The victim's agent stops (its process is paused: no heartbeat, its containers stay).
    victim_proc.send_signal(signal.SIGSTOP)

    def disconnected() -> bool:
        (inst,) = ecs.describe_container_instances(cluster=cluster, containerInstances=[victim])[
            "containerInstances"
        ]
        return not inst["agentConnected"]

    until(disconnected, what="the silent agent to show disconnected")

    def replaced() -> dict[str, Any] | None:
        live = tasks(ecs, cluster, name)
        elsewhere = [t for t in live if t["containerInstanceArn"] in others and t["lastStatus"] == "RUNNING"]
        return steady(ecs, cluster, name, 5) if len(elsewhere) == 5 and old not in {
            t["taskArn"] for t in live} else None  # fmt: skip

    until(replaced, what="the lost task to be replaced on the other hosts")
    (lost,) = ecs.describe_tasks(cluster=cluster, tasks=[old])["tasks"]
    assert lost["desiredStatus"] == "STOPPED"
    assert lost["lastStatus"] == "RUNNING"  # nobody has stopped it yet: its agent is away

    # The agent comes back: it reconnects and stops the old task; the service keeps 5.
    victim_proc.send_signal(signal.SIGCONT)

    def old_stopped() -> dict[str, Any] | None:
        (t,) = ecs.describe_tasks(cluster=cluster, tasks=[old])["tasks"]
        return t if t["lastStatus"] == "STOPPED" else None

    stopped = until(old_stopped, what="the returning agent to stop its old task")
    assert stopped["stopCode"] == "ServiceSchedulerInitiated"
    (inst,) = ecs.describe_container_instances(cluster=cluster, containerInstances=[victim])[
        "containerInstances"
    ]
    assert inst["agentConnected"]
    s = until(lambda: steady(ecs, cluster, name, 5), what="5 running after the agent returned")
    assert s["runningCount"] == 5
    running = tasks(ecs, cluster, name)
    assert len(running) == 5 and all(t["containerInstanceArn"] in others for t in running)
