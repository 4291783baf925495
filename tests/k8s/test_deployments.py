"""Deployments end to end with the real kubectl: ``apply``, ``rollout status|history|undo``,
``scale``, over the real HTTPS listener and the ReplicaSet and Deployment controllers.

No Docker here: the server runs in-process over a memory store, and a stand-in kubelet (as
kwok does) marks every new pod Running and Ready, so the rollout arithmetic is what is tested.
The pods-as-tasks path is tested in ``tests/e2e/test_pods.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stowage.api.k8s.serving import K8sListener, K8sListenerConfig
from stowage.controllers.k8s.deployments import DeploymentController
from stowage.controllers.k8s.replicasets import ReplicaSetController
from stowage.model.k8s.meta import rfc3339
from stowage.resources.k8s_objects import CLUSTER_LOCAL, K8sObjects, resource_prefix
from stowage.store.memory import MemoryStore
from tests.k8s.conftest import K8sServer

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
STUCK = "stuck:never-ready"


async def _kubelet(objects: K8sObjects) -> None:
    """Stand-in kubelet: a pod that is not Running and Ready becomes so (unless its image is
    ``STUCK``)."""
    prefix = resource_prefix(CLUSTER_LOCAL, "", "pods")
    while True:
        page, _more, _rev = await objects.list(prefix)
        for stored in page:
            pod = stored.obj
            containers = (pod.get("spec") or {}).get("containers") or []
            running = (pod.get("status") or {}).get("phase") == "Running"
            if (
                running
                or pod["metadata"].get("deletionTimestamp")
                or any(c.get("image") == STUCK for c in containers)
            ):
                continue
            now = rfc3339(time.time())
            pod["status"] = {
                "phase": "Running",
                "podIP": "10.0.0.1",
                "startTime": now,
                "conditions": [
                    {"type": t, "status": "True", "lastTransitionTime": now}
                    for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
                ],
                "containerStatuses": [
                    {"name": c["name"], "image": c.get("image", ""), "ready": True, "restartCount": 0,
                     "started": True, "state": {"running": {"startedAt": now}}}
                    for c in containers
                ],
            }  # fmt: skip
            await objects.replace(stored.key, pod, stored.revision)
        await asyncio.sleep(0.1)


class Cluster:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.done = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        store = MemoryStore()
        objects = K8sObjects(store)
        listener = K8sListener(K8sListenerConfig(self.data_dir, "127.0.0.1", 0), store)
        await listener.start()
        controllers = [
            ReplicaSetController(objects, CLUSTER_LOCAL),
            DeploymentController(objects, CLUSTER_LOCAL),
        ]
        for c in controllers:
            await c.start()
        kubelet = asyncio.create_task(_kubelet(objects))
        self._stop = asyncio.Event()
        self.ready.set()
        try:
            await self._stop.wait()
        finally:
            kubelet.cancel()
            for c in controllers:
                await c.stop()
            await listener.stop()

    def start(self) -> None:
        self._thread.start()
        assert self.ready.wait(30), "the in-process Kubernetes API did not start"

    def stop(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=15)

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> Any:
        if not Path(KUBECTL).exists():
            pytest.fail(f"kubectl is not at {KUBECTL}", pytrace=False)
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
        env["HOME"] = str(self.data_dir)
        proc = subprocess.run(
            [KUBECTL, "--kubeconfig", str(self.data_dir / "kubeconfig"), *args],
            capture_output=True, text=True, input=input, timeout=90, env=env,
        )  # fmt: skip
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    def get(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)


@pytest.fixture()
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path)
    c.start()
    try:
        yield c
    finally:
        c.stop()


def _deployment(image: str, env: str = "one", replicas: int = 3) -> str:
    return json.dumps({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [{"name": "httpd", "image": image, "env": [{"name": "V", "value": env}]}],
                },
            },
        },
    })  # fmt: skip


def _replicasets(c: Cluster) -> dict[str, tuple[str, int, int]]:
    """name -> (image, spec replicas, status replicas)"""
    out = {}
    for rs in c.get("rs", "-l", "app=web")["items"]:
        image = rs["spec"]["template"]["spec"]["containers"][0]["image"]
        out[rs["metadata"]["name"]] = (image, rs["spec"]["replicas"], rs.get("status", {}).get("replicas", 0))
    return out


def _pods(c: Cluster) -> list[Any]:
    return [p for p in c.get("pods", "-l", "app=web")["items"] if not p["metadata"].get("deletionTimestamp")]


def _eventually(check: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.2)


def test_rollout_scale_update_and_undo(cluster: Cluster) -> None:
    c = cluster
    c.kubectl("apply", "-f", "-", input=_deployment("busybox:1"))
    c.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    pods = _pods(c)
    assert len(pods) == 3
    first = next(iter(_replicasets(c)))
    for pod in pods:
        ref = pod["metadata"]["ownerReferences"][0]
        assert (ref["kind"], ref["name"], ref["controller"]) == ("ReplicaSet", first, True)
        assert first.endswith(pod["metadata"]["labels"]["pod-template-hash"])
    dep = c.get("deployment", "web")
    assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    conditions = {x["type"]: x["reason"] for x in dep["status"]["conditions"]}
    assert conditions == {"Available": "MinimumReplicasAvailable", "Progressing": "NewReplicaSetAvailable"}
    table = c.kubectl("get", "deploy", "web").stdout.split("\n")
    assert table[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert table[1].split()[:4] == ["web", "3/3", "3", "3"]
    assert c.kubectl("get", "rs").stdout.split()[:4] == ["NAME", "DESIRED", "CURRENT", "READY"]
    wanted = ("ScalingReplicaSet", "SuccessfulCreate")
    messages = {
        e["involvedObject"]["name"]: e["message"] for e in c.get("events")["items"] if e["reason"] in wanted
    }
    assert messages["web"] == f"Scaled up replica set {first} from 0 to 3"
    assert messages[first].startswith(f"Created pod: {first}-")

    # scale through the /scale subresource: generation bumps, pods follow
    generation = dep["metadata"]["generation"]
    c.kubectl("scale", "deployment/web", "--replicas=5")
    c.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    _eventually(lambda: len(_pods(c)) == 5)
    assert c.get("deployment", "web")["metadata"]["generation"] == generation + 1
    c.kubectl("scale", "deployment/web", "--replicas=3")
    _eventually(lambda: len(_pods(c)) == 3)
    assert _replicasets(c) == {first: ("busybox:1", 3, 3)}

    # a new template: a new ReplicaSet takes over, the old one ends at 0
    c.kubectl("apply", "-f", "-", input=_deployment("busybox:2", env="two"))
    c.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    _eventually(lambda: len(_replicasets(c)) == 2 and _replicasets(c)[first] == ("busybox:1", 0, 0))
    (second,) = set(_replicasets(c)) - {first}
    assert _replicasets(c)[second] == ("busybox:2", 3, 3)
    history = c.kubectl("rollout", "history", "deployment/web").stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]

    # undo: the first ReplicaSet is revived as revision 3
    c.kubectl("rollout", "undo", "deployment/web")
    c.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    _eventually(lambda: _replicasets(c) == {first: ("busybox:1", 3, 3), second: ("busybox:2", 0, 0)})
    assert c.get("rs", first)["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert {p["spec"]["containers"][0]["image"] for p in _pods(c)} == {"busybox:1"}

    # deleting the deployment takes its ReplicaSets and pods with it (garbage collector)
    c.kubectl("delete", "deployment", "web")
    _eventually(lambda: not _replicasets(c) and not _pods(c))


def test_recreate_pause_and_progress_deadline(cluster: Cluster) -> None:
    c = cluster
    recreate = json.loads(_deployment("busybox:1", replicas=2))
    recreate["spec"]["strategy"] = {"type": "Recreate"}
    c.kubectl("apply", "-f", "-", input=json.dumps(recreate))
    c.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    (first,) = _replicasets(c)

    # paused: a new template makes no new ReplicaSet until resumed
    c.kubectl("rollout", "pause", "deployment/web")
    recreate["spec"]["template"]["spec"]["containers"][0]["image"] = "busybox:2"
    c.kubectl("apply", "-f", "-", input=json.dumps(recreate))
    _eventually(lambda: _progressing(c) == ("Unknown", "DeploymentPaused"))
    assert list(_replicasets(c)) == [first]
    c.kubectl("rollout", "resume", "deployment/web")
    c.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    _eventually(lambda: len(_replicasets(c)) == 2 and _replicasets(c)[first] == ("busybox:1", 0, 0))

    # a template whose pods never become ready (the stand-in kubelet leaves "stuck" images
    # alone) exceeds its progress deadline, and rollout status says so
    stuck = json.loads(_deployment(STUCK, replicas=2))
    stuck["spec"]["progressDeadlineSeconds"] = 1
    c.kubectl("apply", "-f", "-", input=json.dumps(stuck))
    _eventually(lambda: _progressing(c) == ("False", "ProgressDeadlineExceeded"))
    out = c.kubectl("rollout", "status", "deployment/web", "--timeout=30s", check=False)
    assert out.returncode != 0 and "exceeded its progress deadline" in out.stderr


def _progressing(c: Cluster) -> tuple[str, str]:
    for cond in c.get("deployment", "web").get("status", {}).get("conditions", []):
        if cond["type"] == "Progressing":
            return cond["status"], cond["reason"]
    return "", ""


def test_the_server_runs_the_controllers(k8s: K8sServer, namespace: str) -> None:
    """Wiring: the real server's controllers turn a Deployment into a ReplicaSet and pods
    (Pending here: the session server has no container instances)."""
    k8s.kubectl("apply", "-n", namespace, "-f", "-", input=_deployment("busybox:1", replicas=2))

    def listed(kind: str) -> list[Any]:
        out = k8s.kubectl("get", kind, "-n", namespace, "-l", "app=web", "-o", "json").stdout
        return list(json.loads(out)["items"])

    _eventually(lambda: len(listed("pods")) == 2 and len(listed("rs")) == 1)
    (rs,) = listed("rs")
    assert rs["metadata"]["ownerReferences"][0]["kind"] == "Deployment"
    assert {p["metadata"]["ownerReferences"][0]["name"] for p in listed("pods")} == {rs["metadata"]["name"]}
    scale = json.loads(
        k8s.kubectl("get", "--raw", f"/apis/apps/v1/namespaces/{namespace}/deployments/web/scale").stdout
    )
    assert (scale["kind"], scale["spec"]["replicas"]) == ("Scale", 2)
    assert scale["status"]["selector"] == "app=web"
    k8s.kubectl("delete", "-n", namespace, "deployment", "web")
    _eventually(lambda: not listed("pods") and not listed("rs"))


def _owner(obj: Any) -> tuple[str, str] | None:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return ref["kind"], ref["name"]
    return None


def test_orphans_are_adopted_and_relabelled_objects_released(cluster: Cluster) -> None:
    c = cluster
    c.kubectl("apply", "-f", "-", input=_deployment("busybox:1"))
    c.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    (rs_name,) = _replicasets(c)
    pod_names = {p["metadata"]["name"] for p in _pods(c)}

    # the Deployment deleted with --cascade=orphan leaves its ReplicaSet and pods, unowned
    c.kubectl("delete", "deployment", "web", "--cascade=orphan")
    _eventually(lambda: _owner(c.get("rs", rs_name)) is None)
    assert {p["metadata"]["name"] for p in _pods(c)} == pod_names

    # the same Deployment again adopts that ReplicaSet instead of making a new one
    c.kubectl("apply", "-f", "-", input=_deployment("busybox:1"))
    _eventually(lambda: _owner(c.get("rs", rs_name)) == ("Deployment", "web"))
    c.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    assert list(_replicasets(c)) == [rs_name]
    assert {p["metadata"]["name"] for p in _pods(c)} == pod_names

    # a pod relabelled out of the selector is released and replaced
    moved = sorted(pod_names)[0]
    c.kubectl("label", "pod", moved, "app=elsewhere", "--overwrite")
    _eventually(lambda: _owner(c.get("pod", moved)) is None)
    _eventually(lambda: len(_pods(c)) == 3 and moved not in {p["metadata"]["name"] for p in _pods(c)})

    # labelled back it is an orphan the selector matches: adopted, and one pod too many goes
    template_hash = c.get("pod", moved)["metadata"]["labels"]["pod-template-hash"]
    c.kubectl("label", "pod", moved, "app=web", "--overwrite")
    _eventually(lambda: _owner(c.get("pod", moved)) == ("ReplicaSet", rs_name))
    _eventually(lambda: len(_pods(c)) == 3)
    assert all(p["metadata"]["labels"]["pod-template-hash"] == template_hash for p in _pods(c))
    assert all(_owner(p) == ("ReplicaSet", rs_name) for p in _pods(c))
