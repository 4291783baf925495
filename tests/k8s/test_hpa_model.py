"""The HorizontalPodAutoscaler's pure parts: the replica calculator (tolerance, missing and
unready pods, requests), stabilization and rate policies, defaults, validation, the v1 ↔ v2
conversion and kubectl's TARGETS text."""

from __future__ import annotations

from typing import Any

import pytest

from stowage.model.k8s import hpa, hpa_behavior, hpa_spec
from stowage.model.k8s.hpa_behavior import History, Recommendation, ScaleEvent
from stowage.model.k8s.meta import rfc3339

NOW = 1_800_000_000.0
OLD = rfc3339(NOW - 3600)  # started and ready an hour ago: past the CPU initialization period


def pod(
    name: str,
    *,
    phase: str = "Running",
    ready: str = "True",
    started: str = OLD,
    ready_since: str = OLD,
    cpu: str | None = "100m",
    containers: int = 1,
) -> dict[str, Any]:
    requests = {"requests": {"cpu": cpu, "memory": "64Mi"}} if cpu else {}
    return {
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {"containers": [{"name": f"c{i}", "resources": requests} for i in range(containers)]},
        "status": {
            "phase": phase,
            "startTime": started,
            "conditions": [{"type": "Ready", "status": ready, "lastTransitionTime": ready_since}],
        },
    }


def usage(
    cores: dict[str, float], *, at: float = NOW - 5, window: float = 10.0
) -> dict[tuple[str, str], hpa.PodUsage]:
    return {
        ("ns", name): hpa.PodUsage({"c0": hpa.ContainerUsage(c, 32 << 20)}, at, window)
        for name, c in cores.items()
    }


def cpu_replicas(
    current: int, target: int, pods: list[dict[str, Any]], cores: dict[str, float], **kw: Any
) -> int:
    metrics = hpa.pod_metrics(pods, usage(cores, **kw), "cpu")
    return hpa.resource_replicas(current, target, pods, metrics, resource="cpu", now=NOW).replicas


def test_the_documented_rule_and_tolerance() -> None:
    pods = [pod("a"), pod("b")]
    # 90% of request against a 50% target: ceil(2 * 90 / 50) = 4
    metrics = hpa.pod_metrics(pods, usage({"a": 0.09, "b": 0.09}), "cpu")
    got = hpa.resource_replicas(2, 50, pods, metrics, resource="cpu", now=NOW)
    assert (got.replicas, got.utilization, got.average) == (4, 90, 90)
    # 54% / 50% = 1.08: within the 0.1 tolerance, no change
    assert cpu_replicas(2, 50, pods, {"a": 0.054, "b": 0.054}) == 2
    # 56% / 50% = 1.12: outside it
    assert cpu_replicas(2, 50, pods, {"a": 0.056, "b": 0.056}) == 3
    # 10% / 50%: ceil(0.2 * 2) = 1
    assert cpu_replicas(2, 50, pods, {"a": 0.01, "b": 0.01}) == 1


def test_missing_pods_count_against_the_direction() -> None:
    pods = [pod("a"), pod("b"), pod("c")]
    # scale up: the pod without a sample counts as 0%: (100 + 100 + 0) / 300 = 66% / 50 → ceil(1.32*3)=4
    assert cpu_replicas(3, 50, pods, {"a": 0.1, "b": 0.1}) == 4
    # scale down: it counts as 100%: (10 + 10 + 100) / 300 = 40% → 0.8 * 3 = 2.4 → 3: within? no: |1-0.8|>0.1
    assert cpu_replicas(3, 50, pods, {"a": 0.01, "b": 0.01}) == 3
    # ... and if counting it reverses the direction, nothing changes: (40 + 100) / 200 = 70% > 50%
    assert cpu_replicas(2, 50, [pod("a"), pod("b")], {"a": 0.04}) == 2


