"""Endpoints, EndpointSlices and node ports following pods, with the machine's kubectl:
``kubectl expose``, ``get svc,ep``, ``describe svc``; readiness, labels and deletion moving
addresses; a NodePort spreading connections over ready pods and leaving unready ones out.

The pods' "containers" are HTTP servers of this test process on 127.0.0.1, each on its own port
(the pods name that port ``http``, and the service targets it by name), answering with the
pod's name; the stand-in kubelet gives those pods the IP 127.0.0.1.
"""

from __future__ import annotations

import http.server
import json
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.k8s.services_cluster import IP_ANNOTATION, ServiceCluster, eventually


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceCluster]:
    c = ServiceCluster(tmp_path_factory.mktemp("svc-ep"))
    c.start()
    try:
        yield c
    finally:
        c.stop()


def _deployment(name: str, replicas: int) -> str:
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": "busybox",
                                         "ports": [{"name": "http", "containerPort": 8080}]}]},
            },
        },
    })  # fmt: skip


def _addresses(ep: dict[str, Any], member: str = "addresses") -> list[tuple[str, str, int]]:
    """(pod name, ip, port) of one kind of address."""
    return sorted(
        (a["targetRef"]["name"], a["ip"], p["port"])
        for s in ep.get("subsets") or []
        for a in s.get(member) or []
        for p in s.get("ports") or []
    )


def test_expose_get_and_describe(cluster: ServiceCluster) -> None:
    c = cluster
    c.kubectl("apply", "-f", "-", input=_deployment("web", 2))
    c.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    assert (
        "service/web exposed"
        in c.kubectl(
            "expose", "deployment", "web", "--port", "80", "--target-port", "http", "--type", "NodePort"
        ).stdout
    )
    svc = c.get("svc", "web")
    assert svc["spec"]["selector"] == {"app": "web"} and svc["spec"]["type"] == "NodePort"
    node_port = svc["spec"]["ports"][0]["nodePort"]
    pods = {p["metadata"]["name"]: p["status"]["podIP"] for p in c.get("pods", "-l", "app=web")["items"]}
    want = sorted((name, ip, 8080) for name, ip in pods.items())
    eventually(lambda: _addresses(c.get("ep", "web")) == want, what="endpoints of both pods")

    out = c.kubectl("get", "svc,ep", "web").stdout.splitlines()
    assert out[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert out[1].split()[:5] == [
        "service/web", "NodePort", svc["spec"]["clusterIP"], "<none>", f"80:{node_port}/TCP"
    ]  # fmt: skip
    assert out[3].split()[:1] == ["NAME"] and out[3].split()[1:] == ["ENDPOINTS", "AGE"]
    assert out[4].split()[1] == ",".join(f"{ip}:8080" for _, ip, _ in sorted(want, key=lambda w: w[1]))

    slices = c.get("endpointslices", "-l", "kubernetes.io/service-name=web")["items"]
    assert len(slices) == 1
    (eps,) = slices
    assert eps["addressType"] == "IPv4" and eps["ports"] == [{"name": "", "port": 8080, "protocol": "TCP"}]
    assert eps["metadata"]["ownerReferences"][0]["uid"] == svc["metadata"]["uid"]
    assert sorted(e["addresses"][0] for e in eps["endpoints"]) == sorted(pods.values())
    assert all(
        e["conditions"] == {"ready": True, "serving": True, "terminating": False} for e in eps["endpoints"]
    )

    described = c.kubectl("describe", "svc", "web").stdout
    fields = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in described.splitlines())}
    assert fields["Type"] == "NodePort" and fields["IP"] == svc["spec"]["clusterIP"]
    assert fields["Selector"] == "app=web" and fields["TargetPort"] == "http/TCP"
    assert fields["NodePort"] == f"<unset>  {node_port}/TCP"
    assert sorted(fields["Endpoints"].split(",")) == sorted(f"{ip}:8080" for ip in pods.values())

    # scaling the deployment moves the endpoints; deleting the service removes them
    c.kubectl("scale", "deployment/web", "--replicas=3")
    eventually(lambda: len(_addresses(c.get("ep", "web"))) == 3, what="a third address")
    c.kubectl("delete", "svc", "web")
    eventually(
        lambda: (
            c.kubectl("get", "ep", "web", check=False).returncode != 0
            and not c.get("endpointslices", "-l", "kubernetes.io/service-name=web")["items"]
        ),
        what="endpoints and slices gone",
    )


