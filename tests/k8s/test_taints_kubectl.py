"""Taints, tolerations, cordon and drain with the real kubectl, through the whole control plane
on three simulated hosts (``stowage simulate``: real agents over a simulated engine).

kubectl taint → a pod stays Pending with upstream's FailedScheduling message → a toleration
added to it → scheduled there; kubectl cordon → new pods avoid the node; kubectl drain evicts
through ``pods/eviction`` and a Deployment's pods come back elsewhere; a PodDisruptionBudget
refuses an eviction (429); a NoExecute taint evicts the pods that do not tolerate it
(``TaintManagerEviction``), after ``tolerationSeconds`` for those that tolerate it a while.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.k8s.conftest import K8sServer
from tests.support.server import free_port, start_server
from tests.support.simulator import read_summary, start_simulator

CLUSTER = "k8s-taints"
T = TypeVar("T")


def until(check: Callable[[], T | None], what: str, within: float = 30.0) -> T:
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


class Cluster:
    def __init__(self, k8s: K8sServer) -> None:
        self.k8s = k8s

    def kubectl(self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60) -> str:
        proc = self.k8s.kubectl(*args, input=input, check=check, timeout=timeout)
        return str(proc.stdout)

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        result: subprocess.CompletedProcess[str] = self.k8s.kubectl(*args, check=False, timeout=timeout)
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json"))

    def nodes(self) -> list[str]:
        return sorted(n["metadata"]["name"] for n in self.json("get", "nodes")["items"])

    def node(self, name: str) -> dict[str, Any]:
        return dict(self.json("get", "node", name))

    def pods(self, ns: str, selector: str = "") -> list[dict[str, Any]]:
        args = ["get", "pods", "-n", ns] + (["-l", selector] if selector else [])
        return list(self.json(*args)["items"])

    def events(self, ns: str, name: str) -> list[dict[str, Any]]:
        out = self.json("get", "events", "-n", ns, "--field-selector", f"involvedObject.name={name}")
        return list(out["items"])

    def apply(self, obj: dict[str, Any]) -> None:
        self.kubectl("apply", "-f", "-", input=json.dumps(obj))

    def reset_nodes(self) -> None:
        """Every node schedulable and without a user's taint, as the test found them."""
        for name in self.nodes():
            self.kubectl(
                "patch", "node", name, "--type=merge", "-p", '{"spec":{"taints":null,"unschedulable":null}}'
            )
        until(lambda: all(not self.node(n)["spec"].get("taints") for n in self.nodes()), "clean nodes")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    port = free_port()
    server = start_server(
        tmp_path_factory.mktemp("server"), ["--k8s-port", str(port), "--k8s-cluster", CLUSTER]
    )
    hosts = tmp_path_factory.mktemp("hosts")
    sim: subprocess.Popen[str] | None = None
    try:
        server.boto3_client("ecs").create_cluster(clusterName=CLUSTER)
        sim = start_simulator(server, CLUSTER, 3, str(hosts), "--poll-wait", "5")
        read_summary(sim)
        c = Cluster(K8sServer(server, port))
        until(lambda: len(c.nodes()) == 3, "three nodes")
        yield c
    finally:
        if sim is not None:
            sim.terminate()
            try:
                sim.wait(timeout=20)
            except subprocess.TimeoutExpired:
                sim.kill()
        server.stop()


@pytest.fixture()
def ns(cluster: Cluster) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.reset_nodes()
    cluster.kubectl("delete", "namespace", name, "--wait=false")


APP = {"name": "main", "image": "busybox", "command": ["sleep", "3600"]}


def pod(name: str, ns: str, labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels or {"app": name}},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [APP], **spec},
    }


def deployment(name: str, ns: str, replicas: int, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"terminationGracePeriodSeconds": 1, "containers": [APP], **spec},
            },
        },
    }


def running_on(cluster: Cluster, ns: str, selector: str, count: int) -> list[str]:
    """The nodes of ``count`` Running pods (waits for exactly that many, none terminating)."""

    def ready() -> list[str] | None:
        pods = cluster.pods(ns, selector)
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        if len(live) == count and all(p["status"].get("phase") == "Running" for p in live):
            return [str(p["spec"]["nodeName"]) for p in live]
        return None

    return until(ready, f"{count} running pods ({selector})", within=60)


