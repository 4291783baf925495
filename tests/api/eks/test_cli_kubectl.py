"""The AWS CLI and kubectl as a user drives them: ``aws eks create-cluster``, ``wait``,
``update-kubeconfig``, then plain ``kubectl`` (its exec plugin runs ``aws eks get-token``);
two clusters never see each other's objects; a deleted cluster's objects are gone."""

from __future__ import annotations

import json
import time

from tests.api.eks.support import ROLE, EksEnv, unique

CM = """apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: default
data:
  colour: {colour}
"""
HPA = json.dumps({
    "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
    "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "maxReplicas": 3,
    },
})  # fmt: skip


def _create(env: EksEnv, name: str) -> None:
    out = env.aws_json(
        "eks", "create-cluster", "--name", name, "--role-arn", ROLE,
        "--resources-vpc-config", "subnetIds=subnet-0a,subnet-0b",
    )  # fmt: skip
    assert out["cluster"]["name"] == name
    env.aws("eks", "wait", "cluster-active", "--name", name)


def test_update_kubeconfig_then_plain_kubectl(env: EksEnv) -> None:
    name = unique("cli")
    _create(env, name)
    described = env.aws_json("eks", "describe-cluster", "--name", name)["cluster"]
    assert described["status"] == "ACTIVE"
    kubeconfig = env.kubeconfig_for(name)
    config = kubeconfig.read_text()
    assert described["endpoint"] in config and "get-token" in config

    nodes = env.kubectl(kubeconfig, "get", "nodes")
    assert "No resources found" in nodes.stderr
    namespaces = env.kubectl(kubeconfig, "get", "namespaces", "-o", "name").stdout.split()
    assert {"namespace/default", "namespace/kube-system"} <= set(namespaces)
    applied = env.kubectl(kubeconfig, "apply", "-f", "-", input=CM.format(colour="blue")).stdout
    assert "configmap/settings created" in applied
    got = json.loads(env.kubectl(kubeconfig, "get", "cm", "settings", "-o", "json").stdout)
    assert got["data"] == {"colour": "blue"}
    svc = json.loads(env.kubectl(kubeconfig, "get", "svc", "kubernetes", "-o", "json").stdout)
    assert svc["spec"]["clusterIP"] == "10.100.0.1"  # the cluster's own serviceIpv4Cidr
    # metrics.k8s.io answers (kubectl top), and the cluster runs HorizontalPodAutoscalers
    top = env.kubectl(kubeconfig, "top", "pods", check=False)
    assert top.returncode == 0 and "No resources found" in top.stderr, top.stderr
    env.kubectl(kubeconfig, "apply", "-f", "-", input=HPA)
    deadline = time.monotonic() + 30
    while "FailedGetScale" not in env.kubectl(kubeconfig, "get", "hpa", "web", "-o", "json").stdout:
        assert time.monotonic() < deadline, "the cluster's HPA controller did not report its missing target"
        time.sleep(0.2)

    env.aws("eks", "delete-cluster", "--name", name)
    env.aws("eks", "wait", "cluster-deleted", "--name", name)
    gone = env.kubectl(kubeconfig, "get", "cm", check=False)
    assert gone.returncode != 0


def test_two_clusters_never_see_each_others_objects(env: EksEnv) -> None:
    a, b = unique("iso-a"), unique("iso-b")
    _create(env, a)
    _create(env, b)
    ka, kb = env.kubeconfig_for(a), env.kubeconfig_for(b)
    env.kubectl(ka, "apply", "-f", "-", input=CM.format(colour="red"))
    env.kubectl(ka, "create", "namespace", "only-in-a")
    absent = env.kubectl(kb, "get", "cm", "settings", check=False)
    assert absent.returncode != 0 and "NotFound" in absent.stderr
    missing = env.kubectl(kb, "get", "namespace", "only-in-a", check=False)
    assert missing.returncode != 0 and "NotFound" in missing.stderr
    # the same names live side by side
    env.kubectl(kb, "apply", "-f", "-", input=CM.format(colour="green"))
    colour = "jsonpath={.data.colour}"
    assert env.kubectl(ka, "get", "cm", "settings", "-o", colour).stdout == "red"
    assert env.kubectl(kb, "get", "cm", "settings", "-o", colour).stdout == "green"
    # deleting one cluster leaves the other's objects alone
    env.aws("eks", "delete-cluster", "--name", a)
    env.aws("eks", "wait", "cluster-deleted", "--name", a)
    assert env.kubectl(kb, "get", "cm", "settings", "-o", colour).stdout == "green"
    env.aws("eks", "delete-cluster", "--name", b)
