"""HorizontalPodAutoscalers through the real kubectl and the official Python client:
``kubectl autoscale|get hpa|describe hpa``, autoscaling/v1 and v2 views of the same objects,
validation errors, watch, and the controller scaling a Deployment through ``/scale``.

No Docker here: the API runs in-process over a memory store with the ReplicaSet, Deployment
and HPA controllers; a stand-in kubelet (as in ``test_deployments``) makes pods Running and
Ready, and the pods' usage comes from a table the test sets (the e2e test ``tests/e2e/
test_hpa.py`` uses real containers and the agents' samples).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config, watch

from stowage.api.k8s.serving import K8sListener, K8sListenerConfig
from stowage.controllers.k8s.deployments import DeploymentController
from stowage.controllers.k8s.hpa import HorizontalPodAutoscalerController
from stowage.controllers.k8s.replicasets import ReplicaSetController
from stowage.model.k8s.hpa import ContainerUsage, PodUsage
from stowage.resources.k8s_objects import CLUSTER_LOCAL, K8sObjects, resource_prefix
from stowage.store.memory import MemoryStore
from tests.k8s.test_deployments import Cluster, _kubelet


class HpaCluster(Cluster):
    """The in-process API with the HPA controller; ``cpu[namespace]`` is the load (cores) that
    namespace's running pods share evenly, as behind a load balancer (no entry: no samples)."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self.cpu: dict[str, float] = {}
        self._usage: dict[tuple[str, str], PodUsage] = {}

    async def _sample(self, objects: K8sObjects) -> None:
        while True:
            page, _more, _rev = await objects.list(resource_prefix(CLUSTER_LOCAL, "", "pods"))
            running = [s.obj for s in page if (s.obj.get("status") or {}).get("phase") == "Running"]
            usage: dict[tuple[str, str], PodUsage] = {}
            for pod in running:
                meta = pod["metadata"]
                load = self.cpu.get(meta["namespace"])
                if load is None:
                    continue
                cores = load / sum(1 for p in running if p["metadata"]["namespace"] == meta["namespace"])
                containers = {c["name"]: ContainerUsage(cores, 4 << 20) for c in pod["spec"]["containers"]}
                usage[(meta["namespace"], meta["name"])] = PodUsage(containers, time.time(), 0.0)
            self._usage = usage
            await asyncio.sleep(0.1)

    async def _serve(self) -> None:
        store = MemoryStore()
        objects = K8sObjects(store)
        listener = K8sListener(K8sListenerConfig(self.data_dir, "127.0.0.1", 0), store)
        await listener.start()
        controllers = [
            ReplicaSetController(objects, CLUSTER_LOCAL),
            DeploymentController(objects, CLUSTER_LOCAL),
            HorizontalPodAutoscalerController(objects, CLUSTER_LOCAL, lambda: self._usage, sync_period=0.3),
        ]
        for c in controllers:
            await c.start()
        helpers = [asyncio.create_task(_kubelet(objects)), asyncio.create_task(self._sample(objects))]
        self._stop = asyncio.Event()
        self.ready.set()
        try:
            await self._stop.wait()
        finally:
            for h in helpers:
                h.cancel()
            for c in controllers:
                await c.stop()
            await listener.stop()


@pytest.fixture()
def cluster(tmp_path: Path) -> Iterator[HpaCluster]:
    c = HpaCluster(tmp_path)
    c.start()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture()
def api(cluster: HpaCluster) -> Iterator[client.ApiClient]:
    api_client = config.new_client_from_config(config_file=str(cluster.data_dir / "kubeconfig"))
    try:
        yield api_client
    finally:
        api_client.close()


def _deployment(name: str = "web", replicas: int = 2, cpu: str | None = "100m") -> str:
    resources = {"requests": {"cpu": cpu}} if cpu else {}
    return json.dumps(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "burn", "image": "busybox:1", "resources": resources}]},
                },
            },
        }
    )


def _eventually(check: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} not reached"
        time.sleep(0.1)


def _replicas(c: HpaCluster, name: str = "web") -> int:
    return int(c.get("deployment", name)["spec"]["replicas"])


def _conditions(c: HpaCluster, name: str = "web") -> dict[str, tuple[str, str]]:
    status = c.get("hpa", name).get("status") or {}
    return {x["type"]: (x["status"], x["reason"]) for x in status.get("conditions") or []}


def _events(c: HpaCluster, name: str = "web") -> list[tuple[str, str, str]]:
    items = c.get("events", "--field-selector", f"involvedObject.name={name}")["items"]
    return [
        (e["type"], e["reason"], e["message"])
        for e in items
        if e["involvedObject"]["kind"] == "HorizontalPodAutoscaler"
    ]


