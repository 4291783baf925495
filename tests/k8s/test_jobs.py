"""batch/v1 Jobs through the real HTTPS API and the official Python client, run by the Job
controller and the garbage collector in-process over a memory store.

No Docker here: a stand-in kubelet (as kwok does) plays the pods. It starts every new pod
(Running and Ready) and, a few of its rounds later, ends it by its image: ``test/ok`` succeeds,
``test/fail`` fails with exit code 1, ``test/hang`` runs until deleted, ``test/odd-fails-once``
fails the first pod of each odd completion index (read from the ``JOB_COMPLETION_INDEX`` the
pod's environment resolves to). Like the pod controller, it removes pods being deleted. It
records how many pods of each Job ran at once. The pods-as-tasks path is in
``tests/e2e/test_jobs.py``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from stowage.api.k8s.serving import K8sListener, K8sListenerConfig
from stowage.controllers.k8s.jobs import JobController
from stowage.model.k8s import pods as pod_model
from stowage.model.k8s.meta import rfc3339
from stowage.resources.k8s_objects import CLUSTER_LOCAL, K8sObjects, resource_prefix
from stowage.store.memory import MemoryStore

Obj = dict[str, Any]
T = TypeVar("T")
RUN_ROUNDS = 3
BACKOFF = 0.2  # the controller's failure back-off base (Kubernetes': 10 s)


class Kubelet:
    """The stand-in kubelet (see the module docstring)."""

    def __init__(self, objects: K8sObjects) -> None:
        self.objects = objects
        self.rounds: dict[str, int] = {}
        self.max_running: dict[str, int] = {}
        self.index_env: dict[str, str] = {}
        self.failed_indexes: set[str] = set()

    def _outcome(self, pod: Obj) -> int | None:
        container = pod["spec"]["containers"][0]
        image = container.get("image")
        env = {e["name"]: e["value"] for e in pod_model.environment(pod, container, {}, None)}
        if "JOB_COMPLETION_INDEX" in env:
            self.index_env[pod["metadata"]["name"]] = env["JOB_COMPLETION_INDEX"]
        if image == "test/ok":
            return 0
        if image == "test/fail":
            return 1
        if image == "test/odd-fails-once":
            index = env["JOB_COMPLETION_INDEX"]
            if int(index) % 2 and index not in self.failed_indexes:
                self.failed_indexes.add(index)
                return 1
            return 0
        return None

    async def run(self) -> None:
        prefix = resource_prefix(CLUSTER_LOCAL, "", "pods")
        while True:
            page, _more, _rev = await self.objects.list(prefix)
            running: dict[str, int] = {}
            for stored in page:
                pod = stored.obj
                meta = pod["metadata"]
                if meta.get("deletionTimestamp"):
                    await self.objects.delete(stored.key, stored.revision)
                    continue
                phase = pod.get("status", {}).get("phase")
                if phase in ("Succeeded", "Failed"):
                    continue
                owner = next((r["name"] for r in meta.get("ownerReferences") or []), "")
                running[owner] = running.get(owner, 0) + 1
                uid = meta["uid"]
                self.rounds[uid] = self.rounds.get(uid, 0) + 1
                now = rfc3339(time.time())
                if phase != "Running":
                    pod["status"] = _running(pod, now)
                elif self.rounds[uid] >= RUN_ROUNDS and (code := self._outcome(pod)) is not None:
                    pod["status"] = _ended(pod, now, code)
                else:
                    continue
                await self.objects.replace(stored.key, pod, stored.revision)
            for owner, n in running.items():
                self.max_running[owner] = max(n, self.max_running.get(owner, 0))
            await asyncio.sleep(0.05)


def _running(pod: Obj, now: str) -> Obj:
    return {
        "phase": "Running",
        "startTime": now,
        "conditions": [
            {"type": t, "status": "True", "lastTransitionTime": now}
            for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
        ],
        "containerStatuses": [
            {"name": c["name"], "image": c["image"], "ready": True, "restartCount": 0,
             "started": True, "state": {"running": {"startedAt": now}}}
            for c in pod["spec"]["containers"]
        ],
    }  # fmt: skip


def _ended(pod: Obj, now: str, code: int) -> Obj:
    status = _running(pod, now)
    status["phase"] = "Succeeded" if code == 0 else "Failed"
    for c in status["conditions"]:
        if c["type"] in ("Ready", "ContainersReady"):
            c["status"] = "False"
    for s in status["containerStatuses"]:
        s["ready"] = False
        s["state"] = {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                     "startedAt": now, "finishedAt": now}}  # fmt: skip
    return status


class JobCluster:
    """The Kubernetes API (HTTPS, kubeconfig in ``data_dir``), the Job controller and the
    stand-in kubelet on one event loop in a thread."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.kubelet: Kubelet | None = None
        self.objects: K8sObjects | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._client: Any = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        store = MemoryStore()
        objects = self.objects = K8sObjects(store)
        listener = K8sListener(K8sListenerConfig(self.data_dir, "127.0.0.1", 0), store)
        await listener.start()
        controller = JobController(objects, CLUSTER_LOCAL, backoff=BACKOFF, max_backoff=1.0)
        await controller.start()
        self.kubelet = Kubelet(objects)
        kubelet = asyncio.create_task(self.kubelet.run())
        self._stop = asyncio.Event()
        self.ready.set()
        try:
            await self._stop.wait()
        finally:
            kubelet.cancel()
            await controller.stop()
            await listener.stop()

    def start(self) -> None:
        self._thread.start()
        assert self.ready.wait(30), "the in-process Kubernetes API did not start"
        from kubernetes import config

        self._client = config.new_client_from_config(config_file=str(self.data_dir / "kubeconfig"))

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the cluster's loop (to reach the store behind the API's back)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=15)

    # -- raw JSON over the official client's HTTP machinery --------------------------------------
    def call(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        """(status, JSON body) of one request; errors are returned, not raised."""
        from kubernetes.client.exceptions import ApiException

        try:
            # Connection: close, so no idle keep-alive connection holds the server's shutdown
            headers = {"Content-Type": content_type, "Accept": "application/json", "Connection": "close"}
            resp = self._client.call_api(
                path, method, body=body, header_params=headers, auth_settings=["BearerToken"],
                _preload_content=False,
            )  # fmt: skip
            return resp.status, json.loads(resp.data or b"null")
        except ApiException as exc:
            return exc.status, json.loads(exc.body or b"null")

    def create_job(self, job: Obj, ns: str = "default") -> Obj:
        status, body = self.call("POST", f"/apis/batch/v1/namespaces/{ns}/jobs", job)
        assert status == 201, body
        return dict(body)

    def job(self, name: str, ns: str = "default") -> Obj | None:
        status, body = self.call("GET", f"/apis/batch/v1/namespaces/{ns}/jobs/{name}")
        return dict(body) if status == 200 else None

    def counter(self, name: str, member: str) -> int:
        return int(((self.job(name) or {}).get("status") or {}).get(member) or 0)

    def pods(self, job: str, ns: str = "default") -> list[Obj]:
        status, body = self.call("GET", f"/api/v1/namespaces/{ns}/pods?labelSelector=job-name%3D{job}")
        assert status == 200, body
        return list(body["items"])

    def events(self, name: str, ns: str = "default") -> list[tuple[str, str, str]]:
        path = f"/api/v1/namespaces/{ns}/events?fieldSelector=involvedObject.name%3D{name}"
        _status, body = self.call("GET", path)
        return [(e["type"], e["reason"], e["message"]) for e in body["items"]]

    def until(self, check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.05)

    def finished(self, name: str, kind: str, ns: str = "default") -> Obj:
        """The Job once it has the ``kind`` (Complete/Failed) condition."""

        def done() -> Obj | None:
            job = self.job(name, ns)
            conditions = ((job or {}).get("status") or {}).get("conditions") or []
            return job if any(c["type"] == kind and c["status"] == "True" for c in conditions) else None

        return dict(self.until(done, f"job {name} {kind}"))


@pytest.fixture()
def cluster(tmp_path: Path) -> Iterator[JobCluster]:
    c = JobCluster(tmp_path)
    c.start()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobCluster]:
    """One cluster for the tests that only read what the API answers."""
    c = JobCluster(tmp_path_factory.mktemp("jobs"))
    c.start()
    try:
        yield c
    finally:
        c.stop()


