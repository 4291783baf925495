"""Simulated hosts against the real control plane: registration, placement, lifecycle, and no
over-commit under a burst of concurrent RunTask calls."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.simulate.helpers import (
    HOST_CPU,
    HOSTS,
    ZONES,
    Sim,
    describe,
    instances,
    resources,
    wait_status,
)

TASK_CPU, TASK_MEMORY = 256, 512  # four per host by CPU


def register(sim: Sim, family: str, **container: Any) -> str:
    definition = {
        "name": "app",
        "image": "example/app:1",
        "cpu": TASK_CPU,
        "memory": TASK_MEMORY,
        "essential": True,
        **container,
    }
    td = sim.ecs.register_task_definition(family=family, containerDefinitions=[definition])
    return str(td["taskDefinition"]["taskDefinitionArn"])


def run(sim: Sim, td: str, count: int, **kwargs: Any) -> dict[str, Any]:
    return dict(sim.ecs.run_task(cluster=sim.cluster, taskDefinition=td, count=count, **kwargs))


def zone_of(sim: Sim) -> dict[str, str]:
    """instance ARN -> availability zone"""
    out = {}
    for inst in instances(sim):
        attrs = {a["name"]: a.get("value") for a in inst["attributes"]}
        out[inst["containerInstanceArn"]] = str(attrs["ecs.availability-zone"])
    return out


def test_hosts_register_connected_round_robin_over_zones(sim: Sim) -> None:
    assert f"{HOSTS}/{HOSTS} hosts registered, {HOSTS} connected" in sim.summary
    found = instances(sim)
    assert len(found) == HOSTS
    assert all(i["agentConnected"] and i["status"] == "ACTIVE" for i in found)
    assert all(resources(i, "registeredResources") == {"CPU": HOST_CPU, "MEMORY": 2048} for i in found)
    zones = Counter(zone_of(sim).values())
    assert zones == {f"us-east-1{z}": HOSTS // ZONES for z in "abc"}
    attrs = {a["name"]: a.get("value") for a in found[0]["attributes"]}
    assert attrs["tier"] == "sim"


def test_tasks_run_and_stop_through_the_fake_runtime(clean: Sim) -> None:
    sim = clean
    td = register(sim, "sim-life")
    tasks = run(sim, td, 3)["tasks"]
    arns = [t["taskArn"] for t in tasks]
    running = wait_status(sim, arns, "RUNNING")
    assert all(t["containers"][0]["lastStatus"] == "RUNNING" for t in running)
    sim.ecs.stop_task(cluster=sim.cluster, task=arns[0], reason="done")
    (stopped,) = wait_status(sim, arns[:1], "STOPPED")
    assert stopped["stopCode"] == "UserInitiated"
    # A command the fake understands: the container exits at once with its code.
    quick = register(sim, "sim-exit", command=["sh", "-c", "echo bye; exit 3"])
    (task,) = run(sim, quick, 1)["tasks"]
    (done,) = wait_status(sim, [task["taskArn"]], "STOPPED")
    assert done["containers"][0]["exitCode"] == 3
    assert done["stopCode"] == "EssentialContainerExited"


def test_binpack_uses_the_fewest_instances(clean: Sim) -> None:
    sim = clean
    td = register(sim, "sim-binpack")
    answer = run(sim, td, 8, placementStrategy=[{"type": "binpack", "field": "cpu"}])
    assert answer["failures"] == []
    used = Counter(t["containerInstanceArn"] for t in answer["tasks"])
    assert sorted(used.values()) == [4, 4]  # 8 tasks of 256 CPU on 1024-CPU hosts: two hosts, full


def test_spread_balances_zones_within_one_call(clean: Sim) -> None:
    sim = clean
    td = register(sim, "sim-spread")
    zones = zone_of(sim)
    answer = run(
        sim,
        td,
        9,
        placementStrategy=[
            {"type": "spread", "field": "attribute:ecs.availability-zone"},
            {"type": "spread", "field": "instanceId"},
        ],
    )
    assert answer["failures"] == []
    per_zone = Counter(zones[t["containerInstanceArn"]] for t in answer["tasks"])
    assert per_zone == {"us-east-1a": 3, "us-east-1b": 3, "us-east-1c": 3}
    assert len({t["containerInstanceArn"] for t in answer["tasks"]}) == 9


def test_distinct_instance_holds(clean: Sim) -> None:
    sim = clean
    td = register(sim, "sim-distinct")
    arns: list[str] = []
    for _ in range(3):  # 30 tasks, each call and all together on distinct hosts
        answer = run(
            sim,
            td,
            10,
            group="distinct",
            placementConstraints=[{"type": "distinctInstance"}],
            placementStrategy=[{"type": "binpack", "field": "cpu"}],  # binpack would stack them
        )
        assert answer["failures"] == []
        arns.extend(t["taskArn"] for t in answer["tasks"])
    hosts = [t["containerInstanceArn"] for t in describe(sim, arns)]
    # distinctInstance: no two tasks of this one call on the same instance
    for i in range(0, 30, 10):
        assert len(set(hosts[i : i + 10])) == 10


def test_member_of_filters_instances(clean: Sim) -> None:
    sim = clean
    td = register(sim, "sim-member")
    zones = zone_of(sim)
    answer = run(
        sim,
        td,
        10,
        placementConstraints=[
            {"type": "memberOf", "expression": "attribute:ecs.availability-zone == us-east-1b"}
        ],
    )
    assert answer["failures"] == []
    assert {zones[t["containerInstanceArn"]] for t in answer["tasks"]} == {"us-east-1b"}
    none = run(
        sim,
        td,
        1,
        placementConstraints=[{"type": "memberOf", "expression": "attribute:tier == prod"}],
    )
    assert none["tasks"] == []
    assert none["failures"][0]["reason"] == "MemberOf placement constraint unsatisfied."


def test_a_burst_of_concurrent_run_tasks_never_over_commits(clean: Sim) -> None:
    sim = clean
    td = register(sim, "sim-burst")
    capacity = HOSTS * (HOST_CPU // TASK_CPU)  # 180 copies fit
    calls = 24  # 240 copies asked: more than fit

    def one(_: int) -> dict[str, Any]:
        client = sim.server.boto3_client("ecs")
        return dict(client.run_task(cluster=sim.cluster, taskDefinition=td, count=10))

    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(one, range(calls)))
    arns = [t["taskArn"] for a in answers for t in a["tasks"]]
    assert 0 < len(arns) <= capacity
    reasons = {f["reason"] for a in answers for f in a["failures"]}
    assert reasons <= {"RESOURCE:CPU", "RESOURCE:MEMORY"}
    tasks = wait_status(sim, arns, "RUNNING", timeout=60)
    on: Counter[str] = Counter(t["containerInstanceArn"] for t in tasks)
    for inst in instances(sim):
        registered = resources(inst, "registeredResources")
        remaining = resources(inst, "remainingResources")
        n = on[inst["containerInstanceArn"]]
        assert remaining["CPU"] >= 0 and remaining["MEMORY"] >= 0
        assert registered["CPU"] - remaining["CPU"] == n * TASK_CPU
        assert registered["MEMORY"] - remaining["MEMORY"] == n * TASK_MEMORY
        assert inst["runningTasksCount"] == n
