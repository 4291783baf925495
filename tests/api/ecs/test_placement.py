"""The scheduler through the real API (boto3 over HTTP, fake agents registering instances):
binpack packs, spread balances zones within one RunTask call, distinctInstance holds, memberOf
filters, strategies are validated, and a burst of concurrent RunTask calls over-commits nothing."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.api.ecs.task_support import code, make_cluster, register_instance, register_td

AZ = "ecs.availability-zone"
UNSATISFIED = "MemberOf placement constraint unsatisfied."


def _zoned(ecs: Any, cluster: str, zones: str = "abc", per_zone: int = 2, **kwargs: Any) -> dict[str, str]:
    """Register instances across zones; instance ARN -> zone."""
    out = {}
    for z in zones:
        for _ in range(per_zone):
            ci = register_instance(
                ecs, cluster, attributes=[{"name": AZ, "value": f"us-east-1{z}"}], **kwargs
            )
            out[ci["containerInstanceArn"]] = f"us-east-1{z}"
    return out


def _instances(ecs: Any, cluster: str) -> list[dict[str, Any]]:
    arns = ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]
    found: list[dict[str, Any]] = ecs.describe_container_instances(cluster=cluster, containerInstances=arns)[
        "containerInstances"
    ]
    return found


def _left(ci: dict[str, Any], name: str) -> int:
    return int(next(r["integerValue"] for r in ci["remainingResources"] if r["name"] == name))


def test_binpack_packs_one_instance_before_the_next(ecs: Any) -> None:
    cluster = make_cluster(ecs)
    for _ in range(4):
        register_instance(ecs, cluster, cpu=1024, memory=4096)
    td = register_td(ecs, containerDefinitions=[{"name": "a", "image": "x", "cpu": 256, "memory": 128}])
    strategy = [{"type": "binpack", "field": "cpu"}]
    first = ecs.run_task(cluster=cluster, taskDefinition=td["family"], count=3, placementStrategy=strategy)
    assert len({t["containerInstanceArn"] for t in first["tasks"]}) == 1
    second = ecs.run_task(cluster=cluster, taskDefinition=td["family"], count=3, placementStrategy=strategy)
    used = Counter(t["containerInstanceArn"] for t in first["tasks"] + second["tasks"])
    assert sorted(used.values()) == [2, 4]  # the first instance filled up, then one more
    assert sorted(_left(ci, "CPU") for ci in _instances(ecs, cluster)) == [0, 512, 1024, 1024]


def test_spread_balances_zones_within_one_run_task_call(ecs: Any) -> None:
    cluster = make_cluster(ecs)
    zones = _zoned(ecs, cluster)
    td = register_td(ecs)
    answer = ecs.run_task(
        cluster=cluster,
        taskDefinition=td["family"],
        count=6,
        placementStrategy=[{"type": "spread", "field": f"attribute:{AZ}"}],
    )
    assert answer["failures"] == []
    assert Counter(zones[t["containerInstanceArn"]] for t in answer["tasks"]) == {
        "us-east-1a": 2,
        "us-east-1b": 2,
        "us-east-1c": 2,
    }
    assert {t["availabilityZone"] for t in answer["tasks"]} == set(zones.values())
    # Another call in the same group keeps counting the tasks already there.
    more = ecs.run_task(
        cluster=cluster,
        taskDefinition=td["family"],
        count=3,
        placementStrategy=[
            {"type": "spread", "field": f"attribute:{AZ}"},
            {"type": "spread", "field": "instanceId"},
        ],
    )
    assert Counter(zones[t["containerInstanceArn"]] for t in more["tasks"]) == {
        "us-east-1a": 1,
        "us-east-1b": 1,
        "us-east-1c": 1,
    }


def test_distinct_instance_holds_across_calls(ecs: Any) -> None:
    cluster = make_cluster(ecs)
    for _ in range(3):
        register_instance(ecs, cluster)
    td = register_td(ecs)
    distinct = [{"type": "distinctInstance"}]
    first = ecs.run_task(
        cluster=cluster, taskDefinition=td["family"], count=2, group="solo", placementConstraints=distinct
    )
    assert len({t["containerInstanceArn"] for t in first["tasks"]}) == 2
    second = ecs.run_task(
        cluster=cluster, taskDefinition=td["family"], count=2, group="solo", placementConstraints=distinct
    )
    assert len(second["tasks"]) == 1
    arns = {t["containerInstanceArn"] for t in first["tasks"] + second["tasks"]}
    assert len(arns) == 3
    assert {f["reason"] for f in second["failures"]} == {"DistinctInstance placement constraint unsatisfied."}


def test_member_of_filters_on_attributes_and_groups(ecs: Any) -> None:
    cluster = make_cluster(ecs)
    zones = _zoned(ecs, cluster, zones="ab", per_zone=2)
    td = register_td(ecs)
    answer = ecs.run_task(
        cluster=cluster,
        taskDefinition=td["family"],
        count=4,
        placementConstraints=[{"type": "memberOf", "expression": f"attribute:{AZ} == us-east-1b"}],
    )
    assert {zones[t["containerInstanceArn"]] for t in answer["tasks"]} == {"us-east-1b"}
    assert len(answer["tasks"]) == 4
    # Next to the group that already runs: only the instances holding it qualify.
    near = ecs.run_task(
        cluster=cluster,
        taskDefinition=td["family"],
        count=3,
        group="sidecar",
        placementConstraints=[{"type": "memberOf", "expression": f"task:group == family:{td['family']}"}],
    )
    assert {zones[t["containerInstanceArn"]] for t in near["tasks"]} == {"us-east-1b"}
    none = ecs.run_task(
        cluster=cluster,
        taskDefinition=td["family"],
        placementConstraints=[{"type": "memberOf", "expression": "attribute:ecs.instance-type =~ p4d.*"}],
    )
    assert none["tasks"] == []
    assert {f["reason"] for f in none["failures"]} == {"MemberOf placement constraint unsatisfied."}
    assert len(none["failures"]) == 4


@pytest.mark.parametrize(
    "strategy",
    [
        [{"type": "binpack", "field": "disk"}],
        [{"type": "spread"}],
        [{"type": "spread", "field": "zone"}],
        [{"type": "pack"}],
    ],
)
def test_invalid_strategies_are_rejected(ecs: Any, strategy: list[dict[str, str]]) -> None:
    cluster = make_cluster(ecs)
    register_instance(ecs, cluster)
    td = register_td(ecs)
    with pytest.raises(ClientError) as exc:
        ecs.run_task(cluster=cluster, taskDefinition=td["family"], placementStrategy=strategy)
    assert code(exc) == "InvalidParameterException"


def test_concurrent_run_task_burst_over_commits_nothing(ecs: Any) -> None:
    cluster = make_cluster(ecs)
    zones = _zoned(ecs, cluster, per_zone=2, cpu=1024, memory=2048)  # 6 instances x 4 copies
    td = register_td(ecs, containerDefinitions=[{"name": "a", "image": "x", "cpu": 256, "memory": 256}])
    strategies = [
        [{"type": "binpack", "field": "memory"}],
        [{"type": "spread", "field": f"attribute:{AZ}"}],
        [],
        [{"type": "spread", "field": "instanceId"}, {"type": "binpack", "field": "cpu"}],
    ]
    placed: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        for _ in range(3):
            tasks = ecs.run_task(
                cluster=cluster,
                taskDefinition=td["family"],
                count=3,
                placementStrategy=strategies[n % len(strategies)],
            )["tasks"]
            with lock:
                placed.extend(t["containerInstanceArn"] for t in tasks)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(placed) == 24  # 72 asked for, 24 slots: every slot used, none twice
    assert set(Counter(placed).values()) == {4}
    for ci in _instances(ecs, cluster):
        assert _left(ci, "CPU") == 0 and _left(ci, "MEMORY") == 1024
        assert ci["pendingTasksCount"] == 4
    assert set(zones) == {ci["containerInstanceArn"] for ci in _instances(ecs, cluster)}


def test_custom_attributes_count_from_the_next_run_task(ecs: Any) -> None:
    """Placement keeps a cluster's custom attributes between calls and reads them again when
    the index sees one change: each Put/DeleteAttributes is seen by the very next RunTask."""
    cluster = make_cluster(ecs)
    arns = [register_instance(ecs, cluster)["containerInstanceArn"] for _ in range(3)]
    td = register_td(ecs)
    member = [{"type": "memberOf", "expression": "attribute:stage == blue"}]

    def run() -> dict[str, Any]:
        answer: dict[str, Any] = ecs.run_task(
            cluster=cluster, taskDefinition=td["family"], count=2, placementConstraints=member
        )
        return answer

    first = run()  # nothing is blue yet: reads (and keeps) the empty attribute set
    assert first["tasks"] == [] and {f["reason"] for f in first["failures"]} == {UNSATISFIED}
    for arn in arns[1:]:
        ecs.put_attributes(cluster=cluster, attributes=[{"name": "stage", "value": "blue", "targetId": arn}])
        placed = run()
        assert len(placed["tasks"]) == 2 and placed["failures"] == []
    blue = {t["containerInstanceArn"] for t in placed["tasks"]}
    assert blue <= set(arns[1:])
    for arn in arns[1:]:
        ecs.delete_attributes(cluster=cluster, attributes=[{"name": "stage", "targetId": arn}])
    after = run()
    assert after["tasks"] == [] and {f["reason"] for f in after["failures"]} == {UNSATISFIED}
