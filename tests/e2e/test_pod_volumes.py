"""ConfigMap, Secret and downward API volumes and init containers for real: kubectl → the pod
controller resolves the files → the agent writes and binds them → real Docker containers print
them (read back through ``kubectl logs``). Marked `docker`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stowage.agent import projected_files
from tests.e2e.test_pods import Kube, kube  # noqa: F401  (the fixture)
from tests.support.images import TEST_IMAGE

pytestmark = pytest.mark.docker

RESOURCES = {"requests": {"cpu": "50m", "memory": "16Mi"}}

SCRIPT = """
echo "greeting=$(cat /etc/config/greeting)"
echo "colour=$(cat /etc/remapped/sub/colour.txt) mode=$(stat -c %a /etc/remapped/sub/colour.txt)"
echo "remapped=$(ls /etc/remapped | tr '\\n' ' ')"
echo "password=$(cat /etc/secret/password) mode=$(stat -c %a /etc/secret/password)"
echo "single=$(cat /etc/app/greeting.txt)"
echo "pod=$(cat /etc/podinfo/name) labels=$(cat /etc/podinfo/labels | tr '\\n' ',')"
touch /etc/config/new 2>/dev/null && echo "config=writable" || echo "config=read-only"
touch /etc/secret/new 2>/dev/null && echo "secret=writable" || echo "secret=read-only"
echo done
sleep 3600
"""


def _deployment() -> str:
    return json.dumps({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "files"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "files"}},
            "template": {
                "metadata": {"labels": {"app": "files", "tier": "web"}},
                "spec": {
                    "terminationGracePeriodSeconds": 2,
                    "containers": [{
                        "name": "main", "image": TEST_IMAGE, "command": ["sh", "-c", SCRIPT],
                        "resources": RESOURCES,
                        "volumeMounts": [
                            {"name": "config", "mountPath": "/etc/config"},
                            {"name": "remapped", "mountPath": "/etc/remapped"},
                            {"name": "secret", "mountPath": "/etc/secret", "readOnly": True},
                            {"name": "config", "mountPath": "/etc/app/greeting.txt", "subPath": "greeting"},
                            {"name": "podinfo", "mountPath": "/etc/podinfo"},
                        ],
                    }],
                    "volumes": [
                        {"name": "config", "configMap": {"name": "app-config"}},
                        {"name": "remapped", "configMap": {
                            "name": "app-config", "defaultMode": 0o400,
                            "items": [{"key": "colour", "path": "sub/colour.txt"}],
                        }},
                        {"name": "secret", "secret": {"secretName": "app-secret"}},
                        {"name": "podinfo", "downwardAPI": {"items": [
                            {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
                            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                        ]}},
                    ],
                },
            },
        },
    })  # fmt: skip


def volume_task_dirs(state_dir: Path) -> list[Path]:
    """The per-task directories of file volumes the agent keeps on the host."""
    root = projected_files.root(state_dir)
    return sorted(root.iterdir()) if root.is_dir() else []


def _pod_names(kube: Kube, selector: str) -> list[str]:  # noqa: F811
    out = json.loads(kube.kubectl("get", "pods", "-l", selector, "-o", "json").stdout)["items"]
    return [str(p["metadata"]["name"]) for p in out if not p["metadata"].get("deletionTimestamp")]


def _logs(kube: Kube, pod: str, *extra: str) -> str:  # noqa: F811
    out = kube.kubectl("logs", pod, *extra, check=False)
    return str(out.stdout) if out.returncode == 0 else ""


def test_configmap_secret_and_downward_api_files_in_a_deployment(kube: Kube) -> None:  # noqa: F811
    stack = kube.stack
    agent = stack.start_agent()
    kube.kubectl(
        "create", "configmap", "app-config", "--from-literal=greeting=hello", "--from-literal=colour=blue"
    )
    kube.kubectl("create", "secret", "generic", "app-secret", "--from-literal=password=s3cret")
    kube.kubectl("apply", "-f", "-", input=_deployment())
    kube.kubectl("rollout", "status", "deployment/files", "--timeout=90s")
    [pod] = _pod_names(kube, "app=files")
    stack.until(lambda: "done" in _logs(kube, pod), "the container printed its files")
    lines = dict(line.split("=", 1) for line in _logs(kube, pod).splitlines() if "=" in line)
    assert lines["greeting"] == "hello"
    assert lines["colour"] == "blue mode=400"  # items remap + defaultMode
    assert lines["remapped"].split() == ["sub"]  # only the items asked for
    assert lines["password"] == "s3cret mode=644"  # base64-decoded; 0644 for Secrets too
    assert lines["single"] == "hello"  # subPath: one file of the volume
    assert lines["pod"].startswith(f"{pod} labels=") and 'app="files",' in lines["pod"]
    assert 'tier="web"' in lines["pod"]
    assert lines["config"] == "read-only" and lines["secret"] == "read-only"
    # what the agent wrote on the host goes with the task
    dirs = volume_task_dirs(agent.state_dir)
    assert len(dirs) == 1
    assert (dirs[0] / "secret" / "password").read_text() == "s3cret"
    kube.kubectl("delete", "deployment", "files", "--timeout=60s")
    stack.until(lambda: not volume_task_dirs(agent.state_dir), "the pod's files removed from the host")


def _init_pod(name: str, gate: Path, restart: str = "Always") -> str:
    init_script = (
        "until [ -f /gate/open ]; do sleep 0.2; done; echo prepared by init > /work/msg; echo init ran"
    )
    return json.dumps({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": restart,
            "terminationGracePeriodSeconds": 2,
            "initContainers": [{
                "name": "prepare", "image": TEST_IMAGE, "command": ["sh", "-c", init_script],
                "resources": RESOURCES,
                "volumeMounts": [{"name": "work", "mountPath": "/work"},
                                 {"name": "gate", "mountPath": "/gate"}],
            }],
            "containers": [{
                "name": "main", "image": TEST_IMAGE, "command": ["sh", "-c", "cat /work/msg; sleep 3600"],
                "resources": RESOURCES, "volumeMounts": [{"name": "work", "mountPath": "/work"}],
            }],
            "volumes": [{"name": "work", "emptyDir": {}}, {"name": "gate", "hostPath": {"path": str(gate)}}],
        },
    })  # fmt: skip


def _status_cell(kube: Kube, pod: str) -> str:  # noqa: F811
    return str(kube.kubectl("get", "pod", pod).stdout.splitlines()[1].split()[2])


def test_an_init_container_prepares_an_empty_dir_the_app_reads(kube: Kube, tmp_path: Path) -> None:  # noqa: F811
    stack = kube.stack
    stack.start_agent()
    gate = tmp_path / "gate"
    gate.mkdir()
    kube.kubectl("apply", "-f", "-", input=_init_pod("prepared", gate))

    def init_running() -> bool:
        statuses = kube.get("pod", "prepared").get("status", {}).get("initContainerStatuses") or []
        return bool(statuses) and "running" in statuses[0]["state"]

    stack.until(init_running, "the init container runs")
    pod = kube.get("pod", "prepared")
    assert pod["status"]["phase"] == "Pending"
    assert pod["status"]["containerStatuses"][0]["state"] == {"waiting": {"reason": "PodInitializing"}}
    initialized = next(c for c in pod["status"]["conditions"] if c["type"] == "Initialized")
    assert initialized["status"] == "False"
    assert _status_cell(kube, "prepared") == "Init:0/1"
    assert kube.kubectl("get", "pod", "prepared").stdout.splitlines()[1].split()[1] == "0/1"

    (gate / "open").touch()
    kube.kubectl("wait", "--for=condition=Ready", "pod/prepared", "--timeout=60s")
    stack.until(
        lambda: "prepared by init" in _logs(kube, "prepared"), "the app read the init container's file"
    )
    assert _logs(kube, "prepared", "-c", "prepare") == "init ran\n"
    pod = kube.get("pod", "prepared")
    [init] = pod["status"]["initContainerStatuses"]
    assert (
        init["state"]["terminated"]["exitCode"] == 0 and init["state"]["terminated"]["reason"] == "Completed"
    )
    assert _status_cell(kube, "prepared") == "Running"
    events = json.loads(
        kube.kubectl("get", "events", "--field-selector", "involvedObject.name=prepared", "-o", "json").stdout
    )["items"]
    started = {e["involvedObject"].get("fieldPath") for e in events if e["reason"] == "Started"}
    assert started == {"spec.initContainers{prepare}", "spec.containers{main}"}
    kube.kubectl("delete", "pod", "prepared", "--timeout=60s")


def test_a_failed_init_container_fails_a_never_restarting_pod(kube: Kube, tmp_path: Path) -> None:  # noqa: F811
    kube.stack.start_agent()
    body: dict[str, Any] = json.loads(_init_pod("broken", tmp_path, restart="Never"))
    body["spec"]["initContainers"][0]["command"] = ["sh", "-c", "echo cannot prepare; exit 7"]
    kube.kubectl("apply", "-f", "-", input=json.dumps(body))
    kube.stack.until(lambda: kube.get("pod", "broken")["status"]["phase"] == "Failed", "pod Failed")
    pod = kube.get("pod", "broken")
    term = pod["status"]["initContainerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 7 and term["reason"] == "Error"
    assert pod["status"]["containerStatuses"][0]["state"] == {"waiting": {"reason": "PodInitializing"}}
    assert _status_cell(kube, "broken") == "Init:Error"
    kube.stack.until(lambda: _logs(kube, "broken", "-c", "prepare") == "cannot prepare\n", "init logs")
    assert not any(c.running for c in kube.pod_containers("broken"))  # the app never started


def test_a_failed_init_container_is_retried_unless_the_policy_is_never(kube: Kube, tmp_path: Path) -> None:  # noqa: F811
    """restartPolicy Always: the init container runs again (the agent's container restarts,
    OnFailure semantics for init containers) and the app starts once it succeeds."""
    kube.stack.start_agent()
    body: dict[str, Any] = json.loads(_init_pod("retried", tmp_path))
    flaky = "if [ -f /work/tried ]; then echo second; exit 0; fi; touch /work/tried; echo first; exit 1"
    body["spec"]["initContainers"][0]["command"] = ["sh", "-c", flaky]
    kube.kubectl("apply", "-f", "-", input=json.dumps(body))
    kube.kubectl("wait", "--for=condition=Ready", "pod/retried", "--timeout=90s")
    [init] = kube.get("pod", "retried")["status"]["initContainerStatuses"]
    assert init["restartCount"] == 1
    assert init["lastState"]["terminated"]["exitCode"] == 1
    assert init["state"]["terminated"]["exitCode"] == 0
    assert kube.kubectl("get", "pod", "retried").stdout.splitlines()[1].split()[3] == "1"
    kube.kubectl("delete", "pod", "retried", "--timeout=60s")


def test_a_missing_configmap_keeps_the_pod_pending_until_it_exists(kube: Kube) -> None:  # noqa: F811
    kube.stack.start_agent()
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "waits"},
        "spec": {
            "terminationGracePeriodSeconds": 2,
            "containers": [{
                "name": "main", "image": TEST_IMAGE, "resources": RESOURCES,
                "command": ["sh", "-c", "cat /etc/late/value; echo; sleep 3600"],
                "volumeMounts": [{"name": "late", "mountPath": "/etc/late"}],
            }],
            "volumes": [{"name": "late", "configMap": {"name": "late-config"}}],
        },
    }  # fmt: skip
    kube.kubectl("apply", "-f", "-", input=json.dumps(pod))
    kube.stack.until(lambda: "FailedMount" in kube.events("waits"), "FailedMount event")
    got = kube.get("pod", "waits")
    assert got["status"]["phase"] == "Pending"
    assert got["status"]["containerStatuses"][0]["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert _status_cell(kube, "waits") == "ContainerCreating"
    listed = kube.kubectl("get", "events", "--field-selector", "involvedObject.name=waits", "-o", "json")
    event = next(e for e in json.loads(listed.stdout)["items"] if e["reason"] == "FailedMount")
    assert event["type"] == "Warning"
    assert (
        event["message"] == 'MountVolume.SetUp failed for volume "late" : configmap "late-config" not found'
    )
    assert not kube.pod_containers("waits")

    kube.kubectl("create", "configmap", "late-config", "--from-literal=value=finally")
    kube.kubectl("wait", "--for=condition=Ready", "pod/waits", "--timeout=60s")
    kube.stack.until(lambda: _logs(kube, "waits") == "finally\n", "the pod read the ConfigMap")
    kube.kubectl("delete", "pod", "waits", "--timeout=60s")
