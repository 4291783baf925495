"""A Deployment for real: kubectl → Deployment and ReplicaSet controllers → pods as ECS tasks on
a real agent with Docker. Short: one rollout of two pods and one update. Marked `docker`."""

from __future__ import annotations

import json

import pytest

from tests.e2e.test_pods import Kube, kube  # noqa: F401  (the fixture)
from tests.support.images import TEST_IMAGE

pytestmark = pytest.mark.docker


def _deployment(colour: str) -> str:
    return json.dumps({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "terminationGracePeriodSeconds": 2,
                    "containers": [{
                        "name": "main", "image": TEST_IMAGE, "command": ["sleep", "3600"],
                        "env": [{"name": "COLOUR", "value": colour}],
                        "resources": {"requests": {"cpu": "50m", "memory": "16Mi"}},
                    }],
                },
            },
        },
    })  # fmt: skip


def test_a_deployment_rolls_out_and_updates_on_real_containers(kube: Kube) -> None:  # noqa: F811
    stack = kube.stack
    stack.start_agent()
    kube.kubectl("apply", "-f", "-", input=_deployment("blue"))
    kube.kubectl("rollout", "status", "deployment/web", "--timeout=90s")
    assert kube.kubectl("get", "deploy", "web").stdout.split()[5:9] == ["web", "2/2", "2", "2"]

    kube.kubectl("apply", "-f", "-", input=_deployment("green"))
    kube.kubectl("rollout", "status", "deployment/web", "--timeout=90s")
    rs = json.loads(kube.kubectl("get", "rs", "-l", "app=web", "-o", "json").stdout)["items"]
    replicas = sorted(
        (r["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"], r["spec"]["replicas"]) for r in rs
    )
    assert replicas == [("blue", 0), ("green", 2)]

    def settled() -> bool:
        pods = json.loads(kube.kubectl("get", "pods", "-l", "app=web", "-o", "json").stdout)["items"]
        live = [p for p in pods if p["status"].get("phase") not in ("Failed", "Succeeded")]
        colours = [p["spec"]["containers"][0]["env"][0]["value"] for p in live]
        return colours == ["green", "green"]

    stack.until(settled, "old pods gone")