def test_unready_and_pending_pods_are_ignored_then_count_as_zero_on_scale_up() -> None:
    recent = rfc3339(NOW - 20)
    pods = [pod("a"), pod("b", ready="False", started=recent, ready_since=recent), pod("p", phase="Pending")]
    # a alone: 100% → 2x; b and p ignored, counted as 0 for the scale-up: 100 / 300 = 33% < 50%:
    # the direction would reverse, so nothing changes
    assert cpu_replicas(3, 50, pods, {"a": 0.1, "b": 0.5}) == 3
    # at 200%: (200 + 0 + 0) / 300 = 66% → ceil(1.32 * 3) = 4
    assert cpu_replicas(3, 50, pods, {"a": 0.2, "b": 0.5}) == 4
    # a pod that just became ready: its sample is ignored until one window after readiness
    fresh = pod("f", started=recent, ready_since=rfc3339(NOW - 8))
    # (ignored, it counts as 0: (300 + 0) / 200 = 150% → ceil(3 * 2) = 6; counted: 650% → 26)
    assert cpu_replicas(2, 50, [pod("a"), fresh], {"a": 0.3, "f": 1.0}, at=NOW - 1, window=10) == 6
    assert cpu_replicas(2, 50, [pod("a"), fresh], {"a": 0.3, "f": 1.0}, at=NOW - 1, window=5) == 26
    # deleted and failed pods are not counted at all
    gone = pod("g")
    gone["metadata"]["deletionTimestamp"] = OLD
    assert cpu_replicas(1, 50, [pod("a"), gone, pod("x", phase="Failed")], {"a": 0.1}) == 2


def test_errors_are_upstreams() -> None:
    with pytest.raises(hpa.MetricError, match="no metrics returned from resource metrics API"):
        hpa.resource_replicas(1, 50, [pod("a")], {}, resource="cpu", now=NOW)
    metrics = hpa.pod_metrics([pod("a", cpu=None)], usage({"a": 0.1}), "cpu")
    with pytest.raises(hpa.MetricError, match="missing request for cpu in container c0 of Pod a"):
        hpa.resource_replicas(1, 50, [pod("a", cpu=None)], metrics, resource="cpu", now=NOW)
    with pytest.raises(hpa.MetricError, match="no pods returned by selector"):
        hpa.resource_replicas(
            1, 50, [], hpa.pod_metrics([pod("a")], usage({"a": 0.1}), "cpu"), resource="cpu", now=NOW
        )
    only_pending = [pod("a", phase="Pending")]
    with pytest.raises(hpa.MetricError, match="did not receive metrics for targeted pods"):
        hpa.resource_replicas(
            1,
            50,
            only_pending,
            hpa.pod_metrics(only_pending, usage({"a": 0.1}), "cpu"),
            resource="cpu",
            now=NOW,
        )


def test_average_value_memory_and_container_resource() -> None:
    pods = [pod("a"), pod("b")]
    # 32Mi each against a 16Mi average target: ceil(2 * 2) = 4
    metrics = hpa.pod_metrics(pods, usage({"a": 0.0, "b": 0.0}), "memory")
    got = hpa.value_replicas(2, 16 * 2**20 * 1000, pods, metrics, resource="memory", now=NOW)
    assert (got.replicas, hpa.milli_quantity(got.average)) == (4, str(32 * 2**20))
    # ContainerResource: only the named container's usage and request
    two = [pod("a", containers=2)]
    sample = {
        ("ns", "a"): hpa.PodUsage(
            {"c0": hpa.ContainerUsage(0.1, 0), "c1": hpa.ContainerUsage(0.01, 0)}, NOW - 5, 10
        )
    }
    c1 = hpa.pod_metrics(two, sample, "cpu", "c1")
    assert hpa.resource_replicas(1, 50, two, c1, resource="cpu", now=NOW, container="c1").utilization == 10
    both = hpa.pod_metrics(two, sample, "cpu")
    assert hpa.resource_replicas(1, 50, two, both, resource="cpu", now=NOW).utilization == 55
    assert hpa.pod_metrics(two, sample, "cpu", "nope") == {}


def test_milli_quantity() -> None:
    assert [hpa.milli_quantity(v) for v in (250, 2000, 1500, 0, 12_000_000_000, 10_485_760_000)] == [
        "250m",
        "2",
        "1500m",
        "0",
        "12M",
        "10485760",
    ]


# -- behavior ---------------------------------------------------------------------------------------
def test_default_stabilization_keeps_the_highest_recent_recommendation() -> None:
    h = History([Recommendation(5, NOW - 200), Recommendation(7, NOW - 400)])
    got = hpa_behavior.normalize(h, None, current=5, desired=2, minimum=1, maximum=10, now=NOW)
    assert (got.replicas, got.able[0]) == (5, "ScaleDownStabilized")
    # the expired entry (400 s old) was reused for the new one
    assert sorted(r.replicas for r in h.recommendations) == [2, 5]
    later = hpa_behavior.normalize(h, None, current=5, desired=2, minimum=1, maximum=10, now=NOW + 301)
    assert (later.replicas, later.able[0], later.limited) == (2, "ReadyForNewScale", False)