def job_body(name: str, image: str = "test/ok", restart: str = "Never", **spec: Any) -> Obj:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            **spec,
            "template": {
                "spec": {"restartPolicy": restart, "containers": [{"name": "main", "image": image}]},
            },
        },
    }


def _conditions(job: Obj) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c.get("reason", "")) for c in job["status"].get("conditions", [])}


# -- runs to completion -----------------------------------------------------------------------------
def test_completions_with_parallelism_run_to_complete(cluster: JobCluster) -> None:
    created = cluster.create_job(job_body("batch", completions=5, parallelism=2))
    uid = created["metadata"]["uid"]
    # the API server's defaults and generated selector
    spec = created["spec"]
    assert (spec["backoffLimit"], spec["completionMode"], spec["suspend"]) == (6, "NonIndexed", False)
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    labels = spec["template"]["metadata"]["labels"]
    assert labels == {
        "batch.kubernetes.io/controller-uid": uid, "controller-uid": uid,
        "batch.kubernetes.io/job-name": "batch", "job-name": "batch",
    }  # fmt: skip
    assert created["metadata"]["labels"] == labels
    assert spec["template"]["spec"]["terminationGracePeriodSeconds"] == 30
    assert created["metadata"]["generation"] == 1

    job = cluster.finished("batch", "Complete")
    status = job["status"]
    assert status["succeeded"] == 5 and "failed" not in status and "active" not in status
    assert status["uncountedTerminatedPods"] == {}
    assert status["startTime"] <= status["completionTime"]
    assert _conditions(job) == {
        "SuccessCriteriaMet": ("True", "CompletionsReached"),
        "Complete": ("True", "CompletionsReached"),
    }
    assert cluster.kubelet is not None and cluster.kubelet.max_running["batch"] == 2
    pods = cluster.pods("batch")
    assert len(pods) == 5 and {p["status"]["phase"] for p in pods} == {"Succeeded"}
    for pod in pods:
        meta = pod["metadata"]
        assert meta["name"].startswith("batch-") and meta["generateName"] == "batch-"
        assert meta["ownerReferences"] == [{
            "apiVersion": "batch/v1", "kind": "Job", "name": "batch", "uid": uid,
            "controller": True, "blockOwnerDeletion": True,
        }]  # fmt: skip
        assert "finalizers" not in meta  # counted: the tracking finalizer is gone
        assert meta["labels"]["batch.kubernetes.io/controller-uid"] == uid
    events = cluster.events("batch")
    assert sum(1 for e in events if e[1] == "SuccessfulCreate") == 5
    assert ("Normal", "Completed", "Job completed") in events


