"""The defaulting tables (``model/k8s/defaults``), pure: what a 1.32 API server fills in per
kind, that only unset fields are filled, that a table applied twice changes nothing, and that
a template differing only by its defaults hashes and compares as the same template."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from stowage.model.k8s import deployments as dm
from stowage.model.k8s.defaults import MAX_INT32, TABLE, default_object, default_pod_template, pull_policy

Obj = dict[str, Any]


def _template(**container: Any) -> Obj:
    return {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36", **container}]},
    }


def _deployment(**spec: Any) -> Obj:
    return {"metadata": {"name": "web"}, "spec": {"template": _template(), **spec}}


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("busybox", "Always"),
        ("busybox:latest", "Always"),
        ("busybox:1.36", "IfNotPresent"),
        ("registry.local:5000/team/busybox", "Always"),  # a registry port is not a tag
        ("registry.local:5000/team/busybox:1", "IfNotPresent"),
        ("busybox@sha256:" + "a" * 64, "IfNotPresent"),  # a digest and no tag
        ("busybox:latest@sha256:" + "a" * 64, "Always"),
        ("", "IfNotPresent"),
    ],
)
def test_image_pull_policy(image: str, policy: str) -> None:
    assert pull_policy(image) == policy


def test_deployment_defaults_and_what_is_kept() -> None:
    d = _deployment()
    default_object("apps/v1", "Deployment", d)
    spec = d["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
    }
    assert (spec["revisionHistoryLimit"], spec["progressDeadlineSeconds"]) == (10, 600)
    # zeros the user gave are values, not holes; Recreate gets no rollingUpdate
    kept = _deployment(replicas=0, strategy={"rollingUpdate": {"maxSurge": 0}}, revisionHistoryLimit=0)
    default_object("apps/v1", "Deployment", kept)
    assert kept["spec"]["replicas"] == 0 and kept["spec"]["revisionHistoryLimit"] == 0
    assert kept["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": "25%"}
    recreate = _deployment(strategy={"type": "Recreate"})
    default_object("apps/v1", "Deployment", recreate)
    assert recreate["spec"]["strategy"] == {"type": "Recreate"}


def test_pod_template_defaults_reach_every_container_and_volume() -> None:
    template = _template(
        ports=[{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP"}],
        env=[{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        readinessProbe={"httpGet": {"port": 80}, "periodSeconds": 0},
        lifecycle={"preStop": {"httpGet": {"port": 80, "path": "/quit"}}},
    )
    template["spec"]["initContainers"] = [{"name": "init", "image": "busybox"}]
    template["spec"]["volumes"] = [
        {"name": "scratch"},
        {"name": "host", "hostPath": {"path": "/tmp"}},
        {"name": "cfg", "configMap": {"name": "cfg", "defaultMode": 0o600}},
        {"name": "all", "projected": {"sources": [
            {"serviceAccountToken": {"path": "token"}},
            {"downwardAPI": {"items": [{"path": "n", "fieldRef": {"fieldPath": "metadata.name"}}]}},
        ]}},
    ]  # fmt: skip
    default_pod_template(template)
    spec = template["spec"]
    assert (spec["restartPolicy"], spec["dnsPolicy"], spec["schedulerName"]) == (
        "Always", "ClusterFirst", "default-scheduler",
    )  # fmt: skip
    assert (spec["terminationGracePeriodSeconds"], spec["securityContext"]) == (30, {})
    assert "enableServiceLinks" not in spec  # a Pod default, not a PodSpec one
    main, init = spec["containers"][0], spec["initContainers"][0]
    assert [p["protocol"] for p in main["ports"]] == ["TCP", "UDP"]
    assert main["env"][0]["valueFrom"]["fieldRef"]["apiVersion"] == "v1"
    probe = main["readinessProbe"]
    assert (probe["periodSeconds"], probe["timeoutSeconds"], probe["successThreshold"]) == (10, 1, 1)
    assert probe["httpGet"] == {"port": 80, "path": "/", "scheme": "HTTP"}
    assert main["lifecycle"]["preStop"]["httpGet"]["path"] == "/quit"
    assert (init["imagePullPolicy"], init["terminationMessagePolicy"]) == ("Always", "File")
    # each container gets its own copy of a default object
    assert main["resources"] == {} and main["resources"] is not init["resources"]
    scratch, host, cfg, projected = spec["volumes"]
    assert scratch == {"name": "scratch", "emptyDir": {}}
    assert host["hostPath"] == {"path": "/tmp", "type": ""}
    assert cfg["configMap"]["defaultMode"] == 0o600
    token, downward = projected["projected"]["sources"]
    assert projected["projected"]["defaultMode"] == 420
    assert token["serviceAccountToken"]["expirationSeconds"] == 3600
    assert downward["downwardAPI"]["items"][0]["fieldRef"]["apiVersion"] == "v1"


def test_pod_only_defaults() -> None:
    pod: Obj = {"metadata": {"name": "p"}, **_template(
        resources={"limits": {"cpu": "500m", "memory": "64Mi"}, "requests": {"cpu": "100m"}},
        ports=[{"containerPort": 8080}],
    )}  # fmt: skip
    pod["spec"]["hostNetwork"] = True
    default_object("v1", "Pod", pod)
    container = pod["spec"]["containers"][0]
    assert container["resources"]["requests"] == {"cpu": "100m", "memory": "64Mi"}
    assert container["ports"] == [{"containerPort": 8080, "hostPort": 8080, "protocol": "TCP"}]
    assert pod["spec"]["enableServiceLinks"] is True


def test_job_defaults() -> None:
    job: Obj = {"spec": {"template": _template()}}
    default_object("batch/v1", "Job", job)
    spec = job["spec"]
    assert (spec["completions"], spec["parallelism"], spec["backoffLimit"]) == (1, 1, 6)
    assert (spec["completionMode"], spec["suspend"], spec["manualSelector"]) == ("NonIndexed", False, False)
    assert spec["podReplacementPolicy"] == "TerminatingOrFailed"
    queue: Obj = {"spec": {"parallelism": 3, "backoffLimitPerIndex": 1, "podFailurePolicy": {"rules": []}}}
    default_object("batch/v1", "Job", queue)
    assert "completions" not in queue["spec"] and queue["spec"]["backoffLimit"] == MAX_INT32
    assert queue["spec"]["podReplacementPolicy"] == "Failed"


def test_service_defaults() -> None:
    svc: Obj = {"spec": {"type": "LoadBalancer", "ports": [{"port": 80, "targetPort": 0}, {"port": 81}]}}
    default_object("v1", "Service", svc)
    spec = svc["spec"]
    assert [(p["protocol"], p["targetPort"]) for p in spec["ports"]] == [("TCP", 80), ("TCP", 81)]
    assert (spec["sessionAffinity"], spec["externalTrafficPolicy"], spec["internalTrafficPolicy"]) == (
        "None", "Cluster", "Cluster",
    )  # fmt: skip
    assert spec["allocateLoadBalancerNodePorts"] is True
    sticky: Obj = {"spec": {"sessionAffinity": "ClientIP"}}
    default_object("v1", "Service", sticky)
    assert sticky["spec"]["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}
    assert sticky["spec"]["type"] == "ClusterIP" and "externalTrafficPolicy" not in sticky["spec"]
    plain: Obj = {"spec": {"sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 5}}}}
    default_object("v1", "Service", plain)
    assert "sessionAffinityConfig" not in plain["spec"]  # None affinity: no config
    external: Obj = {"spec": {"type": "ExternalName", "externalName": "example.com"}}
    default_object("v1", "Service", external)
    assert "internalTrafficPolicy" not in external["spec"]


def test_namespace_and_secret_defaults() -> None:
    ns: Obj = {"metadata": {"name": "team", "labels": {"kubernetes.io/metadata.name": "other"}}}
    default_object("v1", "Namespace", ns)
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team"}
    assert ns["status"] == {"phase": "Active"}
    secret: Obj = {"data": {}}
    default_object("v1", "Secret", secret)
    assert secret["type"] == "Opaque"
    typed: Obj = {"type": "kubernetes.io/tls"}
    default_object("v1", "Secret", typed)
    assert typed["type"] == "kubernetes.io/tls"


@pytest.mark.parametrize("key", sorted(TABLE))
def test_every_table_is_idempotent_and_tolerates_bad_shapes(key: tuple[str, str]) -> None:
    api_version, kind = key
    rich: Obj = {
        "metadata": {"name": "x"},
        "spec": {
            "template": _template(ports=[{"containerPort": 1}]),
            **_template()["spec"],
            "ports": [{"port": 1}],
        },
    }
    once = copy.deepcopy(rich)
    default_object(api_version, kind, once)
    twice = copy.deepcopy(once)
    default_object(api_version, kind, twice)
    assert twice == once and once != rich
    # wrong types are left as they are, for validation to report: never a crash
    nonsense: Obj = {"spec": "nonsense"}
    default_object(api_version, kind, nonsense)
    assert nonsense["spec"] == "nonsense"
    odd: Obj = {"spec": {"template": [], "containers": "x", "ports": 3}}
    default_object(api_version, kind, odd)
    assert (odd["spec"]["template"], odd["spec"]["containers"], odd["spec"]["ports"]) == ([], "x", 3)


def test_a_template_differing_only_by_defaults_is_the_same_template() -> None:
    raw = _template(ports=[{"containerPort": 80}])
    defaulted = copy.deepcopy(raw)
    default_pod_template(defaulted)
    assert defaulted != raw
    assert dm.normalized_template(raw) == dm.normalized_template(defaulted)
    assert dm.template_hash(raw) == dm.template_hash(defaulted)
    changed = _template(ports=[{"containerPort": 80, "protocol": "UDP"}])
    assert dm.template_hash(changed) != dm.template_hash(raw)