def test_default_limits() -> None:
    # at most max(2 * current, 4) per step
    got = hpa_behavior.normalize(History(), None, current=1, desired=9, minimum=1, maximum=20, now=NOW)
    assert (got.replicas, got.limited, got.limit[0]) == (4, True, "ScaleUpLimit")
    got = hpa_behavior.normalize(History(), None, current=5, desired=9, minimum=1, maximum=6, now=NOW)
    assert (got.replicas, got.limit[0]) == (6, "TooManyReplicas")
    got = hpa_behavior.normalize(History(), None, current=3, desired=1, minimum=2, maximum=6, now=NOW)
    assert (got.replicas, got.limit) == (2, hpa_behavior.TOO_FEW)


def test_behavior_policies() -> None:
    up = hpa_spec.scale_up_rules(None)  # Max of +4 pods and +100% per 15 s
    assert hpa_behavior.scale_up_limit(2, [], up, NOW) == 6
    assert hpa_behavior.scale_up_limit(10, [], up, NOW) == 20
    assert hpa_behavior.scale_up_limit(10, [], {**up, "selectPolicy": "Min"}, NOW) == 14
    assert hpa_behavior.scale_up_limit(10, [], {**up, "selectPolicy": "Disabled"}, NOW) == 10
    # 5 added within the period: the period started at 5
    assert hpa_behavior.scale_up_limit(10, [ScaleEvent(5, NOW - 10)], up, NOW) == 10
    assert hpa_behavior.scale_up_limit(10, [ScaleEvent(5, NOW - 20)], up, NOW) == 20
    down = {
        "selectPolicy": "Max",
        "policies": [
            {"type": "Pods", "value": 2, "periodSeconds": 60},
            {"type": "Percent", "value": 50, "periodSeconds": 60},
        ],
    }
    assert hpa_behavior.scale_down_limit(10, [], down, NOW) == 5
    assert hpa_behavior.scale_down_limit(10, [], {**down, "selectPolicy": "Min"}, NOW) == 8
    assert (
        hpa_behavior.scale_down_limit(8, [ScaleEvent(2, NOW - 30)], {**down, "selectPolicy": "Min"}, NOW) == 8
    )

    behavior = {
        "scaleUp": {
            "stabilizationWindowSeconds": 0,
            "selectPolicy": "Max",
            "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
        },
        "scaleDown": hpa_spec.scale_down_rules({"stabilizationWindowSeconds": 0}),
    }
    h = History()
    got = hpa_behavior.normalize(h, behavior, current=2, desired=5, minimum=1, maximum=10, now=NOW)
    assert (got.replicas, got.limit[0]) == (3, "ScaleUpLimit")
    hpa_behavior.record_scale(h, behavior, 2, 3, NOW)
    got = hpa_behavior.normalize(h, behavior, current=3, desired=5, minimum=1, maximum=10, now=NOW + 30)
    assert (got.replicas, got.limit[0]) == (3, "ScaleUpLimit")  # the period's one pod is used
    got = hpa_behavior.normalize(h, behavior, current=3, desired=5, minimum=1, maximum=10, now=NOW + 61)
    assert got.replicas == 4


def test_behavior_stabilization_windows() -> None:
    behavior = {
        "scaleUp": hpa_spec.scale_up_rules({"stabilizationWindowSeconds": 60}),
        "scaleDown": hpa_spec.scale_down_rules({"stabilizationWindowSeconds": 120}),
    }
    h = History([Recommendation(3, NOW - 30), Recommendation(8, NOW - 90)])
    # up: the lowest within 60 s (3, and the new 6): 3
    got = hpa_behavior.normalize(h, behavior, current=2, desired=6, minimum=1, maximum=10, now=NOW)
    assert (got.replicas, got.able[0]) == (3, "ScaleUpStabilized")
    # down: the highest within 120 s: 8 → capped at the current count by the rate step? no: 8 > 4 is up
    h = History([Recommendation(5, NOW - 100)])
    got = hpa_behavior.normalize(h, behavior, current=6, desired=2, minimum=1, maximum=10, now=NOW)
    assert (got.replicas, got.able[0]) == (5, "ScaleDownStabilized")


# -- objects --------------------------------------------------------------------------------------
REF = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}