def test_work_queue_completes_once_a_pod_succeeded_and_none_run(cluster: JobCluster) -> None:
    created = cluster.create_job(job_body("queue", parallelism=3))
    assert "completions" not in created["spec"] and created["spec"]["parallelism"] == 3
    job = cluster.finished("queue", "Complete")
    assert job["status"]["succeeded"] == 3
    assert len(cluster.pods("queue")) == 3


def test_indexed_job_gives_each_pod_its_index(cluster: JobCluster) -> None:
    cluster.create_job(
        job_body("idx", "test/odd-fails-once", completions=4, parallelism=2, completionMode="Indexed")
    )
    job = cluster.finished("idx", "Complete")
    assert job["status"]["completedIndexes"] == "0-3"
    assert (job["status"]["succeeded"], job["status"]["failed"]) == (4, 2)
    pods = cluster.pods("idx")
    assert len(pods) == 6
    assert cluster.kubelet is not None
    for pod in pods:
        meta = pod["metadata"]
        index = meta["annotations"]["batch.kubernetes.io/job-completion-index"]
        assert meta["labels"]["batch.kubernetes.io/job-completion-index"] == index
        assert meta["name"].startswith(f"idx-{index}-")
        assert pod["spec"]["hostname"] == f"idx-{index}"
        assert cluster.kubelet.index_env[meta["name"]] == index
    by_index: dict[str, list[str]] = {}
    for pod in pods:
        index = pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
        by_index.setdefault(index, []).append(pod["status"]["phase"])
    assert {k: sorted(v) for k, v in by_index.items()} == {
        "0": ["Succeeded"], "1": ["Failed", "Succeeded"], "2": ["Succeeded"], "3": ["Failed", "Succeeded"],
    }  # fmt: skip


# -- failing ---------------------------------------------------------------------------------------
def test_backoff_limit_exceeded_fails_the_job(cluster: JobCluster) -> None:
    cluster.create_job(job_body("flaky", "test/fail", backoffLimit=2))
    job = cluster.finished("flaky", "Failed")
    assert job["status"]["failed"] == 3 and "succeeded" not in job["status"]
    assert "completionTime" not in job["status"]
    assert _conditions(job) == {
        "FailureTarget": ("True", "BackoffLimitExceeded"),
        "Failed": ("True", "BackoffLimitExceeded"),
    }
    pods = cluster.pods("flaky")
    assert len(pods) == 3 and {p["status"]["phase"] for p in pods} == {"Failed"}
    assert (
        "Warning",
        "BackoffLimitExceeded",
        "Job has reached the specified backoff limit",
    ) in cluster.events("flaky")
    time.sleep(3 * BACKOFF)
    assert len(cluster.pods("flaky")) == 3  # a failed Job starts no more pods


