"""The pure scheduler through the harness: every strategy and their combinations, constraints,
ECS's failure reasons, determinism under a seeded random source, and big batches."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace

from stowage.model import placement as pm
from stowage.scheduler import planner
from stowage.scheduler.snapshot import Snapshot
from tests.scheduler.harness import host, per_instance, per_value, reasons, request, run

AZ = "ecs.availability-zone"
BINPACK_CPU = [{"type": "binpack", "field": "cpu"}]
BINPACK_MEMORY = [{"type": "binpack", "field": "memory"}]
SPREAD_AZ = [{"type": "spread", "field": f"attribute:{AZ}"}]
SPREAD_INSTANCE = [{"type": "spread", "field": "instanceId"}]


# -- strategies ------------------------------------------------------------------------------
def test_binpack_cpu_picks_the_least_free_cpu_that_fits() -> None:
    hosts = [host("a", cpu=4096), host("b", cpu=1000), host("c", cpu=300), host("d", cpu=200)]
    plan = run(hosts, request(256, 64, strategy=BINPACK_CPU), 1)
    assert per_instance(plan) == {"c": 1}  # d has too little, c is the tightest fit
    plan = run(hosts, request(256, 64, strategy=BINPACK_CPU), 5)
    # c takes one, then b (least free among those left) until it is full, then a
    assert per_instance(plan) == {"c": 1, "b": 3, "a": 1}


def test_binpack_memory_packs_hosts_one_after_another() -> None:
    hosts = [host(f"h{i}", memory=2048) for i in range(4)]
    plan = run(hosts, request(10, 512, strategy=BINPACK_MEMORY), 8)
    assert sorted(per_instance(plan).values()) == [4, 4]


def test_spread_across_zones_balances_the_copies_of_one_call() -> None:
    hosts = [host(f"{z}{i}", zone=z) for z in "abc" for i in range(3)]
    plan = run(hosts, request(strategy=SPREAD_AZ), 6)
    assert per_value(plan, hosts, AZ) == {"a": 2, "b": 2, "c": 2}


def test_spread_counts_the_tasks_already_in_the_group() -> None:
    hosts = [
        host("a0", zone="a", groups={"family:web": 2}),
        host("b0", zone="b"),
        host("c0", zone="c", groups={"family:other": 5}),
    ]
    plan = run(hosts, request(strategy=SPREAD_AZ), 4)
    assert per_value(plan, hosts, AZ) == {"b": 2, "c": 2}
    plan = run(hosts, request(strategy=SPREAD_AZ), 7)
    assert per_value(plan, hosts, AZ) == {"a": 1, "b": 3, "c": 3}


def test_spread_on_a_custom_attribute_and_on_missing_values() -> None:
    hosts = [host("x", attrs={"rack": "r1"}), host("y", attrs={"rack": "r2"}), host("z")]
    plan = run(hosts, request(strategy=[{"type": "spread", "field": "attribute:rack"}]), 3)
    assert per_instance(plan) == {"x": 1, "y": 1, "z": 1}  # "no rack" is a value of its own


def test_spread_instance_id_and_host_balance_per_instance() -> None:
    hosts = [host("a", groups={"family:web": 2}), host("b"), host("c", groups={"family:web": 1})]
    for field in ("instanceId", "host"):
        plan = run(hosts, request(strategy=[{"type": "spread", "field": field}]), 3)
        assert per_instance(plan) == {"b": 2, "c": 1}


def test_zone_spread_then_binpack_picks_the_tightest_host_in_each_zone() -> None:
    hosts = [
        host("a-big", zone="a", memory=8192),
        host("a-small", zone="a", memory=1024),
        host("b-big", zone="b", memory=8192),
        host("b-small", zone="b", memory=2048),
    ]
    plan = run(hosts, request(10, 512, strategy=SPREAD_AZ + BINPACK_MEMORY), 4)
    assert per_instance(plan) == {"a-small": 2, "b-small": 2}


def test_binpack_first_then_spread_breaks_ties_across_zones() -> None:
    hosts = [host(f"{z}{i}", zone=z, cpu=1024) for z in "ab" for i in range(3)]
    plan = run(hosts, request(1024, 64, strategy=BINPACK_CPU + SPREAD_AZ), 4)
    assert per_value(plan, hosts, AZ) == {"a": 2, "b": 2}  # every host ties on cpu: zones decide


def test_service_default_spreads_zones_then_instances() -> None:
    hosts = [host(f"{z}{i}", zone=z) for z in "ab" for i in range(2)]
    plan = run(hosts, request(strategy=list(pm.SERVICE_DEFAULT_STRATEGY)), 4)
    assert set(per_instance(plan).values()) == {1}


def test_random_is_the_runtask_default_and_deterministic_under_a_seed() -> None:
    hosts = [host(f"h{i:02d}") for i in range(40)]
    first = run(hosts, request(), 10, seed=1)
    assert first.placements == run(hosts, request(strategy=[{"type": "random"}]), 10, seed=1).placements
    assert first.placements == run(hosts, request(), 10, seed=1).placements
    others = {run(hosts, request(), 10, seed=s).placements for s in range(2, 8)}
    assert len(others | {first.placements}) > 1
    assert len(set(first.placements)) > 1  # random does not pile everything on one host


def test_random_then_binpack_is_seeded_too() -> None:
    hosts = [host(f"h{i}", cpu=512 * (i + 1)) for i in range(8)]
    req = request(256, 64, strategy=[{"type": "random"}, *BINPACK_CPU])
    assert run(hosts, req, 5, seed=3) == run(hosts, req, 5, seed=3)


# -- constraints -----------------------------------------------------------------------------
def test_distinct_instance_one_copy_per_host_and_none_where_the_group_runs() -> None:
    hosts = [host("a"), host("b", groups={"family:web": 1}), host("c")]
    plan = run(hosts, request(constraints=[{"type": "distinctInstance"}]), 3)
    assert per_instance(plan) == {"a": 1, "c": 1}
    assert plan.unplaced == 1
    assert set(reasons(plan).values()) == {pm.DISTINCT_INSTANCE}


def test_member_of_filters_on_attributes() -> None:
    hosts = [host("a", attrs={"tier": "hot"}), host("b", attrs={"tier": "cold"}), host("c")]
    expr = [{"type": "memberOf", "expression": "attribute:tier == hot"}]
    plan = run(hosts, request(constraints=expr), 3)
    assert per_instance(plan) == {"a": 3}
    plan = run(hosts, request(4096, 64, constraints=expr), 2)
    assert per_instance(plan) == {"a": 1}
    assert reasons(plan) == {"a": pm.RESOURCE_CPU, "b": pm.MEMBER_OF, "c": pm.MEMBER_OF}


def test_member_of_on_task_group_changes_as_copies_land() -> None:
    hosts = [host("a", groups={"family:db": 1}), host("b"), host("c")]
    near_db = [{"type": "memberOf", "expression": "task:group == family:db"}]
    assert per_instance(run(hosts, request(constraints=near_db), 3)) == {"a": 3}
    alone = [{"type": "memberOf", "expression": "not task:group == family:web"}]
    plan = run(hosts, request(constraints=alone), 4)
    assert per_instance(plan) == {"a": 1, "b": 1, "c": 1} and plan.unplaced == 1


def test_member_of_on_identity_and_counts() -> None:
    hosts = [host("a", running=5), host("b", running=1)]
    assert set(per_instance(run(hosts, request(constraints=[
        {"type": "memberOf", "expression": "runningTasksCount < 3"}]), 2))) == {"b"}  # fmt: skip
    assert set(per_instance(run(hosts, request(constraints=[
        {"type": "memberOf", "expression": "ec2InstanceId in [i-a]"}]), 2))) == {"a"}  # fmt: skip


# -- failures --------------------------------------------------------------------------------
def test_failure_reasons_are_ecs_words_and_draining_hosts_are_not_candidates() -> None:
    hosts = [
        host("cpu", cpu=100),
        host("mem", memory=100),
        host("port", tcp=(22, 8080)),
        host("udp", udp=(53,)),
        host("gone", connected=False),
        host("drain", status="DRAINING"),
    ]
    plan = run(hosts, request(256, 512, tcp=[8080], udp=[53]), 1)
    assert plan.placed == 0 and plan.unplaced == 1
    assert reasons(plan) == {
        "cpu": pm.RESOURCE_CPU,
        "mem": pm.RESOURCE_MEMORY,
        "port": pm.RESOURCE_PORTS,
        "udp": pm.RESOURCE_PORTS_UDP,
        "gone": pm.AGENT,
    }


def test_fixed_host_ports_take_one_copy_per_host() -> None:
    hosts = [host("a"), host("b")]
    plan = run(hosts, request(tcp=[80]), 3)
    assert per_instance(plan) == {"a": 1, "b": 1}
    assert set(reasons(plan).values()) == {pm.RESOURCE_PORTS}
    assert {a.tcp for a in plan.assignments.values()} == {(80,)}


def test_required_attributes() -> None:
    capable = {"ecs.capability.task-eni": None, "com.amazonaws.ecs.capability.docker-remote-api.1.21": None}
    hosts = [
        host("full", attrs=capable),
        host("partial", attrs={"ecs.capability.task-eni": None}),
        host("bare"),  # advertises no capability at all: capabilities unknown, not filtered
        host("colour", attrs={**capable, "colour": "red"}),
    ]
    needs = [
        {"name": "ecs.capability.task-eni"},
        {"name": "com.amazonaws.ecs.capability.docker-remote-api.1.21"},
    ]
    plan = run(hosts, request(4096, 64, requires=needs), 4)
    assert set(per_instance(plan)) == {"full", "bare", "colour"}
    assert reasons(plan)["partial"] == pm.ATTRIBUTE
    plan = run(hosts, request(requires=[{"name": "colour", "value": "red"}]), 2)
    assert set(per_instance(plan)) == {"colour"}
    assert (
        reasons(run(hosts, request(requires=[{"name": "colour", "value": "blue"}]), 1))["bare"]
        == pm.ATTRIBUTE
    )


def test_awsvpc_subnets_keep_tasks_in_their_instances_location() -> None:
    hosts = [
        host("in-a", attrs={pm.SUBNET_ATTRIBUTE: "subnet-a"}),
        host("in-b", attrs={pm.SUBNET_ATTRIBUTE: "subnet-b"}),
        host("anywhere"),  # says nothing about its subnet: not filtered
    ]
    plan = run(hosts, replace(request(), subnets=("subnet-a",)), 2)
    assert set(per_instance(plan)) <= {"in-a", "anywhere"} and plan.placed == 2
    elsewhere = run(hosts[:2], replace(request(), subnets=("subnet-c",)), 1)
    assert elsewhere.placed == 0 and set(reasons(elsewhere).values()) == {pm.LOCATION}
    many = run(hosts, replace(request(), subnets=("subnet-a",)), 9)
    assert "in-b" not in per_instance(many)


def test_plan_assignments_carry_the_deltas() -> None:
    hosts = [host("a", cpu=1024)]
    plan = run(hosts, request(256, 100), 3)
    [a] = plan.assignments.values()
    assert (a.copies, a.cpu, a.memory, a.instance.key) == (3, 768, 300, hosts[0].key)
    after = Snapshot(hosts).apply(plan)
    inst = after.get(hosts[0].key)
    assert inst is not None and (inst.cpu, inst.memory, inst.groups) == (256, 8192 - 300, {"family:web": 3})


# -- big batches -----------------------------------------------------------------------------
def _cluster(n: int, zones: int = 3) -> Snapshot:
    return Snapshot(
        host(f"h{i:05d}", zone=f"z{i % zones}", cpu=1024, memory=4096, at=float(i)) for i in range(n)
    )


def test_big_binpack_batches_fill_hosts_exactly_and_never_over_commit() -> None:
    snap = _cluster(600)
    rng = random.Random(5)
    req = request(256, 1024, strategy=BINPACK_CPU)
    placed = 0
    for _ in range(250):
        plan = planner.plan(snap, req, 10, rng)
        placed += plan.placed
        snap = snap.apply(plan)
    assert placed == 2400  # 600 hosts x 4 copies: every slot found, none invented
    assert all(i.cpu == 0 and i.memory == 0 for i in snap.instances)
    last = planner.plan(snap, req, 10, rng)
    assert last.placed == 0 and len(last.failures) == 600
    assert {r for _, r in last.failures} == {pm.RESOURCE_CPU}


def test_big_binpack_opens_as_few_hosts_as_possible() -> None:
    snap = _cluster(2000)
    rng = random.Random(1)
    req = request(256, 64, strategy=BINPACK_CPU)
    for _ in range(20):
        snap = snap.apply(planner.plan(snap, req, 10, rng))
    assert sum(1 for i in snap.instances if i.cpu < 1024) == 50  # 200 copies / 4 per host


def test_big_spread_batches_stay_balanced_across_zones() -> None:
    snap = _cluster(3000)
    rng = random.Random(2)
    req = request(64, 64, strategy=SPREAD_AZ + SPREAD_INSTANCE, group="service:web")
    for batch in (500, 10, 10, 500, 7):
        plan = planner.plan(snap, req, batch, rng)
        assert plan.placed == batch
        snap = snap.apply(plan)
    counts = snap.value_counts("service:web", f"attribute:{AZ}")
    assert max(counts.values()) - min(counts.values()) <= 1
    assert sum(counts.values()) == 1027
    per_host = Counter(i.groups.get("service:web", 0) for i in snap.instances)
    assert max(per_host) <= 2  # spread on instances too, within each sample


def test_big_random_batches_with_a_narrow_member_of_find_every_slot() -> None:
    hosts = [
        host(f"h{i:05d}", cpu=1024, attrs={"tier": "hot" if i % 500 == 0 else "cold"}, at=float(i))
        for i in range(5000)
    ]
    snap = Snapshot(hosts)
    req = request(512, 64, constraints=[{"type": "memberOf", "expression": "attribute:tier == hot"}])
    plan = planner.plan(snap, req, 25, random.Random(3))
    assert plan.placed == 20 and plan.unplaced == 5  # 10 hot hosts x 2 copies
    assert {i.rsplit("/", 1)[1] for i in plan.placements} == {f"h{i:05d}" for i in range(0, 5000, 500)}
