"""The pod → task mapping, pod status from a task, nodes from instances: pure functions."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from stowage.controllers.k8s.pods import unschedulable_message
from stowage.model.k8s import pod_status as ps
from stowage.model.k8s import pods
from stowage.model.k8s.nodes import node_object
from stowage.model.k8s.quantity import QuantityError, cpu_units, format_cpu, memory_mib
from stowage.scheduler import query


def pod(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "metadata": {"name": "web", "namespace": "shop", "uid": "0a1b2c3d-0000-4000-a000-00000000abcd"},
        "spec": {"containers": [{"name": "app", "image": "busybox:1.36"}], **spec},
    }
    pods.prepare_pod(body)
    return body


def test_quantities_in_ecs_units() -> None:
    assert cpu_units("250m") == 256
    assert cpu_units("1") == 1024
    assert cpu_units("1m") == 2  # rounded up, never 0
    assert cpu_units(0.5) == 512
    assert memory_mib("64Mi") == 64
    assert memory_mib("1Gi") == 1024
    assert memory_mib("100M") == 96
    assert memory_mib("1e9") == 954
    assert format_cpu(2048) == "2" and format_cpu(512) == "500m"
    with pytest.raises(QuantityError):
        cpu_units("lots")


def test_defaults_and_qos() -> None:
    p = pod()
    assert p["spec"]["restartPolicy"] == "Always"
    assert p["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert p["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    g = pod(containers=[{"name": "a", "image": "x", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}])
    assert g["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "1", "memory": "1Gi"}
    assert g["status"]["qosClass"] == "Guaranteed"
    assert pods.validate_pod({"spec": {"containers": [{"name": "a"}]}})[0].field == "spec.containers[0].image"


def test_task_definition_of_a_pod() -> None:
    secret = base64.b64encode(b"s3cret").decode()
    p = pod(
        containers=[
            {
                "name": "app", "image": "busybox", "command": ["sh", "-c"], "args": ["echo $(A) $$HOME"],
                "env": [
                    {"name": "A", "value": "1"},
                    {"name": "B", "value": "$(A)-x"},
                    {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                    {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                    {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}},
                ],
                "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}],
                "ports": [{"containerPort": 80}],
                "resources": {"requests": {"cpu": "500m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
            }
        ],
        terminationGracePeriodSeconds=10,
    )  # fmt: skip
    sources = {("secrets", "db"): pods.object_data("secrets", {"data": {"pw": secret}}),
               ("configmaps", "cfg"): {"x": "y"}}  # fmt: skip
    td = pods.task_definition(
        p, arn="arn:td", cluster="local", region="us-east-1", sources=sources, node="i-1"
    )
    assert td["networkMode"] == "awsvpc" and td["family"] == "k8s-shop-web"
    c = td["containerDefinitions"][0]
    assert c["entryPoint"] == ["sh", "-c"] and c["command"] == ["echo $(A) $$HOME"]
    env = {e["name"]: e["value"] for e in c["environment"]}
    assert env == {"CFG_x": "y", "A": "1", "B": "1-x", "NS": "shop", "NODE": "i-1", "PW": "s3cret"}
    assert (c["cpu"], c["memoryReservation"], c["memory"], c["stopTimeout"]) == (512, 64, 128, 10)
    assert c["portMappings"] == [{"containerPort": 80, "protocol": "tcp"}]
    assert c["logConfiguration"]["options"]["awslogs-group"] == "/k8s/local/shop"
    assert pods.needs_of(p).cpu == 512 and pods.needs_of(p).memory == 64
    with pytest.raises(pods.PodConfigError, match='configmap "cfg" not found'):
        pods.task_definition(p, arn="a", cluster="local", region="r", sources={}, node=None)


def test_node_selection_is_a_cluster_query() -> None:
    p = pod(
        nodeSelector={"kubernetes.io/arch": "amd64", "disk": "ssd"},
        affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [
                {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["a", "b"]}]},
            {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]},
        ]}}},
    )  # fmt: skip
    where = pods.placement_of(p)
    assert where.node is None and where.expression is not None
    tree = query.parse(where.expression)
    target = query.QueryTarget(attributes={"ecs.cpu-architecture": "x86_64", "disk": "ssd", "gpu": None})
    assert query.evaluate(tree, target)
    assert not query.evaluate(
        tree, query.QueryTarget(attributes={"ecs.cpu-architecture": "arm64", "disk": "ssd"})
    )
    assert pods.placement_of(pod(nodeName="i-9")).node == "i-9"


def task(last: str, **container: Any) -> dict[str, Any]:
    return {
        "lastStatus": last, "createdAt": 1000.0, "startedAt": 1001.0,
        "containers": [{"name": "app", "lastStatus": container.pop("status", last), **container}],
    }  # fmt: skip


def test_status_follows_the_task() -> None:
    p = pod()
    pending = ps.status_from_task(p, task("PROVISIONING", status="PENDING"), now=1000, host_ip=None)
    assert pending["phase"] == "Pending"
    assert pending["containerStatuses"][0]["state"] == {"waiting": {"reason": "ContainerCreating"}}
    running_task = task(
        "RUNNING",
        runtimeId="abc",
        imageDigest="sha256:1",
        networkInterfaces=[{"privateIpv4Address": "10.0.0.5"}],
    )
    running = ps.status_from_task({**p, "status": pending}, running_task, now=1002, host_ip=None)
    assert running["phase"] == "Running" and running["podIP"] == "10.0.0.5"
    ready = next(c for c in running["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"
    reasons = [e.reason for e in ps.transition_events(pending, running)]
    assert reasons == ["Pulled", "Created", "Started"]
    assert ps.transition_events(running, running) == []
    done = ps.status_from_task(p, task("STOPPED", runtimeId="abc", exitCode=0), now=1003, host_ip=None)
    assert done["phase"] == "Succeeded"
    assert done["containerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    failed = ps.status_from_task(p, task("STOPPED", runtimeId="abc", exitCode=2), now=1003, host_ip=None)
    assert failed["phase"] == "Failed"


def test_failed_scheduling_message() -> None:
    fails = [
        ("arn:1", "RESOURCE:CPU"),
        ("arn:2", "RESOURCE:CPU"),
        ("arn:3", "MemberOf placement constraint unsatisfied."),
    ]
    # upstream sorts the "<count> <reason>" strings (FitError.Error)
    assert unschedulable_message(fails, 3) == (
        "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 Insufficient cpu."
    )
    assert unschedulable_message([], 0) == "no nodes available to schedule pods"


def test_node_from_an_instance() -> None:
    instance = {
        "containerInstanceArn": "arn:aws:ecs:us-east-1:1:container-instance/c/abc",
        "ec2InstanceId": "i-0123456789abcdef0",
        "status": "ACTIVE", "agentConnected": False, "registeredAt": 1000.0,
        "registeredResources": [
            {"name": "CPU", "integerValue": 2048}, {"name": "MEMORY", "integerValue": 3900},
        ],
        "attributes": [
            {"name": "ecs.availability-zone", "value": "us-east-1a"},
            {"name": "ecs.cpu-architecture", "value": "x86_64"},
            {"name": "com.amazonaws.ecs.capability.privileged-container"},
            {"name": "team", "value": "blue"},
        ],
    }  # fmt: skip
    node = node_object(instance, cluster="c", now=2000)
    assert node["metadata"]["name"] == "i-0123456789abcdef0"
    labels = node["metadata"]["labels"]
    assert labels["topology.kubernetes.io/zone"] == "us-east-1a"
    assert labels["kubernetes.io/arch"] == "amd64" and labels["team"] == "blue"
    assert node["status"]["capacity"]["cpu"] == "2" and node["status"]["capacity"]["memory"] == "3993600Ki"
    ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False"


def test_volumes() -> None:
    p = pod(
        volumes=[{"name": "scratch", "emptyDir": {}}, {"name": "logs", "hostPath": {"path": "/var/log"}}],
        containers=[{"name": "a", "image": "x", "volumeMounts": [
            {"name": "scratch", "mountPath": "/data"},
            {"name": "logs", "mountPath": "/l", "readOnly": True}]}],
    )  # fmt: skip
    td = pods.task_definition(p, arn="a", cluster="local", region="r", sources={}, node=None)
    assert td["volumes"] == [
        {"name": "scratch", "host": {}},
        {"name": "logs", "host": {"sourcePath": "/var/log"}},
    ]
    assert td["containerDefinitions"][0]["mountPoints"] == [
        {"sourceVolume": "scratch", "containerPath": "/data", "readOnly": False},
        {"sourceVolume": "logs", "containerPath": "/l", "readOnly": True},
    ]
    bad = pod(
        volumes=[{"name": "claim", "persistentVolumeClaim": {"claimName": "c"}}],
        containers=[{"name": "a", "image": "x", "volumeMounts": [{"name": "nope", "mountPath": "/x"}]}],
    )
    fields = [c.field for c in pods.validate_pod(bad)]
    assert fields == ["spec.volumes[claim]", "spec.containers[0].volumeMounts.name"]