def test_taint_keeps_a_pod_pending_until_it_tolerates_it(cluster: Cluster, ns: str) -> None:
    a, b, c = cluster.nodes()
    out = cluster.kubectl("taint", "nodes", a, "dedicated=gpu:NoSchedule")
    assert f"node/{a} tainted" in out
    cluster.kubectl("cordon", b)
    cluster.kubectl("cordon", c)
    taints = cluster.node(a)["spec"]["taints"]
    assert {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"} in taints
    assert any(t["key"] == "node.kubernetes.io/unschedulable" for t in cluster.node(b)["spec"]["taints"])
    assert "SchedulingDisabled" in cluster.kubectl("get", "node", b)

    cluster.apply(pod("web", ns))
    want = (
        "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, "
        "2 node(s) were unschedulable."
    )

    def failed() -> str | None:
        for e in cluster.events(ns, "web"):
            if e["reason"] == "FailedScheduling":
                return str(e["message"])
        return None

    assert until(failed, "FailedScheduling") == want
    assert cluster.json("get", "pod", "web", "-n", ns)["status"]["phase"] == "Pending"
    assert want in cluster.kubectl("describe", "pod", "web", "-n", ns)

    added = {"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}
    toleration = [{"op": "add", "path": "/spec/tolerations/-", "value": added}]
    cluster.kubectl("patch", "pod", "web", "-n", ns, "--type=json", "-p", json.dumps(toleration))
    assert running_on(cluster, ns, "app=web", 1) == [a]

    out = cluster.kubectl("taint", "nodes", a, "dedicated-")
    assert f"node/{a} untainted" in out
    assert not cluster.node(a)["spec"].get("taints")
    cluster.kubectl("uncordon", b)
    until(lambda: not cluster.node(b)["spec"].get("taints"), "the unschedulable taint to go")


def test_cordoned_nodes_get_no_new_pods_and_keep_the_cordon(cluster: Cluster, ns: str) -> None:
    a, _b, _c = cluster.nodes()
    cluster.kubectl("label", "node", a, "team=blue")
    out = cluster.kubectl("cordon", a)
    assert f"node/{a} cordoned" in out
    cluster.apply(deployment("spread", ns, 4))
    placed = running_on(cluster, ns, "app=spread", 4)
    assert a not in placed
    # the node sync (instance changes, resyncs) keeps the user's cordon and label
    node = cluster.node(a)
    assert node["spec"]["unschedulable"] is True and node["metadata"]["labels"]["team"] == "blue"
    cluster.kubectl("uncordon", a)
    cluster.kubectl("label", "node", a, "team-")
    cluster.kubectl("scale", "deployment", "spread", "-n", ns, "--replicas=6")
    assert a in running_on(cluster, ns, "app=spread", 6)  # spread puts the new copies on a


def test_prefer_no_schedule_is_used_last(cluster: Cluster, ns: str) -> None:
    a, b, c = cluster.nodes()
    cluster.kubectl("taint", "nodes", a, "spot=yes:PreferNoSchedule")
    cluster.apply(deployment("soft", ns, 6))
    assert a not in running_on(cluster, ns, "app=soft", 6)  # spread would have put two on a
    cluster.kubectl("cordon", b)
    cluster.kubectl("cordon", c)
    cluster.kubectl("scale", "deployment", "soft", "-n", ns, "--replicas=8")
    assert sorted(running_on(cluster, ns, "app=soft", 8)).count(a) == 2  # a soft taint: used when alone


def test_drain_evicts_and_the_deployment_moves(cluster: Cluster, ns: str) -> None:
    cluster.apply(deployment("api", ns, 3))
    before = running_on(cluster, ns, "app=api", 3)
    target = before[0]
    proc = cluster.run(
        "drain", target, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=60s", timeout=90
    )
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout + proc.stderr
    assert f"node/{target} cordoned" in text and f"node/{target} drained" in text
    assert "evicting pod" in text
    after = running_on(cluster, ns, "app=api", 3)
    assert target not in after
    assert cluster.node(target)["spec"]["unschedulable"] is True
    cluster.kubectl("uncordon", target)


def test_a_disruption_budget_refuses_an_eviction(cluster: Cluster, ns: str) -> None:
    cluster.apply(deployment("db", ns, 2))
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "db", "namespace": ns},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "db"}}},
    }
    cluster.apply(pdb)
    nodes = running_on(cluster, ns, "app=db", 2)

    def ready_pods() -> bool:
        return all(
            any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or [])
            for p in cluster.pods(ns, "app=db")
        )

    until(ready_pods, "ready pods")
    until(
        lambda: "db     2               N/A               0" in cluster.kubectl("get", "pdb", "-n", ns),
        "pdb status",
    )
    proc = cluster.run("drain", nodes[0], "--ignore-daemonsets", "--timeout=4s", timeout=60)
    assert proc.returncode != 0
    assert "Cannot evict pod as it would violate the pod's disruption budget." in proc.stderr
    assert len([p for p in cluster.pods(ns, "app=db") if not p["metadata"].get("deletionTimestamp")]) == 2
    cluster.kubectl("patch", "pdb", "db", "-n", ns, "--type=merge", "-p", '{"spec":{"minAvailable":1}}')
    proc = cluster.run("drain", nodes[0], "--ignore-daemonsets", "--timeout=60s", timeout=90)
    assert proc.returncode == 0, proc.stderr
    assert nodes[0] not in running_on(cluster, ns, "app=db", 2)