def test_active_deadline_stops_a_running_job(cluster: JobCluster) -> None:
    cluster.create_job(job_body("slow", "test/hang", activeDeadlineSeconds=1, parallelism=2, completions=4))
    cluster.until(lambda: len(cluster.pods("slow")) == 2, "two pods")
    job = cluster.finished("slow", "Failed")
    assert _conditions(job)["Failed"] == ("True", "DeadlineExceeded")
    assert job["status"]["failed"] == 2  # the running pods were deleted: failures
    cluster.until(lambda: not cluster.pods("slow"), "pods deleted")
    assert ("Warning", "DeadlineExceeded", "Job was active longer than specified deadline") in cluster.events(
        "slow"
    )


def test_a_deleted_pod_counts_as_failed_and_is_replaced(cluster: JobCluster) -> None:
    cluster.create_job(job_body("keep", "test/hang"))
    first = cluster.until(
        lambda: [p for p in cluster.pods("keep") if p["status"]["phase"] == "Running"], "pod"
    )
    name = first[0]["metadata"]["name"]
    status, _ = cluster.call("DELETE", f"/api/v1/namespaces/default/pods/{name}")
    assert status in (200, 202)  # 202: its tracking finalizer keeps it until the Job counted it

    def replaced() -> bool:
        pods = cluster.pods("keep")
        return len(pods) == 1 and pods[0]["metadata"]["name"] != name

    cluster.until(replaced, "a replacement pod")
    cluster.until(lambda: cluster.counter("keep", "failed") == 1, "one failure")


def test_a_pod_removed_before_it_was_counted_still_counts(cluster: JobCluster) -> None:
    """The pod controller removes a deleted pod whatever its finalizers: the Job still counts
    it, from the watch's DELETE event."""
    cluster.create_job(job_body("lost", "test/hang"))
    (pod,) = cluster.until(lambda: cluster.pods("lost"), "a pod")
    assert pod["metadata"]["finalizers"] == ["batch.kubernetes.io/job-tracking"]
    key = f"{resource_prefix(CLUSTER_LOCAL, '', 'pods', 'default')}{pod['metadata']['name']}"

    async def remove() -> None:
        assert cluster.objects is not None
        stored = await cluster.objects.get(key)
        assert stored is not None
        await cluster.objects.delete(key, stored.revision)

    cluster.run(remove())
    cluster.until(lambda: cluster.counter("lost", "failed") == 1, "counted as failed")
    cluster.until(lambda: len(cluster.pods("lost")) == 1, "a replacement")


# -- lifecycle ------------------------------------------------------------------------------------
def test_ttl_after_finished_deletes_the_job_and_its_pods(cluster: JobCluster) -> None:
    cluster.create_job(job_body("brief", ttlSecondsAfterFinished=1))
    cluster.finished("brief", "Complete")
    assert len(cluster.pods("brief")) == 1
    cluster.until(lambda: cluster.job("brief") is None, "job deleted after its TTL")
    assert cluster.pods("brief") == []


def test_suspended_job_waits_for_resume(cluster: JobCluster) -> None:
    cluster.create_job(job_body("later", suspend=True, completions=2))
    job = cluster.until(
        lambda: _conditions(cluster.job("later") or {"status": {}}).get("Suspended"), "suspended"
    )
    assert job == ("True", "JobSuspended")
    time.sleep(0.3)
    assert cluster.pods("later") == [] and "startTime" not in (cluster.job("later") or {})["status"]
    status, _ = cluster.call(
        "PATCH", "/apis/batch/v1/namespaces/default/jobs/later", {"spec": {"suspend": False}},
        "application/merge-patch+json",
    )  # fmt: skip
    assert status == 200
    done = cluster.finished("later", "Complete")
    assert _conditions(done)["Suspended"] == ("False", "JobResumed")
    assert done["status"]["succeeded"] == 2
    reasons = [e[1] for e in cluster.events("later")]
    assert "Suspended" in reasons and "Resumed" in reasons


def test_deleting_a_job_deletes_its_pods(cluster: JobCluster) -> None:
    cluster.create_job(job_body("gone", "test/hang", parallelism=2, completions=2))
    cluster.until(lambda: len(cluster.pods("gone")) == 2, "pods")
    status, _ = cluster.call("DELETE", "/apis/batch/v1/namespaces/default/jobs/gone")
    assert status == 200
    cluster.until(lambda: not cluster.pods("gone"), "pods collected")


