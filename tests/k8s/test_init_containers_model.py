"""Init containers: the ECS dependency chain they become, what the pod reserves, the API
server's checks, and the pod status and STATUS column while they run. Pure."""

from __future__ import annotations

from typing import Any

from stowage.api.k8s.workloads import pod_phase_reason
from stowage.model.k8s import init_containers as ic
from stowage.model.k8s import pod_status as ps
from stowage.model.k8s import pods
from stowage.model.k8s.meta import rfc3339

NOW = 1_700_000_000.0


def pod(restart: str = "Always", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "metadata": {"name": "web", "namespace": "shop", "uid": "0a1b2c3d-0000-4000-a000-00000000abcd"},
        "spec": {
            "restartPolicy": restart,
            "initContainers": [
                {
                    "name": "fetch",
                    "image": "busybox",
                    "resources": {"requests": {"cpu": "2", "memory": "32Mi"}},
                },
                {"name": "migrate", "image": "busybox"},
            ],
            "containers": [
                {
                    "name": "app",
                    "image": "busybox",
                    "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}},
                },
                {
                    "name": "side",
                    "image": "busybox",
                    "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}},
                },
            ],
            **spec,
        },
    }
    pods.prepare_pod(body)
    return body


def test_init_containers_come_first_chained_by_success() -> None:
    td = pods.task_definition(pod(), arn="a", cluster="local", region="r", sources={}, node=None)
    defs = {d["name"]: d for d in td["containerDefinitions"]}
    assert [d["name"] for d in td["containerDefinitions"]] == ["fetch", "migrate", "app", "side"]
    assert defs["fetch"]["essential"] is False and "dependsOn" not in defs["fetch"]
    assert defs["migrate"]["essential"] is False
    assert defs["migrate"]["dependsOn"] == [{"containerName": "fetch", "condition": "SUCCESS"}]
    for app in ("app", "side"):
        assert defs[app]["essential"] is True
        assert defs[app]["dependsOn"] == [{"containerName": "migrate", "condition": "SUCCESS"}]
        assert defs[app]["startTimeout"] == ic.NEVER_TIMES_OUT


def test_a_pod_without_init_containers_has_no_dependencies() -> None:
    p = pod()
    del p["spec"]["initContainers"]
    td = pods.task_definition(p, arn="a", cluster="local", region="r", sources={}, node=None)
    assert all("dependsOn" not in d and d["essential"] for d in td["containerDefinitions"])


def test_the_pod_reserves_the_larger_of_apps_and_the_biggest_init_container() -> None:
    needs = pods.needs_of(pod())
    assert (needs.cpu, needs.memory) == (2048, 128)  # cpu from "fetch", memory from the apps


def test_init_container_checks() -> None:
    dup = pod(initContainers=[{"name": "app", "image": "busybox"}])
    assert [(c.field, c.reason) for c in pods.validate_pod(dup)] == [
        ("spec.containers[0].name", "FieldValueDuplicate")
    ]
    probed = pod(
        initContainers=[{"name": "i", "image": "busybox", "readinessProbe": {"exec": {"command": ["true"]}}}]
    )
    assert [c.field for c in pods.validate_pod(probed)] == ["spec.initContainers[0].readinessProbe"]
    sidecar = pod(initContainers=[{"name": "i", "image": "busybox", "restartPolicy": "Always"}])
    assert [c.reason for c in pods.validate_pod(sidecar)] == ["FieldValueNotSupported"]
    no_image = pod(initContainers=[{"name": "i"}])
    assert [c.field for c in pods.validate_pod(no_image)] == ["spec.initContainers[0].image"]


def _task(last: str, **containers: dict[str, Any]) -> dict[str, Any]:
    return {
        "lastStatus": last,
        "createdAt": NOW - 10,
        "containers": [{"name": n, **c} for n, c in containers.items()],
    }


def _status(p: dict[str, Any], task: dict[str, Any]) -> dict[str, Any]:
    status = ps.status_from_task(p, task, now=NOW, host_ip=None)
    return ic.with_init_status(p, task, status, now=NOW)