def test_defaults_and_validation() -> None:
    obj: dict[str, Any] = {"spec": {"scaleTargetRef": REF, "maxReplicas": 3, "behavior": {}}}
    hpa_spec.prepare_v2(obj)
    assert obj["spec"]["minReplicas"] == 1
    assert obj["spec"]["metrics"] == [hpa_spec.cpu_metric(80)]
    assert obj["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
    assert [p["type"] for p in obj["spec"]["behavior"]["scaleUp"]["policies"]] == ["Pods", "Percent"]
    assert hpa_spec.validate_v2(obj) == []
    causes = hpa_spec.validate_v2({"spec": {"scaleTargetRef": {}, "minReplicas": 0, "maxReplicas": 3}})
    assert [(c.field, c.message) for c in causes] == [
        ("spec.scaleTargetRef.kind", "Required value"),
        ("spec.scaleTargetRef.name", "Required value"),
        ("spec.minReplicas", "Invalid value: 0: must be greater than or equal to 1"),
    ]
    causes = hpa_spec.validate_v2(
        {
            "spec": {
                "scaleTargetRef": REF,
                "maxReplicas": 3,
                "metrics": [
                    {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "AverageValue"}}},
                    {"type": "Pods"},
                    {"type": "Nope"},
                ],
            }
        }
    )
    assert [c.field for c in causes] == [
        "spec.metrics[0].resource.target.averageUtilization",
        "spec.metrics[1].pods",
        "spec.metrics[2].type",
    ]


def test_v1_round_trip_keeps_everything() -> None:
    v2: dict[str, Any] = {
        "apiVersion": "autoscaling/v2",
        "metadata": {"name": "x", "annotations": {"mine": "yes"}},
        "spec": {
            "scaleTargetRef": REF,
            "minReplicas": 1,
            "maxReplicas": 4,
            "metrics": [
                {
                    "type": "ContainerResource",
                    "containerResource": {
                        "name": "memory",
                        "container": "app",
                        "target": {"type": "AverageValue", "averageValue": "1Gi"},
                    },
                },
                hpa_spec.cpu_metric(70),
                {
                    "type": "Pods",
                    "pods": {
                        "metric": {"name": "qps"},
                        "target": {"type": "AverageValue", "averageValue": "10"},
                    },
                },
            ],
            "behavior": {
                "scaleUp": hpa_spec.scale_up_rules(None),
                "scaleDown": hpa_spec.scale_down_rules(None),
            },
        },
        "status": {
            "currentReplicas": 2,
            "desiredReplicas": 3,
            "lastScaleTime": OLD,
            "currentMetrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "current": {"averageUtilization": 91, "averageValue": "91m"}},
                }
            ],
            "conditions": [
                {
                    "type": "AbleToScale",
                    "status": "True",
                    "reason": "SucceededRescale",
                    "message": "m",
                    "lastTransitionTime": OLD,
                }
            ],
        },
    }
    v1 = hpa_spec.v2_to_v1(v2)
    assert v1["spec"] == {
        "scaleTargetRef": REF,
        "minReplicas": 1,
        "maxReplicas": 4,
        "targetCPUUtilizationPercentage": 70,
    }
    assert v1["status"]["currentCPUUtilizationPercentage"] == 91
    assert set(v1["metadata"]["annotations"]) == {
        "mine",
        hpa_spec.METRICS_ANNOTATION,
        hpa_spec.CURRENT_METRICS_ANNOTATION,
        hpa_spec.CONDITIONS_ANNOTATION,
        hpa_spec.BEHAVIOR_ANNOTATION,
    }
    back = hpa_spec.v1_to_v2(v1)
    assert back["metadata"]["annotations"] == {"mine": "yes"}
    # the cpu metric comes first (v1's own field), then the annotation's
    assert back["spec"]["metrics"] == [
        v2["spec"]["metrics"][1],
        v2["spec"]["metrics"][0],
        v2["spec"]["metrics"][2],
    ]
    assert back["spec"]["behavior"] == v2["spec"]["behavior"]
    assert back["status"] == v2["status"]


def test_targets_column() -> None:
    obj: dict[str, Any] = {"spec": {"metrics": [hpa_spec.cpu_metric(50)]}}
    assert hpa_spec.targets_text(obj) == "cpu: <unknown>/50%"
    obj["status"] = {
        "currentMetrics": [
            {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 12}}}
        ]
    }
    assert hpa_spec.targets_text(obj) == "cpu: 12%/50%"
    memory = {
        "type": "Resource",
        "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "64Mi"}},
    }
    obj["spec"]["metrics"] = [hpa_spec.cpu_metric(50), memory, memory]
    assert hpa_spec.targets_text(obj) == "cpu: 12%/50%, memory: <unknown>/64Mi + 1 more..."
    assert hpa_spec.targets_text({"spec": {}}) == "<none>"
