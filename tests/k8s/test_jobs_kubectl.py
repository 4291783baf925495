"""Jobs with the machine's kubectl: ``create job`` (a protobuf body), ``get jobs`` (the API
server's table columns), ``wait --for=condition=complete|failed``, ``apply`` and its
immutable template, ``delete``; over the in-process cluster of ``test_jobs.py`` (Job
controller + stand-in kubelet), and one wiring check against the real server process."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.k8s.conftest import KUBECTL, K8sServer
from tests.k8s.test_jobs import JobCluster


class Kubectl:
    def __init__(self, cluster: JobCluster) -> None:
        self.cluster = cluster
        self.home = cluster.data_dir

    def __call__(self, *args: str, input: str | None = None, check: bool = True) -> Any:
        if not Path(KUBECTL).exists():
            pytest.fail(f"kubectl is not at {KUBECTL}", pytrace=False)
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
        env["HOME"] = str(self.home)
        proc = subprocess.run(
            [KUBECTL, "--kubeconfig", str(self.home / "kubeconfig"), *args],
            capture_output=True, text=True, input=input, timeout=90, env=env,
        )  # fmt: skip
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    def json(self, *args: str) -> Any:
        return json.loads(self("get", *args, "-o", "json").stdout)


@pytest.fixture()
def kubectl(tmp_path: Path) -> Iterator[Kubectl]:
    c = JobCluster(tmp_path)
    c.start()
    try:
        yield Kubectl(c)
    finally:
        c.stop()


FAILING = """apiVersion: batch/v1
kind: Job
metadata:
  name: broken
spec:
  completions: 2
  parallelism: 2
  backoffLimit: 1
  template:
    metadata:
      labels: {{team: a}}
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: {image}
"""


def test_create_get_wait_and_delete_a_job(kubectl: Kubectl) -> None:
    out = kubectl("create", "job", "hello", "--image=test/ok", "--", "echo", "done")
    assert out.stdout.strip() == "job.batch/hello created"
    kubectl("wait", "--for=condition=complete", "job/hello", "--timeout=60s")
    job = kubectl.json("job", "hello")
    template = job["spec"]["template"]
    assert template["spec"]["containers"][0]["command"] == ["echo", "done"]
    assert template["spec"]["restartPolicy"] == "Never"
    assert set(template["metadata"]) == {"labels"}  # no zero-valued fields from the protobuf body
    assert job["status"]["succeeded"] == 1

    rows = kubectl("get", "jobs").stdout.splitlines()
    assert rows[0].split() == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert rows[1].split()[:3] == ["hello", "Complete", "1/1"]
    wide = kubectl("get", "jobs", "-o", "wide").stdout.splitlines()
    assert wide[0].split()[5:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    uid = job["metadata"]["uid"]
    assert wide[1].split()[5:] == ["hello", "test/ok", f"batch.kubernetes.io/controller-uid={uid}"]

    # a Job that fails: kubectl wait sees the Failed condition, get shows it
    kubectl("apply", "-f", "-", input=FAILING.format(image="test/fail"))
    kubectl("wait", "--for=condition=failed", "job/broken", "--timeout=60s")
    rows = kubectl("get", "jobs", "broken").stdout.splitlines()
    assert rows[1].split()[:3] == ["broken", "Failed", "0/2"]
    assert kubectl.json("job", "broken")["status"]["failed"] >= 2
    # the template is immutable: a second apply with another image is refused
    refused = kubectl("apply", "-f", "-", input=FAILING.format(image="test/ok"), check=False)
    assert refused.returncode != 0
    assert 'The Job "broken" is invalid: spec.template: Invalid value:' in refused.stderr
    assert "field is immutable" in refused.stderr

    listed = kubectl("get", "jobs", "--field-selector", "status.successful=1", "-o", "name").stdout.split()
    assert listed == ["job.batch/hello"]
    resources = kubectl("api-resources", "--api-group=batch", "--no-headers").stdout.split()
    assert resources == ["jobs", "batch/v1", "true", "Job"]
    assert "completions" in kubectl("explain", "job.spec").stdout

    kubectl("delete", "job", "hello", "broken")
    deadline = time.monotonic() + 30
    while kubectl("get", "pods", "-o", "name").stdout.strip():
        assert time.monotonic() < deadline, "the jobs' pods were not deleted"
        time.sleep(0.2)


def test_the_server_runs_the_job_controller(k8s: K8sServer, namespace: str) -> None:
    """Wiring: the real server's Job controller makes the Job's pods (Pending here: the
    session server has no container instances), and deleting the Job removes them even though
    they carry the tracking finalizer."""
    k8s.kubectl("create", "job", "wired", "-n", namespace, "--image=busybox")

    def pods() -> list[Any]:
        out = k8s.kubectl("get", "pods", "-n", namespace, "-l", "job-name=wired", "-o", "json").stdout
        return list(json.loads(out)["items"])

    deadline = time.monotonic() + 30
    while not pods():
        assert time.monotonic() < deadline, "no pod for the job"
        time.sleep(0.2)
    (pod,) = pods()
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "Job"
    assert pod["metadata"]["finalizers"] == ["batch.kubernetes.io/job-tracking"]
    job = json.loads(k8s.kubectl("get", "job", "wired", "-n", namespace, "-o", "json").stdout)
    assert job["status"]["active"] == 1 and job["status"]["startTime"]
    k8s.kubectl("delete", "job", "wired", "-n", namespace)
    while pods():
        assert time.monotonic() < deadline + 30, "the job's pod was not deleted"
        time.sleep(0.2)
