"""Which instance of a pod container ``kubectl logs [--previous]`` reads, from the pod status
the agent's reports give (`model.k8s.container_logs` over `model.k8s.pod_status`): pure."""

from __future__ import annotations

from typing import Any

import pytest

from stowage.model.k8s import pod_status as ps
from stowage.model.k8s.container_logs import instance_over, instance_stream, log_instance
from stowage.model.k8s.errors import K8sError

SPEC = {"name": "app", "image": "busybox"}


def pod_with(last: str = "RUNNING", task_last: str = "RUNNING", **private: Any) -> dict[str, Any]:
    """A pod whose status is mapped from a task container the agent reported."""
    runtime = private.pop("runtimeId", None)
    c: dict[str, Any] = {"name": "app", "lastStatus": last}
    if runtime:
        c["runtimeId"] = runtime
    if "exitCode" in private:
        c["exitCode"] = private.pop("exitCode")
    task = {
        "lastStatus": task_last, "createdAt": 1000.0, "startedAt": 1001.0, "containers": [c],
        "_containers": {"app": private}, "_pod": {"name": "web", "namespace": "shop", "uid": "u"},
    }  # fmt: skip
    status = ps.container_status(SPEC, c, task)
    return {"metadata": {"name": "web"}, "status": {"containerStatuses": [status]}}


def _exit(runtime_id: str, code: int = 1) -> dict[str, Any]:
    return {"runtimeId": runtime_id, "exitCode": code, "startedAt": 1002.0, "finishedAt": 1003.0}


def _error(pod: dict[str, Any], *, previous: bool) -> str:
    with pytest.raises(K8sError) as err:
        log_instance(pod, "app", previous=previous)
    assert err.value.code == 400 and err.value.reason == "BadRequest"
    return err.value.message


def test_instance_streams_keep_the_first_name() -> None:
    assert instance_stream("web/app/t1", 0) == "web/app/t1"
    assert instance_stream("web/app/t1", 3) == "web/app/t1/3"


def test_a_container_that_never_restarted_has_no_previous_instance() -> None:
    pod = pod_with(runtimeId="c0", restartCount=0)
    assert log_instance(pod, "app", previous=False) == 0
    assert _error(pod, previous=True) == 'previous terminated container "app" in pod "web" not found'
    assert not instance_over(pod, "app", 0)


def test_running_after_restarts_reads_the_current_instance_and_the_one_before() -> None:
    pod = pod_with(runtimeId="c2", restartCount=2, lastExit=_exit("c1"))
    assert log_instance(pod, "app", previous=False) == 2
    assert log_instance(pod, "app", previous=True) == 1
    assert not instance_over(pod, "app", 2)
    assert instance_over(pod, "app", 1)  # a follow of instance 1 ends: 2 runs now


def test_in_crash_loop_back_off_both_read_the_instance_that_just_exited() -> None:
    """As the kubelet: the waiting container's last state is its newest (exited) instance."""
    life = {"waitingReason": "CrashLoopBackOff", "backOffSeconds": 10, "ready": False, "started": False}
    pod = pod_with(runtimeId="c1", restartCount=1, lastExit=_exit("c1"), lifecycle=life)
    assert "waiting" in pod["status"]["containerStatuses"][0]["state"]
    assert log_instance(pod, "app", previous=False) == 1
    assert log_instance(pod, "app", previous=True) == 1
    assert instance_over(pod, "app", 1)


def test_terminated_after_a_restart_and_stopped_in_back_off() -> None:
    done = pod_with("STOPPED", "STOPPED", runtimeId="c1", exitCode=0, restartCount=1, lastExit=_exit("c0"))
    assert (log_instance(done, "app", previous=False), log_instance(done, "app", previous=True)) == (1, 0)
    assert instance_over(done, "app", 1)
    # stopped while waiting out a back-off: the last run is both
    stopped = pod_with("STOPPED", "STOPPED", runtimeId="c3", exitCode=1, restartCount=3, lastExit=_exit("c3"))
    assert (log_instance(stopped, "app", previous=False), log_instance(stopped, "app", previous=True)) == (
        3,
        3,
    )


def test_a_container_not_started_yet() -> None:
    pending = pod_with("PENDING", "PENDING")
    assert (
        _error(pending, previous=False)
        == 'container "app" in pod "web" is waiting to start: ContainerCreating'
    )
    assert _error(pending, previous=True) == 'previous terminated container "app" in pod "web" not found'
    no_status = {"metadata": {"name": "web"}, "status": {}}
    assert _error(no_status, previous=False).endswith("is waiting to start: ContainerCreating")
    # the next instance being created: the last one's output
    between = pod_with("PENDING", restartCount=2, lastExit=_exit("c1"))
    assert log_instance(between, "app", previous=False) == 1
    assert log_instance(between, "app", previous=True) == 1


def test_init_container_statuses_are_read_too() -> None:
    pod = pod_with(runtimeId="c1", restartCount=1, lastExit=_exit("c0"))
    init = {**pod["status"]["containerStatuses"][0], "name": "setup"}
    both = {"metadata": {"name": "web"}, "status": {"initContainerStatuses": [init]}}
    assert log_instance(both, "setup", previous=True) == 0
    assert instance_over(both, "app", 0)  # no such container any more
