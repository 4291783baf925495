"""Restarts and probes for real: kubectl and the Python client against pods whose containers
crash, fail their liveness probe or wait for their readiness probe, run by a real agent on
Docker; and an ECS task whose container restartPolicy restarts it. Marked `docker`."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from stowage.agent import labels as lbl
from stowage.runtime.docker import DockerRuntime
from tests.e2e.stack import ENGINE_URL, Stack
from tests.e2e.test_pods import Kube, kube  # noqa: F401  (the fixture)
from tests.support.images import TEST_IMAGE

pytestmark = pytest.mark.docker


def _pod(name: str, script: str, **container: Any) -> str:
    return json.dumps({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 2,
            "containers": [
                {"name": "main", "image": TEST_IMAGE, "command": ["sh", "-c", script], **container}
            ],
        },
    })  # fmt: skip


def _status(k: Kube, name: str) -> dict[str, Any]:
    statuses = k.get("pod", name)["status"].get("containerStatuses") or [{}]
    return dict(statuses[0])


def _events(k: Kube, name: str) -> list[tuple[str, str]]:
    out = k.kubectl("get", "events", "--field-selector", f"involvedObject.name={name}", "-o", "json")
    return [(str(e["reason"]), str(e["message"])) for e in json.loads(out.stdout)["items"]]


def _docker_exec(cid: str, *command: str) -> int:
    async def main() -> int:
        rt = await DockerRuntime.connect(ENGINE_URL)
        try:
            return (await rt.exec(cid, command, timeout_s=10)).exit_code
        finally:
            await rt.close()

    return asyncio.run(main())


def test_a_crashing_container_restarts_with_back_off(kube: Kube) -> None:  # noqa: F811
    kube.stack.start_agent()
    kube.kubectl("apply", "-f", "-", input=_pod("crash", "echo boom; exit 1"))

    def backing_off() -> bool:
        s = _status(kube, "crash")
        waiting = (s.get("state") or {}).get("waiting") or {}
        return s.get("restartCount", 0) >= 2 and waiting.get("reason") == "CrashLoopBackOff"

    kube.stack.until(backing_off, "restartCount 2 in CrashLoopBackOff", within=90)
    pod = kube.get("pod", "crash")
    assert pod["status"]["phase"] == "Running"
    s = pod["status"]["containerStatuses"][0]
    uid = pod["metadata"]["uid"]
    assert s["state"]["waiting"]["message"] == (
        f"back-off 20s restarting failed container=main pod=crash_default({uid})"
    )
    assert s["lastState"]["terminated"]["exitCode"] == 1
    assert s["lastState"]["terminated"]["reason"] == "Error" and s["ready"] is False
    row = kube.kubectl("get", "pod", "crash").stdout.splitlines()[1].split()
    assert row[:3] == ["crash", "0/1", "CrashLoopBackOff"] and row[3] == "2"
    events = _events(kube, "crash")
    assert ("BackOff", f"Back-off restarting failed container main in pod crash_default({uid})") in events
    assert [r for r, _ in events].count("Started") >= 2
    # each attempt is a container of its own: the previous one kept, in the pod's namespace
    attempts = sorted(kube.pod_containers("crash"), key=lambda c: int(c.labels.get(lbl.ATTEMPT, "0")))
    assert [c.labels.get(lbl.ATTEMPT) for c in attempts][-2:] == ["1", "2"]
    assert all(c.exit_code == 1 for c in attempts)
    # the official client reads the same
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=str(kube.k8s.kubeconfig))
    try:
        read = client.CoreV1Api(api).read_namespaced_pod("crash", "default").status.container_statuses[0]
        assert read.restart_count >= 2 and read.last_state.terminated.exit_code == 1
    finally:
        api.close()
    # each attempt logs apart; in back-off both read the attempt that just exited (as upstream)
    kube.stack.until(lambda: kube.kubectl("logs", "crash", check=False).stdout == "boom\n", "its logs")
    assert kube.kubectl("logs", "crash", "--previous").stdout == "boom\n"
    # the task is still the same RUNNING task
    arn = pod["metadata"]["annotations"]["ecs.stowage.io/task-arn"]
    assert kube.stack.describe(arn)["lastStatus"] == "RUNNING"
    kube.kubectl("delete", "pod", "crash", "--timeout=60s")


def test_a_failing_liveness_probe_kills_and_restarts(kube: Kube) -> None:  # noqa: F811
    kube.stack.start_agent()
    probe = {"httpGet": {"port": 8080, "path": "/healthz"}, "periodSeconds": 1, "failureThreshold": 2}
    kube.kubectl("apply", "-f", "-", input=_pod("live", "exec sleep 3600", livenessProbe=probe))
    kube.stack.until(lambda: _status(kube, "live").get("restartCount", 0) >= 1, "restarted", within=60)
    s = _status(kube, "live")
    assert s["lastState"]["terminated"]["exitCode"] == 137  # sleep ignores SIGTERM as PID 1: killed
    ip = kube.get("pod", "live")["status"]["podIP"]
    url = f"http://{ip}:8080/healthz"

    def announced() -> list[tuple[str, str]] | None:
        events = _events(kube, "live")
        reasons = [r for r, _ in events]
        return events if "Unhealthy" in reasons and "Killing" in reasons else None

    events = kube.stack.until(announced, "Unhealthy and Killing events")
    assert (
        "Unhealthy",
        f'Liveness probe failed: Get "{url}": dial tcp {ip}:8080: connect: connection refused',
    ) in events
    assert ("Killing", "Container main failed liveness probe, will be restarted") in events
    kube.kubectl("delete", "pod", "live", "--timeout=60s")


def test_a_readiness_probe_holds_the_pod_until_its_file_exists(kube: Kube) -> None:  # noqa: F811
    kube.stack.start_agent()
    probe = {"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1}
    kube.kubectl("apply", "-f", "-", input=_pod("gate", "exec sleep 3600", readinessProbe=probe))
    kube.kubectl("create", "service", "clusterip", "gate", "--tcp=80:80")  # selects app=gate

    def endpoints(kind: str) -> list[str]:
        ep = kube.get("endpoints", "gate")
        return [a["ip"] for s in ep.get("subsets") or [] for a in s.get(kind) or []]

    def unhealthy() -> bool:
        return any(r == "Unhealthy" for r, _ in _events(kube, "gate"))

    kube.stack.until(unhealthy, "a failed readiness probe")
    pod = kube.get("pod", "gate")
    assert pod["status"]["phase"] == "Running"
    ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
    assert ready["Ready"] == ready["ContainersReady"] == "False"
    s = pod["status"]["containerStatuses"][0]
    assert s["ready"] is False and s["started"] is True and "running" in s["state"]
    assert kube.kubectl("get", "pod", "gate").stdout.splitlines()[1].split()[:3] == ["gate", "0/1", "Running"]
    message = dict(_events(kube, "gate"))["Unhealthy"]
    assert message.startswith("Readiness probe failed: cat: can't open '/tmp/ready': No such file")
    ip = pod["status"]["podIP"]
    kube.stack.until(
        lambda: endpoints("notReadyAddresses") == [ip], "the unready pod kept out of the service"
    )
    assert endpoints("addresses") == []
    [container] = kube.pod_containers("gate")
    assert _docker_exec(container.id, "touch", "/tmp/ready") == 0
    kube.kubectl("wait", "--for=condition=Ready", "pod/gate", "--timeout=30s")
    assert _status(kube, "gate")["ready"] is True and _status(kube, "gate")["restartCount"] == 0
    kube.stack.until(lambda: endpoints("addresses") == [ip], "the ready pod in the service")
    kube.kubectl("delete", "pod", "gate", "--timeout=60s")


def test_an_ecs_container_restart_policy_restarts_it_in_its_task(stack: Stack) -> None:
    """ECS restarts only a container that ran ``restartAttemptPeriod`` (60 s at least): this one
    runs 61 s, exits 1, and its second attempt (which finds its marker) keeps running."""
    stack.start_agent()
    script = "if [ -e /state/once ]; then exec sleep 3600; fi; touch /state/once; sleep 61; exit 1"
    td = stack.register(
        "restarts",
        {
            "name": "app", "image": TEST_IMAGE, "memory": 32, "command": ["sh", "-c", script],
            "stopTimeout": 2,
            "restartPolicy": {"enabled": True, "restartAttemptPeriod": 60},
            "mountPoints": [{"sourceVolume": "state", "containerPath": "/state"}],
        },
        volumes=[{"name": "state"}],
    )  # fmt: skip
    arn = stack.run_task(td)
    stack.wait_status(arn, "RUNNING")
    first = stack.task_containers(arn)["app"]

    def restarted() -> list[Any] | None:
        found = stack.engine.containers(**{lbl.TASK_ARN: arn, lbl.ROLE: lbl.ROLE_CONTAINER})
        again = [c for c in found if c.labels.get(lbl.ATTEMPT) == "1" and c.running]
        return found if again else None

    found = stack.until(restarted, "the second attempt running", within=120)
    old = next(c for c in found if c.id == first.id)
    new = next(c for c in found if c.labels.get(lbl.ATTEMPT) == "1")
    assert old.exit_code == 1 and new.started_at is not None and old.finished_at is not None
    assert new.started_at >= old.finished_at
    task = stack.describe(arn)
    assert task["lastStatus"] == "RUNNING"
    stack.until(lambda: stack.describe(arn)["containers"][0].get("runtimeId") == new.id, "the new runtime id")
    container = stack.describe(arn)["containers"][0]
    assert container["lastStatus"] == "RUNNING" and "exitCode" not in container
    assert "restartCount" not in container  # not in ECS's Container shape: kept internal
    stack.ecs.stop_task(cluster=stack.cluster, task=arn)
    stack.wait_status(arn, "STOPPED")