def test_kubectl_autoscale_scales_out_and_describes(cluster: HpaCluster) -> None:
    c = cluster
    c.kubectl("apply", "-f", "-", input=_deployment())
    c.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    c.cpu["default"] = 0.18  # 90m each of a 100m request: 90% against a 50% target
    out = c.kubectl("autoscale", "deployment", "web", "--cpu-percent=50", "--min=1", "--max=5").stdout
    assert out.strip() == "horizontalpodautoscaler.autoscaling/web autoscaled"

    # ceil(2 * 90 / 50) = 4; then 45% each, within the tolerance: it stays at 4
    _eventually(lambda: _replicas(c) == 4, what="a scale out to 4")
    reason = "cpu resource utilization (percentage of request) above target"
    assert ("Normal", "SuccessfulRescale", f"New size: 4; reason: {reason}") in _events(c)
    # once the new pods have samples: 45% each
    metric = {
        "type": "Resource",
        "resource": {"name": "cpu", "current": {"averageUtilization": 45, "averageValue": "45m"}},
    }

    def settled() -> Any:
        h = c.get("hpa", "web")
        status = h.get("status") or {}
        return status.get("currentReplicas") == 4 and status.get("currentMetrics") == [metric] and h

    hpa = _eventually(settled, what="a settled status")
    assert hpa["status"]["desiredReplicas"] == 4
    assert hpa["status"]["lastScaleTime"].endswith("Z")
    assert _conditions(c)["ScalingActive"] == ("True", "ValidMetricFound")
    assert _conditions(c)["ScalingLimited"] == ("False", "DesiredWithinRange")

    table = c.kubectl("get", "hpa").stdout.splitlines()
    assert table[0].split() == ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"]
    assert table[1].split()[:7] == ["web", "Deployment/web", "cpu:", "45%/50%", "1", "5", "4"]

    described = c.kubectl("describe", "hpa", "web").stdout
    assert "resource cpu on pods  (as a percentage of request):  45% (45m) / 50%" in described
    assert "Deployment pods:" in described and "4 current / 4 desired" in described
    assert "ScalingActive   True    ValidMetricFound" in described
    assert "SuccessfulRescale  " in described and "New size: 4; reason: cpu resource utilization" in described

    # no behavior: scaling down waits for the 5-minute stabilization window
    c.cpu["default"] = 0.02
    _eventually(
        lambda: _conditions(c).get("AbleToScale") == ("True", "ScaleDownStabilized"), what="stabilized"
    )
    assert _replicas(c) == 4
    assert c.get("hpa", "web")["status"]["desiredReplicas"] == 4

    # more load than maxReplicas allows: held at 5, ScalingLimited TooManyReplicas
    c.cpu["default"] = 2.0
    _eventually(lambda: _replicas(c) == 5, what="a scale out to 5")
    _eventually(lambda: _conditions(c).get("ScalingLimited") == ("True", "TooManyReplicas"), what="limited")


def test_behavior_policies_and_quick_scale_down(cluster: HpaCluster) -> None:
    c = cluster
    c.kubectl("apply", "-f", "-", input=_deployment(replicas=1))
    c.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    hpa: dict[str, Any] = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1,
            "maxReplicas": 6,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
                }
            ],
            "behavior": {
                "scaleUp": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 600}]},
                "scaleDown": {
                    "stabilizationWindowSeconds": 0,
                    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 1}],
                },
            },
        },
    }
    c.cpu["default"] = 0.2  # 200%: 4 replicas wanted, one pod per 10 minutes allowed
    c.kubectl("apply", "-f", "-", input=json.dumps(hpa))
    stored = c.get("hpa", "web")
    # the API server filled in the behavior's defaults
    assert stored["spec"]["behavior"]["scaleUp"]["selectPolicy"] == "Max"
    assert stored["spec"]["behavior"]["scaleUp"]["stabilizationWindowSeconds"] == 0
    assert stored["spec"]["behavior"]["scaleDown"]["selectPolicy"] == "Max"
    _eventually(lambda: _replicas(c) == 2, what="one step up")
    _eventually(lambda: _conditions(c).get("ScalingLimited") == ("True", "ScaleUpLimit"), what="rate limit")
    time.sleep(1.0)  # several syncs: the policy allows no more within its period
    assert _replicas(c) == 2

    # idle: down to minReplicas at once (no stabilization, 100% per second)
    c.cpu["default"] = 0.0
    _eventually(lambda: _replicas(c) == 1, what="a scale in")
    assert ("Normal", "SuccessfulRescale", "New size: 1; reason: All metrics below target") in _events(c)

    # selectPolicy Disabled: no scale up at all
    hpa["spec"]["behavior"]["scaleUp"]["selectPolicy"] = "Disabled"
    c.kubectl("apply", "-f", "-", input=json.dumps(hpa))
    c.cpu["default"] = 0.5
    _eventually(lambda: _conditions(c).get("ScalingLimited") == ("True", "ScaleUpLimit"), what="disabled")
    assert _replicas(c) == 1


