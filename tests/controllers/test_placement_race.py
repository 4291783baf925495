"""The plan applier under races: many planners commit plans made on stale snapshots against one
store (memory store, the real applier, the real RunTask handler). Whatever the interleaving, no
instance is ever committed beyond what it registered, fixed host ports are never shared, and
each instance record's books match the tasks that hold it."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stowage.api.aws.errors import AwsError
from stowage.controllers.task_plane import TaskPlane
from stowage.model import container_instances as ci
from stowage.resources import ecs_keys
from stowage.resources.records import Records
from stowage.store.memory import MemoryStore
from tests.controllers.test_task_plane import ACCOUNT, REGION, Clock, Harness, scenario

STRATEGIES = [
    [],
    [{"type": "binpack", "field": "cpu"}],
    [{"type": "binpack", "field": "memory"}],
    [{"type": "spread", "field": "attribute:ecs.availability-zone"}, {"type": "spread", "field": "host"}],
    [{"type": "random"}],
]

host_st = st.tuples(st.sampled_from([512, 1024, 2048]), st.sampled_from([512, 1024, 4096]))
shape_st = st.tuples(
    st.sampled_from([128, 256, 512]),
    st.sampled_from([64, 256, 512]),
    st.booleans(),  # a fixed host port
    st.integers(0, len(STRATEGIES) - 1),
    st.booleans(),  # distinctInstance
)
call_st = st.tuples(st.integers(0, 2), st.integers(1, 10))  # (shape, count)


async def _setup(h: Harness, hosts: list[tuple[int, int]], shapes: list[Any]) -> list[str]:
    await h.call("CreateCluster", clusterName="c")
    for n, (cpu, memory) in enumerate(hosts):
        await h.call(
            "RegisterContainerInstance",
            cluster="c",
            totalResources=[
                {"name": "CPU", "type": "INTEGER", "integerValue": cpu},
                {"name": "MEMORY", "type": "INTEGER", "integerValue": memory},
                {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["22"]},
            ],
            attributes=[{"name": "ecs.availability-zone", "value": f"z{n % 2}"}],
        )
    families = []
    for n, (cpu, memory, port, _s, _d) in enumerate(shapes):
        container: dict[str, Any] = {"name": "app", "image": "x", "cpu": cpu, "memory": memory}
        if port:
            container["portMappings"] = [{"containerPort": 80, "hostPort": 8080}]
        await h.call("RegisterTaskDefinition", family=f"f{n}", containerDefinitions=[container])
        families.append(f"f{n}")
    return families


async def _check_books(plane: TaskPlane) -> int:
    records = plane.records
    instances, _ = await records.list(ecs_keys.container_instances(ACCOUNT, REGION, "c"))
    tasks, _ = await records.list(ecs_keys.tasks(ACCOUNT, REGION, "c"))
    by_instance: dict[str, list[dict[str, Any]]] = {}
    for t in tasks:
        by_instance.setdefault(t.doc["_instance"], []).append(t.doc)
    for rec in instances:
        doc = rec.doc
        held = by_instance.get(rec.key.rsplit("/", 1)[-1], [])
        registered, remaining = doc["registeredResources"], doc["remainingResources"]
        cpu = sum(t["_needs"]["cpu"] for t in held)
        memory = sum(t["_needs"]["memory"] for t in held)
        assert ci.resource_int(registered, ci.CPU) - cpu == ci.resource_int(remaining, ci.CPU) >= 0
        assert ci.resource_int(registered, ci.MEMORY) - memory == ci.resource_int(remaining, ci.MEMORY) >= 0
        ports = Counter(p for t in held for p in t["_needs"]["tcp"])
        assert all(n == 1 for n in ports.values()), ports
        assert doc["_activeTasks"] == len(held)
        groups = Counter(t["group"] for t in held)
        distinct_groups = {
            t["group"] for t in held if {"type": "distinctInstance"} in t.get("placementConstraints", [])
        }
        assert all(groups[g] == 1 for g in distinct_groups)
    return len(tasks)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    hosts=st.lists(host_st, min_size=1, max_size=5),
    shapes=st.lists(shape_st, min_size=3, max_size=3),
    calls=st.lists(call_st, min_size=2, max_size=12),
    seed=st.integers(0, 2**16),
)
def test_racing_planners_never_over_commit(
    hosts: list[tuple[int, int]], shapes: list[Any], calls: list[tuple[int, int]], seed: int
) -> None:
    async def main() -> None:
        clock = Clock()
        plane = TaskPlane(Records(MemoryStore()), clock=clock, rng=random.Random(seed))
        await plane.start()
        try:
            h = Harness(plane, clock)
            families = await _setup(h, hosts, shapes)

            async def one(shape: int, count: int) -> dict[str, Any]:
                _cpu, _mem, _port, strategy, distinct = shapes[shape]
                params: dict[str, Any] = {
                    "cluster": "c",
                    "taskDefinition": families[shape],
                    "count": count,
                    "placementStrategy": STRATEGIES[strategy],
                }
                if distinct:
                    params["placementConstraints"] = [{"type": "distinctInstance"}]
                return await h.call("RunTask", **params)

            answers = await asyncio.gather(*(one(s, c) for s, c in calls))
            placed = sum(len(a["tasks"]) for a in answers)
            for (_shape, count), answer in zip(calls, answers, strict=True):
                assert len(answer["tasks"]) <= count
                if len(answer["tasks"]) < count:
                    assert answer["failures"]  # an unplaced copy always says why
            assert await _check_books(plane) == placed
        finally:
            await plane.stop()

    asyncio.run(main())


def test_stale_snapshots_race_on_one_instance() -> None:
    """Twenty planners plan on the same snapshot (all of them see the whole instance free);
    the applier lets exactly as many copies through as fit and re-plans the rest."""

    async def main() -> None:
        clock = Clock()
        plane = TaskPlane(Records(MemoryStore()), clock=clock, rng=random.Random(1))
        await plane.start()
        try:
            h = Harness(plane, clock)
            [family] = await _setup(h, [(1024, 4096), (1024, 4096)], [(256, 64, False, 1, False)])
            refreshes = 0
            refresh = plane.placement._refresh

            async def counting(*args: Any) -> Any:
                nonlocal refreshes
                refreshes += 1
                return await refresh(*args)

            plane.placement._refresh = counting  # type: ignore[method-assign,assignment]
            answers = await asyncio.gather(
                *(h.call("RunTask", cluster="c", taskDefinition=family, count=2) for _ in range(20))
            )
            assert sum(len(a["tasks"]) for a in answers) == 8
            assert sum(1 for a in answers if a["failures"]) >= 16
            assert await _check_books(plane) == 8
            assert refreshes > 0  # the race really happened: plans lost compares and re-planned
        finally:
            await plane.stop()

    asyncio.run(main())


def test_endless_lost_races_answer_throttling_not_a_server_error() -> None:
    """Placement that loses every compare-and-swap (here: another writer bumps the instance
    record before each commit) gives up with AWS's ThrottlingException, which SDKs retry."""

    async def body(h: Harness) -> None:
        cluster, arn, family = await h.setup()
        key = ecs_keys.container_instance(ACCOUNT, REGION, cluster, arn.rsplit("/", 1)[-1])
        records = h.plane.records
        real_commit = records.commit

        async def racing_commit(compares: Any, writes: Any, extra: Any = (), **kwargs: Any) -> Any:
            if any(k == key for k, _ in writes):  # a rival writes the instance first
                rival = await records.get(key)
                assert rival is not None
                await records.store.put(key, orjson.dumps(rival.doc))
            return await real_commit(compares, writes, extra, **kwargs)

        records.commit = racing_commit  # type: ignore[method-assign]
        with pytest.raises(AwsError) as exc:
            await h.call("RunTask", cluster=cluster, taskDefinition=family)
        assert exc.value.code == "ThrottlingException" and exc.value.status == 400
        records.commit = real_commit  # type: ignore[method-assign]
        ran = await h.call("RunTask", cluster=cluster, taskDefinition=family)
        assert len(ran["tasks"]) == 1

    scenario(body)
