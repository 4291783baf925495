"""Jobs for real: kubectl → the Job controller → pods as ECS tasks on a real agent with Docker.
One Job of 3 completions, 2 at a time, runs to Complete; one that always fails stops at its
backoffLimit. Marked `docker`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.test_pods import Kube, kube  # noqa: F401  (the fixture)
from tests.support.images import TEST_IMAGE

pytestmark = pytest.mark.docker


def _job(name: str, script: str, **spec: Any) -> str:
    return json.dumps({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            **spec,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": 2,
                    "containers": [{
                        "name": "main", "image": TEST_IMAGE, "command": ["sh", "-c", script],
                        "resources": {"requests": {"cpu": "50m", "memory": "16Mi"}},
                    }],
                },
            },
        },
    })  # fmt: skip


def _pods(kube: Kube, job: str) -> list[Any]:  # noqa: F811
    out = kube.kubectl("get", "pods", "-l", f"job-name={job}", "-o", "json").stdout
    return list(json.loads(out)["items"])


def test_a_job_runs_to_complete_and_a_failing_one_stops_at_its_backoff_limit(kube: Kube) -> None:  # noqa: F811
    stack = kube.stack
    stack.start_agent()
    kube.kubectl("apply", "-f", "-", input=_job("batch", "echo done", completions=3, parallelism=2))
    kube.kubectl("wait", "--for=condition=complete", "job/batch", "--timeout=120s")
    job = kube.get("job", "batch")
    assert job["status"]["succeeded"] == 3 and "failed" not in job["status"]
    assert job["status"]["completionTime"] >= job["status"]["startTime"]
    row = kube.kubectl("get", "job", "batch").stdout.splitlines()[1].split()
    assert row[:3] == ["batch", "Complete", "3/3"]
    pods = _pods(kube, "batch")
    assert len(pods) == 3
    for pod in pods:
        assert pod["status"]["phase"] == "Succeeded"
        assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
        # each pod was an ECS task of the cluster, run by the agent
        arn = pod["metadata"]["annotations"]["ecs.stowage.io/task-arn"]
        assert stack.describe(arn)["lastStatus"] == "STOPPED"

    def logged() -> bool:
        out = kube.kubectl("logs", "job/batch", check=False)
        return out.returncode == 0 and out.stdout == "done\n"

    stack.until(logged, "kubectl logs job/batch")

    # every pod fails: one retry (backoffLimit 1, after Kubernetes' 10 s back-off), then Failed
    kube.kubectl("apply", "-f", "-", input=_job("broken", "echo no; exit 3", backoffLimit=1))
    kube.kubectl("wait", "--for=condition=failed", "job/broken", "--timeout=120s")
    job = kube.get("job", "broken")
    assert job["status"]["failed"] == 2 and "succeeded" not in job["status"]
    failed = next(c for c in job["status"]["conditions"] if c["type"] == "Failed")
    assert (failed["reason"], failed["message"]) == (
        "BackoffLimitExceeded", "Job has reached the specified backoff limit",
    )  # fmt: skip
    pods = _pods(kube, "broken")
    assert len(pods) == 2
    assert {p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] for p in pods} == {3}
    assert "BackoffLimitExceeded" in kube.events("broken")

    # deleting the Jobs removes their pods (garbage collection by owner) and containers
    kube.kubectl("delete", "job", "batch", "broken")
    stack.until(lambda: not _pods(kube, "batch") and not _pods(kube, "broken"), "pods deleted")