def test_missing_metrics_and_missing_target(cluster: HpaCluster) -> None:
    c = cluster
    c.kubectl("apply", "-f", "-", input=_deployment())
    c.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    c.kubectl("autoscale", "deployment", "web", "--min=1", "--max=3")  # no --cpu-percent: 80%
    _eventually(lambda: _conditions(c).get("ScalingActive") == ("False", "FailedGetResourceMetric"))
    message = next(
        x["message"] for x in c.get("hpa", "web")["status"]["conditions"] if x["type"] == "ScalingActive"
    )
    assert message == (
        "the HPA was unable to compute the replica count: unable to get metrics for resource cpu: "
        "no metrics returned from resource metrics API"
    )
    assert "cpu: <unknown>/80%" in c.kubectl("get", "hpa", "web").stdout
    failed = [m for t, r, m in _events(c) if r == "FailedComputeMetricsReplicas"]
    assert failed and failed[0].startswith(
        "invalid metrics (1 invalid out of 1), first error is: failed to get cpu resource metric value: "
        "failed to get cpu utilization: unable to get metrics for resource cpu"
    )
    assert _replicas(c) == 2

    # pods without a cpu request: utilization cannot be computed
    c.kubectl("apply", "-f", "-", input=_deployment("norequest", cpu=None))
    c.cpu["default"] = 0.05
    c.kubectl("autoscale", "deployment", "norequest", "--cpu-percent=50", "--max=3")
    _eventually(
        lambda: _conditions(c, "norequest").get("ScalingActive") == ("False", "FailedGetResourceMetric")
    )
    _eventually(
        lambda: any("missing request for cpu in container burn" in m for _t, _r, m in _events(c, "norequest"))
    )

    # a target that does not exist
    refused = c.kubectl("autoscale", "deployment", "ghost", "--max=3", check=False)  # kubectl reads it first
    assert refused.returncode != 0 and 'deployments.apps "ghost" not found' in refused.stderr
    c.kubectl(
        "apply",
        "-f",
        "-",
        input=json.dumps(
            {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "ghost"},
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "ghost"},
                    "maxReplicas": 3,
                },
            }
        ),
    )
    _eventually(lambda: _conditions(c, "ghost").get("AbleToScale") == ("False", "FailedGetScale"))
    assert ("Warning", "FailedGetScale", 'deployments.apps "ghost" not found') in _events(c, "ghost")


def test_v1_and_v2_are_the_same_objects(api: client.ApiClient) -> None:
    v1 = client.AutoscalingV1Api(api)
    v2 = client.AutoscalingV2Api(api)
    ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    body = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "both"},
        "spec": {
            "scaleTargetRef": ref,
            "minReplicas": 2,
            "maxReplicas": 7,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "memory",
                        "target": {"type": "AverageValue", "averageValue": "64Mi"},
                    },
                },
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}},
                },
            ],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 30}},
        },
    }
    v2.create_namespaced_horizontal_pod_autoscaler("default", body)
    old = v1.read_namespaced_horizontal_pod_autoscaler("both", "default")
    assert old.api_version == "autoscaling/v1"
    assert (old.spec.min_replicas, old.spec.max_replicas, old.spec.target_cpu_utilization_percentage) == (
        2,
        7,
        60,
    )
    annotations = old.metadata.annotations
    assert json.loads(annotations["autoscaling.alpha.kubernetes.io/metrics"]) == [
        {"type": "Resource", "resource": {"name": "memory", "targetAverageValue": "64Mi"}}
    ]
    assert (
        json.loads(annotations["autoscaling.alpha.kubernetes.io/behavior"])["scaleDown"][
            "stabilizationWindowSeconds"
        ]
        == 30
    )

    # a v1 write keeps what only v2 can say
    old.spec.max_replicas = 9
    v1.replace_namespaced_horizontal_pod_autoscaler("both", "default", old)
    new = v2.read_namespaced_horizontal_pod_autoscaler("both", "default")
    assert new.spec.max_replicas == 9
    assert [m.resource.name for m in new.spec.metrics] == ["cpu", "memory"]
    assert new.spec.metrics[1].resource.target.average_value == "64Mi"
    assert new.spec.behavior.scale_down.stabilization_window_seconds == 30
    assert new.metadata.annotations is None
    assert new.metadata.generation == 2

    # created as v1 without a target: v2 shows upstream's default (80% CPU)
    v1.create_namespaced_horizontal_pod_autoscaler(
        "default",
        {
            "apiVersion": "autoscaling/v1",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "plain"},
            "spec": {"scaleTargetRef": ref, "maxReplicas": 3},
        },
    )
    plain = v2.read_namespaced_horizontal_pod_autoscaler("plain", "default")
    assert plain.spec.min_replicas == 1
    assert plain.spec.metrics[0].resource.target.average_utilization == 80
    listed = v1.list_namespaced_horizontal_pod_autoscaler("default")
    assert sorted(i.metadata.name for i in listed.items) == ["both", "plain"]
    assert {i.spec.target_cpu_utilization_percentage for i in listed.items} == {60, 80}

    # patch through v2 (merge patch); watch sees it
    w = watch.Watch()
    seen: list[tuple[str, int]] = []

    def follow() -> None:
        for ev in w.stream(v2.list_namespaced_horizontal_pod_autoscaler, "default", timeout_seconds=10):
            seen.append((ev["type"], ev["object"].spec.max_replicas))
            if ev["type"] == "MODIFIED":
                w.stop()

    thread = threading.Thread(target=follow)
    thread.start()
    time.sleep(0.5)
    v2.patch_namespaced_horizontal_pod_autoscaler("plain", "default", {"spec": {"maxReplicas": 4}})
    thread.join(timeout=15)
    assert ("MODIFIED", 4) in seen
    assert {s for s in seen if s[0] == "ADDED"} == {("ADDED", 9), ("ADDED", 3)}
    v2.delete_namespaced_horizontal_pod_autoscaler("plain", "default")
    with pytest.raises(client.ApiException) as gone:
        v1.read_namespaced_horizontal_pod_autoscaler("plain", "default")
    assert gone.value.status == 404


