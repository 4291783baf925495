"""``kubectl create deployment``: kubectl posts the Deployment as protobuf
(``application/vnd.kubernetes.protobuf``), which the API server decodes as it does the JSON
form; the object then reads back as the JSON path would have made it."""

from __future__ import annotations

import json

from tests.k8s.conftest import K8sServer


def test_create_deployment_posts_protobuf_and_the_deployment_is_whole(k8s: K8sServer, namespace: str) -> None:
    out = k8s.kubectl(
        "create", "deployment", "web", "-n", namespace, "--image=busybox:1.36", "--replicas=3", "--port=8080",
        "--", "httpd", "-f", "-p", "8080",
    )  # fmt: skip
    assert out.stdout.strip() == "deployment.apps/web created"
    got = json.loads(k8s.kubectl("get", "deployment", "web", "-n", namespace, "-o", "json").stdout)
    assert got["metadata"]["labels"] == {"app": "web"}
    spec = got["spec"]
    assert spec["replicas"] == 3
    assert spec["selector"] == {"matchLabels": {"app": "web"}}
    assert spec["template"]["metadata"]["labels"] == {"app": "web"}
    (container,) = spec["template"]["spec"]["containers"]
    assert container["name"] == "busybox"
    assert container["image"] == "busybox:1.36"
    assert container["command"] == ["httpd", "-f", "-p", "8080"]
    (port,) = container["ports"]
    assert port["containerPort"] == 8080 and "hostPort" not in port  # Go's zero int: not sent in JSON
    # kubectl sends an empty strategy; it decodes as one, which defaulting fills in
    rolling = {"maxSurge": "25%", "maxUnavailable": "25%"}
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": rolling}
    # a bad one is refused with the same Status as its JSON form would be
    bad = k8s.kubectl("create", "deployment", "Bad_Name", "-n", namespace, "--image=busybox", check=False)
    assert bad.returncode != 0 and 'Deployment.apps "Bad_Name" is invalid' in bad.stderr
    dry = k8s.kubectl(
        "create", "deployment", "dry", "-n", namespace, "--image=busybox", "--dry-run=server", "-o", "json"
    )
    assert json.loads(dry.stdout)["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox"
    assert k8s.kubectl("get", "deployment", "dry", "-n", namespace, check=False).returncode != 0
