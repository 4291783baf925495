"""Restarts and probes on the Kubernetes side, pure: the ``_k8s`` member a pod's containers
carry to the agent, the probe defaults and checks, the pod status and events the agent's
restart/probe reports give."""

from __future__ import annotations

from typing import Any

from stowage.model.k8s import pod_lifecycle as pl
from stowage.model.k8s import pod_status as ps
from stowage.model.k8s import pods
from stowage.model.k8s.pod_probe_events import ProbeChange, Seen, probe_changes, probe_event

UID = "0a1b2c3d-0000-4000-a000-00000000abcd"


def pod(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "metadata": {"name": "web", "namespace": "shop", "uid": UID},
        "spec": {"containers": [{"name": "app", "image": "busybox:1.36"}], **spec},
    }
    pods.prepare_pod(body)
    return body


PRIVATE = ("restartCount", "startedAt", "lastExit", "lifecycle")


def task(last: str, **container: Any) -> dict[str, Any]:
    """A pod's task record; the agent's private container members go where the control plane
    keeps them (``_containers``)."""
    private = {k: container.pop(k) for k in PRIVATE if k in container}
    c = {"name": "app", "lastStatus": container.pop("status", last), **container}
    return {
        "lastStatus": last,
        "createdAt": 1000.0,
        "startedAt": 1001.0,
        "containers": [c],
        "_containers": {"app": private},
        "_pod": {"name": "web", "namespace": "shop", "uid": UID},
    }