def test_validation_errors_as_upstream(api: client.ApiClient, cluster: HpaCluster) -> None:
    v2 = client.AutoscalingV2Api(api)
    ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}

    def invalid(spec: dict[str, Any]) -> dict[str, Any]:
        body = {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "bad"},
            "spec": spec,
        }
        with pytest.raises(client.ApiException) as err:
            v2.create_namespaced_horizontal_pod_autoscaler("default", body)
        assert err.value.status == 422
        status: dict[str, Any] = json.loads(err.value.body)
        assert status["reason"] == "Invalid"
        return status

    status = invalid({"scaleTargetRef": ref, "minReplicas": 3, "maxReplicas": 2})
    assert status["message"] == (
        'HorizontalPodAutoscaler.autoscaling "bad" is invalid: '
        "spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`"
    )
    status = invalid({"scaleTargetRef": {"apiVersion": "apps/v1"}, "maxReplicas": 2})
    assert [c["field"] for c in status["details"]["causes"]] == [
        "spec.scaleTargetRef.kind",
        "spec.scaleTargetRef.name",
    ]
    assert status["details"]["causes"][0]["message"] == "Required value"
    status = invalid({"scaleTargetRef": ref, "maxReplicas": 0})
    assert "spec.maxReplicas: Invalid value: 0: must be greater than 0" in status["message"]
    status = invalid(
        {
            "scaleTargetRef": ref,
            "maxReplicas": 2,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 0}},
                }
            ],
        }
    )
    assert (
        "spec.metrics[0].resource.target.averageUtilization: Invalid value: 0: must be greater than 0"
        in status["message"]
    )
    status = invalid(
        {
            "scaleTargetRef": ref,
            "maxReplicas": 2,
            "behavior": {
                "scaleUp": {
                    "selectPolicy": "Sometimes",
                    "policies": [{"type": "Pods", "value": 1, "periodSeconds": 2000}],
                }
            },
        }
    )
    fields = {c["field"] for c in status["details"]["causes"]}
    assert fields == {"spec.behavior.scaleUp.selectPolicy", "spec.behavior.scaleUp.policies[0].periodSeconds"}

    # kubectl prints the API server's message; v1 checks too
    out = cluster.kubectl("autoscale", "deployment", "web", "--min=4", "--max=2", check=False)
    assert out.returncode != 0
    bad = json.dumps(
        {
            "apiVersion": "autoscaling/v1",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "v1bad"},
            "spec": {"scaleTargetRef": ref, "maxReplicas": 2, "targetCPUUtilizationPercentage": 0},
        }
    )
    out = cluster.kubectl("create", "-f", "-", input=bad, check=False)
    assert "spec.targetCPUUtilizationPercentage: Invalid value: 0: must be greater than 0" in out.stderr
    unknown = json.dumps(
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "u"},
            "spec": {"scaleTargetRef": ref, "maxReplicas": 2, "bogus": 1},
        }
    )
    out = cluster.kubectl("create", "--validate=strict", "-f", "-", input=unknown, check=False)
    assert 'unknown field "spec.bogus"' in out.stderr
