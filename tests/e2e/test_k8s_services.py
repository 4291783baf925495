"""A NodePort Service for real: a Deployment of two busybox httpd pods (real containers through
the agent, each in its own network namespace, each serving its pod name and hostname) exposed
with ``kubectl expose --type NodePort`` answers on 127.0.0.1:<nodePort> from both pods, and
stops sending to a pod that is deleted. Marked `docker`."""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.e2e.test_pods import Kube, kube  # noqa: F401  (the fixture)
from tests.support.images import TEST_IMAGE

pytestmark = pytest.mark.docker

SCRIPT = 'echo "$POD_NAME $(hostname)" > /www/index.html; exec httpd -f -p 80 -h /www'
DEPLOYMENT = json.dumps({
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
                    "name": "httpd", "image": TEST_IMAGE,
                    "command": ["sh", "-c", SCRIPT],
                    "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                    "ports": [{"name": "http", "containerPort": 80}],
                    "resources": {"requests": {"cpu": "50m", "memory": "16Mi"}},
                }],
            },
        },
    },
})  # fmt: skip


def _get(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
        return str(response.read().decode()).strip()


def _try(port: int) -> str:
    try:
        return _get(port)
    except OSError:
        return ""


def test_node_port_reaches_both_pods_of_a_deployment(kube: Kube) -> None:  # noqa: F811
    stack = kube.stack
    stack.start_agent()
    kube.kubectl("apply", "-f", "-", input=DEPLOYMENT)
    kube.kubectl("rollout", "status", "deployment/web", "--timeout=120s")
    kube.kubectl("expose", "deployment", "web", "--port", "80", "--target-port", "http", "--type", "NodePort")
    svc = kube.get("svc", "web")
    node_port = svc["spec"]["ports"][0]["nodePort"]
    pods = json.loads(kube.kubectl("get", "pods", "-l", "app=web", "-o", "json").stdout)["items"]
    ips = {p["status"]["podIP"] for p in pods}
    names = {p["metadata"]["name"] for p in pods}
    assert len(ips) == 2

    stack.until(
        lambda: (
            {a["ip"] for s in kube.get("ep", "web").get("subsets", []) for a in s.get("addresses", [])} == ips
        ),
        "both pods in the endpoints",
    )
    answers: dict[str, str] = {}  # pod name -> hostname

    def both_answered() -> bool:
        text = _try(node_port)
        if text:
            name, _, host = text.partition(" ")
            answers[name] = host
        return set(answers) == names

    stack.until(both_answered, "both pods answer on the node port")
    assert len(set(answers.values())) == 2 and all(answers.values())  # each pod its own hostname
    # round robin over the two: consecutive connections alternate
    replies = [_get(node_port).split()[0] for _ in range(6)]
    assert set(replies) == names and max(replies.count(n) for n in names) <= 4

    # delete one pod: it leaves the endpoints, the node port keeps answering from the others
    gone = sorted(names)[0]
    kube.kubectl("delete", "pod", gone, "--wait=true", "--timeout=60s")
    stack.until(
        lambda: gone not in {a["targetRef"]["name"] for s in kube.get("ep", "web").get("subsets", [])
                             for a in s.get("addresses", []) + s.get("notReadyAddresses", [])},
        "the deleted pod out of the endpoints",
    )  # fmt: skip
    for _ in range(10):
        reply = _try(node_port)
        assert reply and reply.split()[0] != gone
    assert "NodePort" in kube.kubectl("get", "svc", "web").stdout