def test_no_execute_evicts_what_does_not_tolerate_it(cluster: Cluster, ns: str) -> None:
    a, _b, _c = cluster.nodes()
    here = {"kubernetes.io/hostname": a}
    tol = {"key": "maint", "operator": "Exists", "effect": "NoExecute"}
    for name, spec in (
        ("plain", {"nodeSelector": here}),
        ("brief", {"nodeSelector": here, "tolerations": [{**tol, "tolerationSeconds": 3}]}),
        ("stays", {"nodeSelector": here, "tolerations": [tol]}),
    ):
        cluster.apply(pod(name, ns, {"set": "x"}, **spec))
    assert running_on(cluster, ns, "set=x", 3) == [a, a, a]
    cluster.kubectl("taint", "nodes", a, "maint=now:NoExecute")

    def names() -> set[str]:
        return {p["metadata"]["name"] for p in cluster.pods(ns) if not p["metadata"].get("deletionTimestamp")}

    until(lambda: "plain" not in names(), "plain to be evicted")
    assert "brief" in names()  # it tolerates the taint for 3 s
    evictions = [e for e in cluster.events(ns, "plain") if e["reason"] == "TaintManagerEviction"]
    assert evictions and evictions[0]["message"] == f"Marking for deletion Pod {ns}/plain"
    until(lambda: names() == {"stays"}, "brief to be evicted after its tolerationSeconds")
    taint = next(t for t in cluster.node(a)["spec"]["taints"] if t["key"] == "maint")
    assert taint.get("timeAdded")  # NoExecute taints are stamped


def test_bad_taints_and_evictions_get_the_api_servers_errors(cluster: Cluster, ns: str) -> None:
    a = cluster.nodes()[0]
    proc = cluster.run(
        "patch", "node", a, "--type=merge", "-p", '{"spec":{"taints":[{"key":"k","effect":"Sometimes"}]}}'
    )
    assert proc.returncode != 0 and 'Unsupported value: "Sometimes"' in proc.stderr
    bad = pod("bad", ns, tolerations=[{"operator": "Equal", "value": "x"}])
    proc = cluster.k8s.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(bad), check=False)
    assert proc.returncode != 0 and "operator must be Exists when `key` is empty" in proc.stderr
    resources = json.loads(cluster.kubectl("get", "--raw", "/api/v1"))
    eviction = next(r for r in resources["resources"] if r["name"] == "pods/eviction")
    assert (eviction["group"], eviction["version"], eviction["kind"]) == ("policy", "v1", "Eviction")
    path = Path(cluster.k8s.server.data_dir) / "eviction.json"
    path.write_text(
        json.dumps({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "missing"}})
    )
    proc = cluster.run("create", "--raw", f"/api/v1/namespaces/{ns}/pods/missing/eviction", "-f", str(path))
    assert proc.returncode != 0 and 'pods "missing" not found' in proc.stderr
