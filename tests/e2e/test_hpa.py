"""A HorizontalPodAutoscaler for real: pods of a Deployment spin the CPU in real containers,
the real agent samples them, the HPA controller (its sync period shortened to 2 s) scales the
Deployment out through ``/scale``, and back in once the pods stop spinning (a file the test
creates in each with ``kubectl exec``). Marked ``docker``.

The burners are gentle: each spins ~5 ms then sleeps 20 ms (under a tenth of a core), far
above their 20m request, so three of them do not starve the machine's other tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.stack import Stack
from tests.e2e.test_pods import Kube
from tests.k8s.conftest import K8sServer
from tests.support.images import TEST_IMAGE
from tests.support.server import free_port, start_server

pytestmark = pytest.mark.docker

BURN = (
    "while [ ! -f /tmp/stop ]; do i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done; usleep 20000; done; "
    "exec sleep 3600"
)


@pytest.fixture()
def kube(e2e_images: None, tmp_path: Path) -> Iterator[Kube]:
    stack = Stack(tmp_path)
    port = free_port()
    try:
        stack.server = start_server(
            tmp_path / "server",
            ["--k8s-port", str(port), "--k8s-cluster", stack.cluster, "--hpa-sync-period", "2"],
        )
        stack.ecs = stack.server.boto3_client("ecs")
        stack.logs = stack.server.boto3_client("logs")
        stack.ecs.create_cluster(clusterName=stack.cluster)
        yield Kube(stack, K8sServer(stack.server, port))
    finally:
        stack.close()


def _deployment() -> str:
    return json.dumps({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "burn"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "burn"}},
            "template": {
                "metadata": {"labels": {"app": "burn"}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{
                        "name": "main", "image": TEST_IMAGE, "command": ["sh", "-c", BURN],
                        "resources": {"requests": {"cpu": "20m", "memory": "16Mi"}},
                    }],
                },
            },
        },
    })  # fmt: skip


def _replicas(kube: Kube) -> int:
    return int(kube.get("deployment", "burn")["spec"]["replicas"])


def _rescales(kube: Kube) -> list[str]:
    out = kube.kubectl("get", "events", "--field-selector", "involvedObject.name=burn", "-o", "json").stdout
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return [
        str(e["message"])
        for e in items
        if e["reason"] == "SuccessfulRescale" and e["involvedObject"]["kind"] == "HorizontalPodAutoscaler"
    ]


def test_cpu_burners_scale_out_then_in(kube: Kube) -> None:
    stack = kube.stack
    stack.start_agent()
    kube.kubectl("apply", "-f", "-", input=_deployment())
    kube.kubectl("rollout", "status", "deployment/burn", "--timeout=90s")
    out = kube.kubectl("autoscale", "deployment", "burn", "--cpu-percent=50", "--min=1", "--max=3").stdout
    assert "horizontalpodautoscaler.autoscaling/burn autoscaled" in out

    stack.until(lambda: _replicas(kube) == 3, "the HPA scaling the deployment out to 3", within=60)
    above = "reason: cpu resource utilization (percentage of request) above target"
    assert any(m.startswith("New size: ") and m.endswith(above) for m in _rescales(kube))
    kube.kubectl("rollout", "status", "deployment/burn", "--timeout=90s")
    # the status after the rescale's sync: REPLICAS 3 and a measured utilization
    row = stack.until(
        lambda: next(
            (
                r
                for r in kube.kubectl("get", "hpa").stdout.splitlines()[1:]
                if "%/50%" in r and r.split()[6] == "3"
            ),
            None,
        ),
        "a measured utilization in kubectl get hpa",
    )
    cells = row.split()
    assert cells[:3] == ["burn", "Deployment/burn", "cpu:"]
    assert int(cells[3].split("%")[0]) > 50  # spinning far above the request
    assert cells[4:7] == ["1", "3", "3"]
    described = kube.kubectl("describe", "hpa", "burn").stdout
    assert "resource cpu on pods  (as a percentage of request):" in described
    assert "ScalingActive" in described and "ValidMetricFound" in described

    # quick scale-in: no stabilization window (the default is 5 minutes); a v2 patch
    patch = {"spec": {"behavior": {"scaleDown": {"stabilizationWindowSeconds": 0}}}}
    kube.kubectl("patch", "hpa", "burn", "--type=merge", "-p", json.dumps(patch))
    pods = json.loads(kube.kubectl("get", "pods", "-l", "app=burn", "-o", "json").stdout)["items"]
    for pod in pods:
        if not pod["metadata"].get("deletionTimestamp"):
            kube.kubectl("exec", pod["metadata"]["name"], "--", "touch", "/tmp/stop")

    stack.until(lambda: _replicas(kube) == 1, "the HPA scaling the deployment back in to 1", within=60)
    assert "New size: 1; reason: All metrics below target" in _rescales(kube)
    hpa = kube.get("hpa", "burn")
    assert hpa["status"]["desiredReplicas"] == 1
    assert hpa["spec"]["behavior"]["scaleDown"]["policies"] == [
        {"type": "Percent", "value": 100, "periodSeconds": 15}
    ]