def test_orphaned_pods_lose_the_tracking_finalizer(cluster: JobCluster) -> None:
    cluster.create_job(job_body("left", "test/hang"))
    cluster.until(lambda: cluster.pods("left"), "a pod")
    status, _ = cluster.call(
        "DELETE", "/apis/batch/v1/namespaces/default/jobs/left", {"propagationPolicy": "Orphan"}
    )
    assert status in (200, 202)
    cluster.until(lambda: cluster.job("left") is None, "job deleted")

    def released() -> bool:
        (pod,) = cluster.pods("left")
        return "ownerReferences" not in pod["metadata"] and "finalizers" not in pod["metadata"]

    cluster.until(released, "the orphan's finalizer removed")


def test_manual_selector(cluster: JobCluster) -> None:
    body = job_body("manual", manualSelector=True, selector={"matchLabels": {"app": "m"}})
    body["spec"]["template"]["metadata"] = {"labels": {"app": "m"}}
    created = cluster.create_job(body)
    assert created["spec"]["template"]["metadata"]["labels"] == {"app": "m"}
    cluster.finished("manual", "Complete")
    _s, listed = cluster.call("GET", "/api/v1/namespaces/default/pods?labelSelector=app%3Dm")
    assert len(listed["items"]) == 1


# -- validation ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (lambda b: b["spec"]["template"]["spec"].pop("restartPolicy"), "spec.template.spec.restartPolicy",
         'Unsupported value: "Always": supported values: "OnFailure", "Never"'),
        (lambda b: b["spec"]["template"]["spec"].update(restartPolicy="Sometimes"),
         "spec.template.spec.restartPolicy",
         'Unsupported value: "Sometimes": supported values: "OnFailure", "Never"'),
        (lambda b: b["spec"].update(completionMode="Indexed", parallelism=2), "spec.completions",
         "Required value: when completion mode is Indexed"),
        (lambda b: b["spec"].update(completionMode="Sorted"), "spec.completionMode",
         'Unsupported value: "Sorted": supported values: "NonIndexed", "Indexed"'),
        (lambda b: b["spec"].update(parallelism=-1), "spec.parallelism",
         "Invalid value: -1: must be greater than or equal to 0"),
        (lambda b: b["spec"].update(backoffLimit=-2), "spec.backoffLimit",
         "Invalid value: -2: must be greater than or equal to 0"),
        (lambda b: b["spec"]["template"]["spec"]["containers"][0].pop("image"),
         "spec.template.spec.containers[0].image", "Required value"),
        (lambda b: b["spec"].update(manualSelector=True, selector={"matchLabels": {"app": "x"}}),
         "spec.template.metadata.labels", "Invalid value: `selector` does not match template `labels`"),
        (lambda b: b["spec"].update(podFailurePolicy={"rules": []}), "spec.podFailurePolicy",
         "not supported by this stowage release"),
    ],
)  # fmt: skip
def test_invalid_jobs_are_refused(
    shared: JobCluster, change: Callable[[Obj], Any], field: str, message: str
) -> None:
    cluster = shared
    body = job_body("bad")
    change(body)
    status, err = cluster.call("POST", "/apis/batch/v1/namespaces/default/jobs", body)
    assert status == 422, err
    assert (err["kind"], err["reason"], err["code"]) == ("Status", "Invalid", 422)
    assert err["details"]["kind"] == "Job" and err["details"]["group"] == "batch"
    assert (field, message) in [(c["field"], c["message"]) for c in err["details"]["causes"]]
    assert err["message"].startswith('Job.batch "bad" is invalid: ')
    assert cluster.job("bad") is None


def test_template_and_completions_are_immutable(cluster: JobCluster) -> None:
    cluster.create_job(job_body("fixed", "test/hang", completions=2))
    path = "/apis/batch/v1/namespaces/default/jobs/fixed"
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "test/ok"}]}}}}
    status, err = cluster.call("PATCH", path, patch, "application/strategic-merge-patch+json")
    assert status == 422 and err["reason"] == "Invalid", err
    assert err["details"]["causes"][0]["field"] == "spec.template"
    assert err["details"]["causes"][0]["message"].endswith("field is immutable")
    status, err = cluster.call("PATCH", path, {"spec": {"completions": 3}}, "application/merge-patch+json")
    assert status == 422 and err["details"]["causes"][0]["field"] == "spec.completions", err
    # what may change: parallelism, activeDeadlineSeconds, labels
    status, body = cluster.call(
        "PATCH", path, {"spec": {"parallelism": 2}, "metadata": {"labels": {"tier": "batch"}}},
        "application/merge-patch+json",
    )  # fmt: skip
    assert status == 200, body
    assert body["spec"]["parallelism"] == 2 and body["metadata"]["generation"] == 2
    cluster.until(lambda: len(cluster.pods("fixed")) == 2, "a second pod for parallelism 2")