def _view(p: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    return {**p, "status": status}


def test_status_while_the_first_init_container_runs() -> None:
    p = pod()
    task = _task("PENDING", fetch={"lastStatus": "RUNNING", "runtimeId": "c1"}, migrate={}, app={}, side={})
    status = _status(p, task)
    assert status["phase"] == "Pending"
    inits = status["initContainerStatuses"]
    assert [s["name"] for s in inits] == ["fetch", "migrate"]
    assert "running" in inits[0]["state"] and inits[0]["containerID"] == "docker://c1"
    assert inits[1]["state"] == {"waiting": {"reason": "PodInitializing"}}
    assert [s["state"] for s in status["containerStatuses"]] == [
        {"waiting": {"reason": "PodInitializing"}}
    ] * 2
    initialized = next(c for c in status["conditions"] if c["type"] == "Initialized")
    assert initialized["status"] == "False" and initialized["reason"] == "ContainersNotInitialized"
    assert initialized["message"] == "containers with incomplete status: [fetch migrate]"
    assert pod_phase_reason(_view(p, status)) == "Init:0/2"


def test_status_after_the_first_init_container_succeeded() -> None:
    p = pod()
    task = _task(
        "PENDING",
        fetch={"lastStatus": "STOPPED", "runtimeId": "c1", "exitCode": 0},
        migrate={"lastStatus": "RUNNING", "runtimeId": "c2"},
        app={},
        side={},
    )
    status = _status(p, task)
    done = status["initContainerStatuses"][0]
    assert done["state"]["terminated"]["reason"] == "Completed" and done["ready"] is True
    assert done["state"]["terminated"]["finishedAt"] == rfc3339(NOW)  # first seen finished
    assert pod_phase_reason(_view(p, status)) == "Init:1/2"
    # later looks (the task stopped long after) keep when it finished
    later = {**task, "lastStatus": "STOPPED", "executionStoppedAt": NOW + 600}
    again = ic.with_init_status(
        _view(p, status),
        later,
        ps.status_from_task(_view(p, status), later, now=NOW + 600, host_ip=None),
        now=NOW + 600,
    )
    assert again["initContainerStatuses"][0]["state"]["terminated"]["finishedAt"] == rfc3339(NOW)


def test_status_once_every_init_container_succeeded() -> None:
    p = pod()
    task = _task(
        "RUNNING",
        fetch={"lastStatus": "STOPPED", "runtimeId": "c1", "exitCode": 0},
        migrate={"lastStatus": "STOPPED", "runtimeId": "c2", "exitCode": 0},
        app={"lastStatus": "RUNNING", "runtimeId": "c3"},
        side={"lastStatus": "RUNNING", "runtimeId": "c4"},
    )
    status = _status(p, task)
    assert status["phase"] == "Running"
    assert all(c["status"] == "True" for c in status["conditions"])
    assert all(s["ready"] for s in status["initContainerStatuses"])
    assert pod_phase_reason(_view(p, status)) == "Running"


def test_a_failed_init_container_fails_the_pod() -> None:
    p = pod("Never")
    reason = "CannotStartContainerError: dependency graph: failed to resolve container ordering"
    task = _task(
        "STOPPED",
        fetch={"lastStatus": "STOPPED", "runtimeId": "c1", "exitCode": 3},
        migrate={"lastStatus": "STOPPED", "reason": reason},
        app={"lastStatus": "STOPPED", "reason": reason},
        side={"lastStatus": "STOPPED", "reason": reason},
    )
    status = _status(p, task)
    assert status["phase"] == "Failed"
    term = status["initContainerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 3 and term["reason"] == "Error"
    assert status["initContainerStatuses"][1]["state"] == {"waiting": {"reason": "PodInitializing"}}
    # app containers never ran: waiting, not "ContainerCannotRun"
    assert {str(s["state"]) for s in status["containerStatuses"]} == {
        str({"waiting": {"reason": "PodInitializing"}})
    }
    assert pod_phase_reason(_view(p, status)) == "Init:Error"
    assert not any(ev.reason == "Failed" for ev in ps.transition_events({}, status))
