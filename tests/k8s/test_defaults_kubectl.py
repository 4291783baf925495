"""Defaulting as kubectl and the Python client see it (a real server, the real kubectl): the
objects read back with a 1.32 API server's defaults, ``kubectl apply`` of the same manifest
twice changes nothing (one ReplicaSet, generation 1), ``kubectl diff`` of an applied manifest
is clean (client-side and server-side), and a diff's dry run writes nothing."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.k8s.conftest import K8sServer

POD_SPEC_DEFAULTS = {
    "restartPolicy": "Always",
    "terminationGracePeriodSeconds": 30,
    "dnsPolicy": "ClusterFirst",
    "schedulerName": "default-scheduler",
    "securityContext": {},
}
CONTAINER_DEFAULTS = {
    "terminationMessagePath": "/dev/termination-log",
    "terminationMessagePolicy": "File",
    "resources": {},
}


def _get(k8s: K8sServer, namespace: str, *what: str) -> Any:
    return json.loads(k8s.kubectl("get", *what, "-n", namespace, "-o", "json").stdout)


def _manifest(name: str, image: str, **container: Any) -> str:
    return json.dumps({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": image, **container}]},
            },
        },
    })  # fmt: skip


def _owned_replicasets(k8s: K8sServer, namespace: str, app: str) -> list[Any]:
    return list(_get(k8s, namespace, "rs", "-l", f"app={app}")["items"])


def _eventually(check: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.2)


def test_create_deployment_reads_back_with_upstreams_defaults(k8s: K8sServer, namespace: str) -> None:
    k8s.kubectl("create", "deployment", "x", "-n", namespace, "--image=busybox", "--port=8080")
    got = _get(k8s, namespace, "deployment", "x")
    spec = got["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
    }
    assert (spec["revisionHistoryLimit"], spec["progressDeadlineSeconds"]) == (10, 600)
    pod_spec = spec["template"]["spec"]
    assert {k: pod_spec.get(k) for k in POD_SPEC_DEFAULTS} == POD_SPEC_DEFAULTS
    # Pod-only defaults and admission's do not reach a template
    assert not {"enableServiceLinks", "priority", "serviceAccountName", "tolerations"} & set(pod_spec)
    (container,) = pod_spec["containers"]
    assert {k: container.get(k) for k in CONTAINER_DEFAULTS} == CONTAINER_DEFAULTS
    assert container["imagePullPolicy"] == "Always"  # no tag: latest
    assert container["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    # the ReplicaSet and its pods carry the same template; pods get the Pod-only ones too
    (rs,) = _eventually(lambda: _owned_replicasets(k8s, namespace, "x"))
    assert rs["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == "Always"
    pods = _eventually(lambda: _get(k8s, namespace, "pods", "-l", "app=x")["items"])
    pod_spec = pods[0]["spec"]
    assert (pod_spec["enableServiceLinks"], pod_spec["priority"]) == (True, 0)
    assert pod_spec["preemptionPolicy"] == "PreemptLowerPriority"
    assert pod_spec["containers"][0]["terminationMessagePolicy"] == "File"


def test_apply_twice_and_spelled_out_defaults_make_no_rollout(k8s: K8sServer, namespace: str) -> None:
    manifest = _manifest("web", "busybox:1.36", command=["sleep", "3600"])
    assert "created" in k8s.kubectl("apply", "-n", namespace, "-f", "-", input=manifest).stdout
    _eventually(lambda: _owned_replicasets(k8s, namespace, "web"))
    assert "unchanged" in k8s.kubectl("apply", "-n", namespace, "-f", "-", input=manifest).stdout
    # the same template with some of its defaults written out is the same template
    explicit = _manifest(
        "web", "busybox:1.36", command=["sleep", "3600"], imagePullPolicy="IfNotPresent", resources={},
        terminationMessagePath="/dev/termination-log",
    )  # fmt: skip
    k8s.kubectl("apply", "-n", namespace, "-f", "-", input=explicit)
    got = _get(k8s, namespace, "deployment", "web")
    assert got["metadata"]["generation"] == 1
    _eventually(
        lambda: _get(k8s, namespace, "deployment", "web").get("status", {}).get("observedGeneration") == 1
    )
    assert len(_owned_replicasets(k8s, namespace, "web")) == 1
    # a real change still rolls out: a second ReplicaSet, generation 2
    k8s.kubectl(
        "apply", "-n", namespace, "-f", "-", input=_manifest("web", "busybox:1.37", command=["sleep", "1"])
    )
    assert _get(k8s, namespace, "deployment", "web")["metadata"]["generation"] == 2
    _eventually(lambda: len(_owned_replicasets(k8s, namespace, "web")) == 2)


def test_kubectl_diff_of_an_applied_manifest_is_clean(k8s: K8sServer, namespace: str) -> None:
    manifest = _manifest("d", "busybox:1.36", ports=[{"containerPort": 80}])
    # a new object: the diff shows it as the server would store it, defaults included
    fresh = k8s.kubectl("diff", "-n", namespace, "-f", "-", input=manifest, check=False)
    assert fresh.returncode == 1, fresh.stderr
    assert "progressDeadlineSeconds: 600" in fresh.stdout and "protocol: TCP" in fresh.stdout
    assert k8s.kubectl("get", "deployment", "d", "-n", namespace, check=False).returncode != 0  # dry run
    k8s.kubectl("apply", "-n", namespace, "-f", "-", input=manifest)
    clean = k8s.kubectl("diff", "-n", namespace, "-f", "-", input=manifest, check=False)
    assert (clean.returncode, clean.stdout) == (0, ""), clean.stdout + clean.stderr
    changed = _manifest("d", "busybox:1.37", ports=[{"containerPort": 80}])
    diff = k8s.kubectl("diff", "-n", namespace, "-f", "-", input=changed, check=False)
    assert diff.returncode == 1 and "+      - image: busybox:1.37" in diff.stdout, diff.stdout + diff.stderr
    # the diff's dry-run patch wrote nothing
    live = _get(k8s, namespace, "deployment", "d")
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1.36"
    assert live["metadata"]["generation"] == 1


def test_switching_to_recreate_drops_the_defaulted_rolling_update(k8s: K8sServer, namespace: str) -> None:
    manifest = json.loads(_manifest("sw", "busybox:1.36"))
    k8s.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))
    assert "rollingUpdate" in _get(k8s, namespace, "deployment", "sw")["spec"]["strategy"]
    # kubectl's patch keeps only the keys the manifest gives ($retainKeys): no stale defaults
    manifest["spec"]["strategy"] = {"type": "Recreate"}
    k8s.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))
    assert _get(k8s, namespace, "deployment", "sw")["spec"]["strategy"] == {"type": "Recreate"}


def test_server_side_apply_and_its_diff(k8s: K8sServer, namespace: str) -> None:
    manifest = _manifest("ssa", "busybox:1.36")
    k8s.kubectl("apply", "--server-side", "-n", namespace, "-f", "-", input=manifest)
    k8s.kubectl("apply", "--server-side", "-n", namespace, "-f", "-", input=manifest)
    assert _get(k8s, namespace, "deployment", "ssa")["metadata"]["generation"] == 1
    clean = k8s.kubectl("diff", "--server-side", "-n", namespace, "-f", "-", input=manifest, check=False)
    assert (clean.returncode, clean.stdout) == (0, ""), clean.stdout + clean.stderr
    assert len(_eventually(lambda: _owned_replicasets(k8s, namespace, "ssa"))) == 1


def test_service_namespace_secret_and_job_defaults(k8s: K8sServer, namespace: str) -> None:
    k8s.kubectl("create", "service", "nodeport", "web", "-n", namespace, "--tcp=80:8080")
    spec = _get(k8s, namespace, "service", "web")["spec"]
    assert (spec["sessionAffinity"], spec["ipFamilyPolicy"], spec["ipFamilies"]) == (
        "None",
        "SingleStack",
        ["IPv4"],
    )
    assert (spec["internalTrafficPolicy"], spec["externalTrafficPolicy"]) == ("Cluster", "Cluster")
    assert spec["ports"][0]["protocol"] == "TCP" and spec["ports"][0]["targetPort"] == 8080
    ns = json.loads(k8s.kubectl("get", "namespace", namespace, "-o", "json").stdout)
    assert ns["status"]["phase"] == "Active"
    assert ns["metadata"]["labels"]["kubernetes.io/metadata.name"] == namespace
    assert ns["spec"]["finalizers"] == ["kubernetes"]
    k8s.kubectl("create", "secret", "generic", "s", "-n", namespace, "--from-literal=a=b")
    assert _get(k8s, namespace, "secret", "s")["type"] == "Opaque"
    k8s.kubectl("create", "job", "j", "-n", namespace, "--image=busybox:1.36", "--", "true")
    job = _get(k8s, namespace, "job", "j")["spec"]
    counts = ("completions", "parallelism", "backoffLimit", "suspend", "manualSelector")
    assert {k: job[k] for k in counts} == {
        "completions": 1, "parallelism": 1, "backoffLimit": 6, "suspend": False, "manualSelector": False,
    }  # fmt: skip
    assert (job["completionMode"], job["podReplacementPolicy"]) == ("NonIndexed", "TerminatingOrFailed")
    template = job["template"]["spec"]
    assert template["restartPolicy"] == "Never"  # kubectl create job gives it; a default would not do
    assert template["containers"][0]["imagePullPolicy"] == "IfNotPresent"


def test_the_python_client_sees_the_defaults(api_client: Any, namespace: str) -> None:
    from kubernetes import client

    apps = client.AppsV1Api(api_client)
    body = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="py"),
        spec=client.V1DeploymentSpec(
            selector=client.V1LabelSelector(match_labels={"app": "py"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "py"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox:latest")]),
            ),
        ),
    )
    created = apps.create_namespaced_deployment(namespace, body)
    assert created.spec.strategy.rolling_update.max_surge == "25%"
    assert created.spec.template.spec.containers[0].image_pull_policy == "Always"
    # a PUT of the object without its defaults changes nothing: same generation
    replaced = apps.replace_namespaced_deployment("py", namespace, body)
    assert replaced.metadata.generation == 1
    assert replaced.spec.revision_history_limit == 10
    # the server's dry run answers with the defaulted object and stores nothing
    body.metadata.name = "py-dry"
    dry = apps.create_namespaced_deployment(namespace, body, dry_run="All")
    assert dry.spec.progress_deadline_seconds == 600
    assert [d.metadata.name for d in apps.list_namespaced_deployment(namespace).items] == ["py"]
