"""Taints and tolerations (``model/k8s/taints``) and what a Node sync keeps of what users set on
a Node (``model/k8s/nodes.node_object`` with the stored Node)."""

from __future__ import annotations

from typing import Any

import pytest

from stowage.model.k8s import taints as tm
from stowage.model.k8s.meta import rfc3339
from stowage.model.k8s.nodes import INSTANCE_LABELS, MANAGED_TAINTS, node_object
from stowage.model.k8s.pods import prepare_pod, validate_pod

GPU = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}


@pytest.mark.parametrize(
    ("toleration", "expected"),
    [
        ({"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}, True),
        ({"key": "dedicated", "value": "gpu"}, True),  # operator defaults to Equal, any effect
        ({"key": "dedicated", "value": "cpu"}, False),
        ({"key": "dedicated", "operator": "Exists"}, True),
        ({"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}, False),
        ({"key": "other", "operator": "Exists"}, False),
        ({"operator": "Exists"}, True),  # empty key + Exists: every taint
        ({"operator": "Exists", "effect": "NoExecute"}, False),
        ({"operator": "Exists", "effect": "NoSchedule"}, True),
        ({"value": "gpu"}, False),  # empty key goes only with Exists
    ],
)
def test_toleration_matching(toleration: dict[str, Any], expected: bool) -> None:
    assert tm.tolerates(toleration, GPU) is expected


def test_a_taint_without_value_is_tolerated_by_equal_with_no_value() -> None:
    taint = {"key": "spot", "effect": "NoSchedule"}
    assert tm.tolerates({"key": "spot", "operator": "Equal"}, taint)
    assert not tm.tolerates({"key": "spot", "operator": "Equal", "value": "x"}, taint)


def test_schedule_reason_in_the_schedulers_words() -> None:
    node = {"spec": {"taints": [{"key": "soft", "effect": "PreferNoSchedule"}, GPU]}}
    assert tm.schedule_reason(node, []) == "node(s) had untolerated taint {dedicated: gpu}"
    assert tm.schedule_reason(node, [{"key": "dedicated", "operator": "Exists"}]) is None
    cordoned = {"spec": {"unschedulable": True, "taints": [GPU]}}
    assert tm.schedule_reason(cordoned, []) == "node(s) were unschedulable"
    tolerant = [{"key": tm.UNSCHEDULABLE, "operator": "Exists", "effect": "NoSchedule"}]
    assert tm.schedule_reason(cordoned, tolerant) == "node(s) had untolerated taint {dedicated: gpu}"
    no_value = {"spec": {"taints": [{"key": "spot", "effect": "NoExecute"}]}}
    assert tm.schedule_reason(no_value, []) == "node(s) had untolerated taint {spot: }"


def test_prefer_no_schedule_only_ranks() -> None:
    node = {"spec": {"taints": [{"key": "soft", "effect": "PreferNoSchedule"}]}}
    assert tm.schedule_reason(node, []) is None
    assert tm.preferred_against(node, [])
    assert not tm.preferred_against(node, [{"key": "soft", "operator": "Exists"}])


def test_eviction_time() -> None:
    added = 1000.0
    taint = {"key": "maint", "effect": "NoExecute", "timeAdded": rfc3339(added)}
    assert tm.eviction_time([taint], [], since=900.0) == 900.0  # not tolerated: at once
    forever = [{"key": "maint", "operator": "Exists", "effect": "NoExecute"}]
    assert tm.eviction_time([taint], forever, since=900.0) is None
    sixty = [{"key": "maint", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60}]
    assert tm.eviction_time([taint], sixty, since=900.0) == added + 60
    assert tm.eviction_time([taint], sixty, since=2000.0) == 2060.0  # the pod came later
    zero = [{"key": "maint", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 0}]
    assert tm.eviction_time([taint], zero, since=900.0) == added
    # the first matching toleration counts; NoSchedule taints never evict
    first: list[dict[str, Any]] = [sixty[0], forever[0]]
    assert tm.eviction_time([taint, GPU], first, since=900.0) == added + 60
    assert tm.eviction_time([GPU], [], since=900.0) is None


def test_merge_keeps_user_taints_and_drops_managed_ones_that_went() -> None:
    user = {"key": "team", "value": "a", "effect": "NoSchedule"}
    managed = [{"key": tm.UNSCHEDULABLE, "effect": "NoSchedule"}]
    taints, owned = tm.merge_taints([user], managed, [], now=50.0)
    assert taints == [user, {**managed[0], "timeAdded": rfc3339(50.0)}]
    assert owned == [f"{tm.UNSCHEDULABLE}:NoSchedule"]
    again, _ = tm.merge_taints(taints, managed, owned, now=99.0)
    assert again == taints  # timeAdded kept
    uncordoned, owned = tm.merge_taints(taints, [], owned, now=99.0)
    assert uncordoned == [user] and owned == []


def test_taint_attributes_round_trip() -> None:
    taints = [
        {"key": "example.com/gpu", "value": "a100", "effect": "NoSchedule"},
        {"key": "spot", "effect": "PreferNoSchedule"},
    ]
    attrs: dict[str, str | None] = {**tm.taint_attributes(taints), "team": "blue"}
    assert attrs["stowage.io/taint/spot"] == ":PreferNoSchedule"
    assert sorted(tm.attribute_taints(attrs), key=lambda t: t["key"]) == taints


def test_default_tolerations_merge_as_upstream() -> None:
    mine = [{"key": "dedicated", "operator": "Exists"}]
    out = tm.with_default_tolerations(mine)
    assert out[0] == mine[0]
    assert {(t["key"], t["tolerationSeconds"]) for t in out[1:]} == {
        (tm.NOT_READY, 300),
        (tm.UNREACHABLE, 300),
    }
    everything = [{"operator": "Exists"}]
    assert tm.with_default_tolerations(everything) == everything
    own = [{"key": tm.UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}]
    assert [t["key"] for t in tm.with_default_tolerations(own)] == [tm.UNREACHABLE, tm.NOT_READY]


def test_prepare_pod_adds_default_tolerations_beside_the_pods_own() -> None:
    pod: dict[str, Any] = {
        "spec": {
            "containers": [{"name": "a", "image": "x"}],
            "tolerations": [{"key": "dedicated", "operator": "Exists"}],
        }
    }
    prepare_pod(pod)
    keys = [t["key"] for t in pod["spec"]["tolerations"]]
    assert keys == ["dedicated", tm.NOT_READY, tm.UNREACHABLE]
    prepare_pod(pod)  # an update does not add them twice
    assert len(pod["spec"]["tolerations"]) == 3


def test_validation() -> None:
    node = {
        "spec": {
            "taints": [
                GPU,
                {**GPU, "value": "other"},
                {"key": "x", "effect": "Sometimes"},
                {"effect": "NoSchedule"},
            ]
        }
    }
    causes = tm.validate_node(node)
    assert [(c.reason, c.field) for c in causes] == [
        ("FieldValueDuplicate", "spec.taints[1]"),
        ("FieldValueNotSupported", "spec.taints[2].effect"),
        ("FieldValueRequired", "spec.taints[3].key"),
    ]
    pod = {
        "spec": {
            "containers": [{"name": "a", "image": "x"}],
            "tolerations": [
                {"operator": "Equal", "value": "v"},
                {"key": "k", "operator": "Exists", "value": "v"},
                {"key": "k", "effect": "NoSchedule", "tolerationSeconds": 5},
                {"key": "k", "operator": "Maybe"},
            ],
        }
    }
    fields = [c.field for c in validate_pod(pod)]
    assert fields == [
        "spec.tolerations[0].operator",
        "spec.tolerations[1].operator",
        "spec.tolerations[2].effect",
        "spec.tolerations[3].operator",
    ]


# -- the Node sync keeps what users set -------------------------------------------------------------
def _instance(**extra: Any) -> dict[str, Any]:
    return {
        "containerInstanceArn": "arn:aws:ecs:us-east-1:1:container-instance/c/abc",
        "ec2InstanceId": "i-1",
        "status": "ACTIVE",
        "agentConnected": True,
        "registeredAt": 1000.0,
        "registeredResources": [
            {"name": "CPU", "integerValue": 1024},
            {"name": "MEMORY", "integerValue": 1024},
        ],
        "attributes": [{"name": "team", "value": "blue"}],
        **extra,
    }


def test_a_sync_keeps_user_spec_labels_and_annotations() -> None:
    first = node_object(_instance(), cluster="c", now=10.0)
    assert "taints" not in first["spec"] and "unschedulable" not in first["spec"]
    edited = {**first, "metadata": {**first["metadata"]}, "spec": dict(first["spec"])}
    edited["metadata"]["labels"] = {**first["metadata"]["labels"], "role": "db"}
    edited["metadata"]["annotations"] = {**first["metadata"]["annotations"], "note": "mine"}
    edited["spec"]["unschedulable"] = True
    edited["spec"]["taints"] = [GPU]
    synced = node_object(_instance(), cluster="c", old=edited, now=20.0)
    assert synced["metadata"]["labels"]["role"] == "db"
    assert synced["metadata"]["annotations"]["note"] == "mine"
    assert synced["spec"]["unschedulable"] is True
    assert synced["spec"]["taints"] == [
        GPU,
        {"key": tm.UNSCHEDULABLE, "effect": "NoSchedule", "timeAdded": rfc3339(20.0)},
    ]
    # uncordoned: the unschedulable taint goes, the user's stays
    edited2 = {**synced, "spec": {k: v for k, v in synced["spec"].items() if k != "unschedulable"}}
    after = node_object(_instance(), cluster="c", old=edited2, now=30.0)
    assert after["spec"]["taints"] == [GPU]
    assert after["metadata"]["annotations"][MANAGED_TAINTS] == ""


def test_instance_labels_follow_the_instance() -> None:
    first = node_object(_instance(), cluster="c", now=10.0)
    assert first["metadata"]["labels"]["team"] == "blue"
    assert "team" in first["metadata"]["annotations"][INSTANCE_LABELS].split(",")
    later = node_object(_instance(attributes=[]), cluster="c", old=first, now=20.0)
    assert "team" not in later["metadata"]["labels"]


def test_draining_cordons_and_reactivation_uncordons_unless_the_user_did() -> None:
    first = node_object(_instance(), cluster="c", now=10.0)
    draining = node_object(_instance(status="DRAINING"), cluster="c", old=first, now=20.0)
    assert draining["spec"]["unschedulable"] is True
    assert [t["key"] for t in draining["spec"]["taints"]] == [tm.UNSCHEDULABLE]
    active = node_object(_instance(), cluster="c", old=draining, now=30.0)
    assert "unschedulable" not in active["spec"] and "taints" not in active["spec"]
    cordoned = {**first, "spec": {**first["spec"], "unschedulable": True}}
    drained = node_object(_instance(status="DRAINING"), cluster="c", old=cordoned, now=20.0)
    back = node_object(_instance(), cluster="c", old=drained, now=30.0)
    assert back["spec"]["unschedulable"] is True  # the user's cordon stays


def test_condition_and_attribute_taints() -> None:
    attrs = [{"name": "stowage.io/taint/dedicated", "value": "gpu:NoSchedule"}]
    node = node_object(_instance(agentConnected=False, attributes=attrs), cluster="c", now=10.0)
    assert [(t["key"], t["effect"]) for t in node["spec"]["taints"]] == [
        ("dedicated", "NoSchedule"),
        (tm.UNREACHABLE, "NoSchedule"),
        (tm.UNREACHABLE, "NoExecute"),
    ]
    assert "stowage.io/taint/dedicated" not in node["metadata"]["labels"]
    back = node_object(_instance(attributes=[]), cluster="c", old=node, now=20.0)
    assert "taints" not in back["spec"]