def test_probe_defaults_and_the_member_the_agent_gets() -> None:
    probe = {"httpGet": {"port": "http"}}
    p = pod(
        restartPolicy="OnFailure",
        containers=[
            {
                "name": "app",
                "image": "busybox",
                "livenessProbe": probe,
                "ports": [{"name": "http", "containerPort": 8080}],
            }
        ],
        initContainers=[{"name": "setup", "image": "busybox"}],
    )
    liveness = p["spec"]["containers"][0]["livenessProbe"]
    assert liveness == {
        "httpGet": {"port": "http", "path": "/", "scheme": "HTTP"},
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    td = {"containerDefinitions": [{"name": "setup"}, {"name": "app"}]}
    pl.attach(p, td)
    setup, app = td["containerDefinitions"]
    assert setup["_k8s"] == {"restartPolicy": "OnFailure", "init": True}
    assert app["_k8s"] == {"restartPolicy": "OnFailure", "livenessProbe": liveness, "ports": {"http": 8080}}
    limited = pod(containers=[{"name": "app", "image": "b", "resources": {"limits": {"cpu": "250m"}}}])
    td = pl.attach(limited, {"containerDefinitions": [{"name": "app"}]})
    assert td["containerDefinitions"][0]["_k8s"] == {"restartPolicy": "Always", "nanoCpus": 250_000_000}
    never = pod(restartPolicy="Never", initContainers=[{"name": "setup", "image": "busybox"}])
    td = pl.attach(never, {"containerDefinitions": [{"name": "setup"}, {"name": "app"}]})
    assert [d["_k8s"]["restartPolicy"] for d in td["containerDefinitions"]] == ["Never", "Never"]


def test_probe_checks_as_the_api_server_makes_them() -> None:
    def causes(**probe: Any) -> list[tuple[str, str]]:
        p = {"spec": {"containers": [{"name": "app", "image": "x", **probe}]}}
        return [(c.field, c.message) for c in pl.validate_probes(p)]

    assert causes(livenessProbe={"exec": {"command": ["true"]}}) == []
    assert causes(readinessProbe={}) == [
        ("spec.containers[0].readinessProbe", "Required value: must specify a handler type")
    ]
    assert causes(livenessProbe={"exec": {"command": ["true"]}, "tcpSocket": {"port": 80}}) == [
        ("spec.containers[0].livenessProbe.tcpSocket", "Forbidden: may not specify more than 1 handler type")
    ]
    assert causes(livenessProbe={"tcpSocket": {"port": 80}, "successThreshold": 2}) == [
        ("spec.containers[0].livenessProbe.successThreshold", "Invalid value: 2: must be 1")
    ]
    assert causes(readinessProbe={"tcpSocket": {"port": 80}, "successThreshold": 2}) == []
    assert causes(startupProbe={"httpGet": {"port": 0}, "periodSeconds": -1}) == [
        (
            "spec.containers[0].startupProbe.periodSeconds",
            "Invalid value: -1: must be greater than or equal to 0",
        ),
        (
            "spec.containers[0].startupProbe.httpGet.port",
            "Invalid value: 0: must be between 1 and 65535, inclusive",
        ),
    ]
    assert causes(livenessProbe={"grpc": {"port": 9000}}) == []
    assert causes(readinessProbe={"grpc": {"service": "x"}}) == [
        (
            "spec.containers[0].readinessProbe.grpc.port",
            "Invalid value: 0: must be between 1 and 65535, inclusive",
        )
    ]


def test_crash_loop_status_last_state_and_events() -> None:
    p = pod()
    running = ps.status_from_task(
        p,
        task("RUNNING", runtimeId="c1", imageDigest="sha256:1", restartCount=0, startedAt=1001.0,
             lifecycle={"ready": True, "started": True}),
        now=1002, host_ip=None,
    )  # fmt: skip
    assert running["containerStatuses"][0]["lastState"] == {}
    assert running["containerStatuses"][0]["ready"] is True
    exited = {"exitCode": 1, "startedAt": 1001.0, "finishedAt": 1005.0, "runtimeId": "c1"}
    # restarted at once: a new container, running again
    live = {"ready": True, "started": True}
    again = ps.status_from_task(
        {**p, "status": running},
        task("RUNNING", runtimeId="c2", imageDigest="sha256:1", restartCount=1, startedAt=1005.5,
             lastExit=exited, lifecycle=live),
        now=1006, host_ip=None,
    )  # fmt: skip
    status = again["containerStatuses"][0]
    assert status["restartCount"] == 1 and status["containerID"] == "docker://c2"
    assert status["state"]["running"]["startedAt"] == "1970-01-01T00:16:45Z"
    assert status["lastState"]["terminated"] == {
        "exitCode": 1,
        "reason": "Error",
        "startedAt": "1970-01-01T00:16:41Z",
        "finishedAt": "1970-01-01T00:16:45Z",
        "containerID": "docker://c1",
    }
    assert [e.reason for e in ps.transition_events(running, again)] == ["Pulled", "Created", "Started"]
    # exited again: back-off
    exited2 = {**exited, "runtimeId": "c2", "finishedAt": 1007.0}
    backing_off = {
        "ready": False,
        "started": False,
        "waitingReason": "CrashLoopBackOff",
        "backOffSeconds": 10,
    }
    waiting = ps.status_from_task(
        {**p, "status": again},
        task("RUNNING", runtimeId="c2", imageDigest="sha256:1", restartCount=1, lastExit=exited2,
             lifecycle=backing_off),
        now=1008, host_ip=None,
    )  # fmt: skip
    status = waiting["containerStatuses"][0]
    assert status["state"] == {
        "waiting": {
            "reason": "CrashLoopBackOff",
            "message": f"back-off 10s restarting failed container=app pod=web_shop({UID})",
        }
    }
    assert status["ready"] is False and waiting["phase"] == "Running"
    ready = next(c for c in waiting["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == "ContainersNotReady"
    events = ps.transition_events(again, waiting)
    assert [(e.reason, e.type, e.message) for e in events] == [
        ("BackOff", "Warning", f"Back-off restarting failed container app in pod web_shop({UID})")
    ]
    assert ps.transition_events(waiting, waiting) == []


def test_readiness_from_the_agent_makes_the_pod_ready_or_not() -> None:
    p = pod()
    unready = ps.status_from_task(
        p,
        task("RUNNING", runtimeId="c1", lifecycle={"ready": False, "started": True}),
        now=1002,
        host_ip=None,
    )
    s = unready["containerStatuses"][0]
    assert s["ready"] is False and s["started"] is True and "running" in s["state"]
    conditions = {c["type"]: c["status"] for c in unready["conditions"]}
    assert conditions["Ready"] == conditions["ContainersReady"] == "False"
    ready = ps.status_from_task(
        {**p, "status": unready},
        task("RUNNING", runtimeId="c1", lifecycle={"ready": True, "started": True}),
        now=1003,
        host_ip=None,
    )
    assert {c["type"]: c["status"] for c in ready["conditions"]}["Ready"] == "True"
    assert ps.transition_events(unready, ready) == []


def test_unhealthy_and_killing_events_from_probe_reports() -> None:
    def report(count: int, killing: str = "", restarts: int = 0) -> dict[str, Any]:
        life: dict[str, Any] = {
            "probeFailure": {
                "probe": "Liveness",
                "message": "HTTP probe failed with statuscode: 500",
                "count": count,
            }
        }
        if killing:
            life["killing"] = killing
        return task("RUNNING", restartCount=restarts, lifecycle=life)

    changes, seen = probe_changes(report(1), {})
    assert changes == [ProbeChange("Unhealthy", "app", "Liveness", "HTTP probe failed with statuscode: 500")]
    assert seen == {"app": Seen(1, "")}
    assert probe_changes(report(1), seen)[0] == []
    changes, seen = probe_changes(report(3, "Liveness"), seen)
    assert [c.kind for c in changes] == ["Unhealthy", "Killing"]
    assert probe_changes(report(3, "Liveness"), seen)[0] == []  # the same kill, once
    assert [c.kind for c in probe_changes(report(6, "Liveness", restarts=1), seen)[0]] == [
        "Unhealthy",
        "Killing",
    ]
    unhealthy = probe_event(changes[0], "Always")
    assert (unhealthy.reason, unhealthy.type) == ("Unhealthy", "Warning")
    assert unhealthy.message == "Liveness probe failed: HTTP probe failed with statuscode: 500"
    assert (
        probe_event(changes[1], "Always").message == "Container app failed liveness probe, will be restarted"
    )
    assert probe_event(changes[1], "Never").message == "Container app failed liveness probe"