def test_readiness_labels_and_deletion_move_addresses(cluster: ServiceCluster) -> None:
    c = cluster
    c.kubectl("apply", "-f", "-", input=_deployment("api", 2))
    c.kubectl("rollout", "status", "deployment/api", "--timeout=60s")
    c.kubectl("create", "service", "clusterip", "api", "--tcp=80:http")
    pods = sorted(p["metadata"]["name"] for p in c.get("pods", "-l", "app=api")["items"])
    eventually(lambda: len(_addresses(c.get("ep", "api"))) == 2, what="two ready addresses")

    # not ready: the pod moves to notReadyAddresses, and its slice endpoint says so
    c.kubectl("label", "pod", pods[0], "ready=no")
    eventually(
        lambda: (
            [a[0] for a in _addresses(c.get("ep", "api"), "notReadyAddresses")] == [pods[0]]
            and [a[0] for a in _addresses(c.get("ep", "api"))] == [pods[1]]
        ),
        what="the unready pod in notReadyAddresses",
    )
    (eps,) = c.get("endpointslices", "-l", "kubernetes.io/service-name=api")["items"]
    ready = {e["targetRef"]["name"]: e["conditions"]["ready"] for e in eps["endpoints"]}
    assert ready == {pods[0]: False, pods[1]: True}
    c.kubectl("label", "pod", pods[0], "ready-")
    eventually(lambda: len(_addresses(c.get("ep", "api"))) == 2, what="ready again")

    # a pod whose labels stop matching leaves (its ReplicaSet replaces it)
    c.kubectl("label", "pod", pods[1], "app=elsewhere", "--overwrite")
    eventually(
        lambda: pods[1] not in {a[0] for a in _addresses(c.get("ep", "api"))}, what="relabelled pod gone"
    )
    eventually(lambda: len(_addresses(c.get("ep", "api"))) == 2, what="its replacement in")

    # a service without a selector keeps the Endpoints its user writes
    c.kubectl("create", "service", "clusterip", "manual", "--tcp=80")
    c.kubectl("patch", "svc", "manual", "--type=json", "-p", '[{"op":"remove","path":"/spec/selector"}]')
    manual = {
        "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "manual"},
        "subsets": [{"addresses": [{"ip": "192.0.2.10"}], "ports": [{"port": 80}]}],
    }  # fmt: skip
    c.kubectl("apply", "-f", "-", input=json.dumps(manual))
    assert c.kubectl("get", "ep", "manual").stdout.split()[4] == "192.0.2.10:80"
    bad = dict(manual, subsets=[{"addresses": [{"ip": "nowhere"}], "ports": [{"port": 80}]}])
    out = c.kubectl("apply", "-f", "-", input=json.dumps(bad), check=False)
    assert out.returncode != 0 and "subsets[0].addresses[0].ip" in out.stderr


class _Pod(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = self.server.pod_name.encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def pod_servers() -> Iterator[dict[str, int]]:
    """Two 'containers' on 127.0.0.1: pod name -> port."""
    servers = []
    for name in ("fwd-a", "fwd-b"):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Pod)
        server.pod_name = name  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    try:
        yield {s.pod_name: s.server_address[1] for s in servers}  # type: ignore[attr-defined]
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()


def _get(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
        return str(response.read().decode())


def test_node_port_spreads_over_ready_pods(cluster: ServiceCluster, pod_servers: dict[str, int]) -> None:
    c = cluster
    for name, port in pod_servers.items():
        c.kubectl("apply", "-f", "-", input=json.dumps({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "fwd"}, "annotations": {IP_ANNOTATION: "127.0.0.1"}},
            "spec": {"containers": [{"name": "main", "image": "busybox",
                                     "ports": [{"name": "http", "containerPort": port}]}]},
        }))  # fmt: skip
    svc = {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "fwd"},
        "spec": {"type": "NodePort", "selector": {"app": "fwd"},
                 "ports": [{"port": 80, "targetPort": "http"}]},
    }  # fmt: skip
    c.kubectl("apply", "-f", "-", input=json.dumps(svc))
    node_port = c.get("svc", "fwd")["spec"]["ports"][0]["nodePort"]
    # the named target port resolves per pod: two subsets, one per port
    want = sorted(("127.0.0.1", port) for port in pod_servers.values())
    eventually(
        lambda: sorted((ip, p) for _, ip, p in _addresses(c.get("ep", "fwd"))) == want,
        what="both pods' ports",
    )

    seen: set[str] = set()

    def both_answered() -> bool:
        seen.add(_get(node_port))
        return seen == set(pod_servers)

    eventually(both_answered, what="both pods answer")
    answers = [_get(node_port) for _ in range(6)]
    assert sorted(set(answers)) == sorted(pod_servers)
    # round robin: neither pod gets every connection
    assert 2 <= answers.count("fwd-a") <= 4

    c.kubectl("label", "pod", "fwd-a", "ready=no")
    eventually(lambda: [a[0] for a in _addresses(c.get("ep", "fwd"))] == ["fwd-b"], what="fwd-a not ready")
    assert {_get(node_port) for _ in range(4)} == {"fwd-b"}

    # ClusterIP again: the node port closes
    c.kubectl("patch", "svc", "fwd", "-p", '{"spec":{"type":"ClusterIP"}}')

    def closed() -> bool:
        try:
            _get(node_port)
        except OSError:
            return True
        return False

    eventually(closed, what="node port closed")
