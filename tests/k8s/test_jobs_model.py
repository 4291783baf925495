"""The Job rules that are pure functions: defaults, immutable fields, completed-index text,
the failure back-off and how many pods a Job wants."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from stowage.model.k8s import job_status as js
from stowage.model.k8s.defaults import default_object
from stowage.model.k8s.jobs import prepare_job, validate_job, validate_job_update
from stowage.model.k8s.meta import rfc3339

Obj = dict[str, Any]


def _job(**spec: Any) -> Obj:
    job: Obj = {
        "metadata": {"name": "j", "namespace": "default", "uid": "u-1"},
        "spec": {**spec, "template": {"spec": {"restartPolicy": "Never",
                                               "containers": [{"name": "c", "image": "busybox:1.36"}]}}},
    }  # fmt: skip
    default_object("batch/v1", "Job", job)  # what the API server does first, on every write
    prepare_job(job)
    return job


def test_defaults() -> None:
    plain = _job()["spec"]
    assert (plain["completions"], plain["parallelism"], plain["backoffLimit"]) == (1, 1, 6)
    # parallelism without completions: a work queue, completions stays unset
    queue = _job(parallelism=4)["spec"]
    assert "completions" not in queue and queue["parallelism"] == 4
    only_completions = _job(completions=3)["spec"]
    assert (only_completions["completions"], only_completions["parallelism"]) == (3, 1)
    container = plain["template"]["spec"]["containers"][0]
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert _job()["spec"]["template"]["spec"]["dnsPolicy"] == "ClusterFirst"
    # idempotent: the API server runs it again on every update
    job = _job(parallelism=2)
    again = copy.deepcopy(job)
    default_object("batch/v1", "Job", again)
    prepare_job(again)
    assert again == job
    assert validate_job(job) == []


def test_user_labels_conflicting_with_the_generated_ones_are_refused() -> None:
    job = _job()
    job["spec"]["template"]["metadata"]["labels"]["controller-uid"] = "someone-else"
    prepare_job(job)
    causes = {c.field: c.message for c in validate_job(job)}
    field = "spec.template.metadata.labels[controller-uid]"
    assert causes[field] == "Invalid value: \"someone-else\": must be 'u-1'"


def test_immutable_fields() -> None:
    old = _job(completions=4, parallelism=2)
    new = copy.deepcopy(old)
    new["spec"]["parallelism"] = 3
    new["spec"]["activeDeadlineSeconds"] = 60
    assert validate_job_update(old, new) == []
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "busybox:2"
    new["spec"]["completions"] = 5
    assert {c.field for c in validate_job_update(old, new)} == {"spec.template", "spec.completions"}

    # an Indexed Job may scale completions and parallelism together (elastic Indexed Jobs)
    old = _job(completions=4, parallelism=4, completionMode="Indexed")
    new = copy.deepcopy(old)
    new["spec"].update(completions=6, parallelism=6)
    assert validate_job_update(old, new) == []
    new["spec"]["parallelism"] = 5
    assert [c.field for c in validate_job_update(old, new)] == ["spec.completions"]

    # a suspended Job that never started may change its scheduling directives, nothing else
    old = _job(suspend=True)
    new = copy.deepcopy(old)
    new["spec"]["template"]["spec"]["nodeSelector"] = {"disk": "ssd"}
    assert validate_job_update(old, new) == []
    started = {**old, "status": {"startTime": rfc3339(0)}}
    assert [c.field for c in validate_job_update(started, new)] == ["spec.template"]


@pytest.mark.parametrize(
    ("indexes", "text"),
    [(set(), ""), ({0}, "0"), ({0, 1}, "0,1"), ({0, 1, 2}, "0-2"), ({1, 3, 4, 5, 7}, "1,3-5,7")],
)
def test_completed_indexes_text(indexes: set[int], text: str) -> None:
    assert js.format_indexes(indexes) == text
    assert js.parse_indexes(text, 10) == indexes


def test_completed_indexes_past_completions_are_dropped() -> None:
    assert js.parse_indexes("0-3,9", 3) == {0, 1, 2}
    assert js.parse_indexes("x,2", 5) == {2}


def _ended(phase: str, at: float) -> Obj:
    return {
        "status": {
            "phase": phase,
            "containerStatuses": [{"state": {"terminated": {"finishedAt": rfc3339(at)}}}],
        }
    }


def test_failure_backoff_doubles_and_resets_after_a_success() -> None:
    assert js.backoff_remaining([], 100.0) == 0.0
    one = [_ended("Failed", 100)]
    assert js.backoff_remaining(one, 103.0) == 7.0
    three = [_ended("Failed", 90), _ended("Failed", 95), _ended("Failed", 100)]
    assert js.backoff_remaining(three, 100.0) == 40.0
    assert js.backoff_remaining(three, 150.0) == 0.0
    many = [_ended("Failed", float(i)) for i in range(12)]
    assert js.backoff_remaining(many, 11.0) == js.MAX_BACKOFF
    # failures before the last success do not count
    mixed = [_ended("Failed", 90), _ended("Failed", 95), _ended("Succeeded", 97), _ended("Failed", 100)]
    assert js.backoff_remaining(mixed, 100.0) == 10.0


def test_wanted_active_pods() -> None:
    assert js.want_active(_job(completions=5, parallelism=2), succeeded=0, active_now=0) == 2
    assert js.want_active(_job(completions=5, parallelism=2), succeeded=4, active_now=2) == 1
    assert js.want_active(_job(completions=5, parallelism=2), succeeded=6, active_now=0) == 0
    assert js.want_active(_job(parallelism=3), succeeded=0, active_now=1) == 3
    # a work queue with a success starts nothing new and leaves the running ones alone
    assert js.want_active(_job(parallelism=3), succeeded=1, active_now=2) == 2
    assert js.want_active(_job(completions=5, suspend=True), succeeded=0, active_now=1) == 0


def test_pending_indexes_skip_done_and_running() -> None:
    assert js.pending_indexes(6, done={0, 2}, running={1}, count=2) == [3, 4]
    assert js.pending_indexes(3, done={0, 1, 2}, running=set(), count=2) == []


def test_on_failure_restarts_count_against_the_backoff_limit() -> None:
    def running(restarts: int) -> Obj:
        return {"status": {"phase": "Running", "containerStatuses": [{"restartCount": restarts}]}}

    job = _job(backoffLimit=3)
    assert not js.restarts_past_limit(job, [running(5)])  # restartPolicy Never: not counted
    job["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    assert not js.restarts_past_limit(job, [running(1), running(1)])
    assert js.restarts_past_limit(job, [running(1), running(2)])
    job["spec"]["backoffLimit"] = 0
    assert not js.restarts_past_limit(job, [running(0)])
    assert js.restarts_past_limit(job, [running(1)])
