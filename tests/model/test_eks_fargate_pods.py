"""Pods on EKS Fargate, the pure part: admission against profiles, EKS's sizing, what Fargate
refuses, and the per-pod node."""

from __future__ import annotations

from typing import Any

import pytest

from stowage.model.eks import fargate_pods as fp
from stowage.model.metering import TaskUsage

Obj = dict[str, Any]


def profile(name: str, *selectors: Obj, status: str = "ACTIVE") -> Obj:
    return {"fargateProfileName": name, "status": status, "selectors": list(selectors)}


def pod(namespace: str = "apps", labels: dict[str, str] | None = None, **spec: Any) -> Obj:
    return {
        "metadata": {"name": "web-1", "namespace": namespace, "uid": "u-1", "labels": labels or {}},
        "spec": {"containers": [{"name": "app", "image": "busybox"}], **spec},
    }


def container(cpu: str | None = None, memory: str | None = None, *, limits: bool = False) -> Obj:
    values = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    return {"name": "c", "image": "busybox", "resources": {"limits" if limits else "requests": values}}


# -- admission ------------------------------------------------------------------------------------
def test_a_pod_in_a_selected_namespace_is_marked_for_the_fargate_scheduler() -> None:
    p = pod(schedulerName="default-scheduler")
    p["metadata"]["annotations"] = {"keep": "me"}
    assert fp.admit(p, [profile("apps", {"namespace": "apps"})]) == "apps"
    assert p["spec"]["schedulerName"] == "fargate-scheduler"
    assert p["metadata"]["annotations"] == {"keep": "me", "eks.amazonaws.com/fargate-profile": "apps"}
    assert fp.profile_of(p) == "apps"


def test_pods_that_match_no_active_profile_are_left_alone() -> None:
    profiles = [
        profile("other", {"namespace": "other"}),
        profile("new", {"namespace": "apps"}, status="CREATING"),
        profile("going", {"namespace": "apps"}, status="DELETING"),
        profile("labelled", {"namespace": "apps", "labels": {"run": "fargate", "tier": "web"}}),
    ]
    p = pod(labels={"run": "fargate"})  # one of the selector's two labels only
    assert fp.admit(p, profiles) is None
    assert "schedulerName" not in p["spec"] and "annotations" not in p["metadata"]
    assert fp.profile_of(p) is None


def test_labels_and_namespace_wildcards_select() -> None:
    profiles = [profile("batch", {"namespace": "batch-*", "labels": {"run": "fargate"}})]
    assert fp.admit(pod("batch-7", {"run": "fargate", "x": "y"}), profiles) == "batch"
    assert fp.admit(pod("batch-7", {"run": "ec2"}), profiles) is None
    assert fp.admit(pod("batches", {"run": "fargate"}), profiles) is None


def test_several_matching_profiles_the_label_picks_else_the_first_by_name() -> None:
    profiles = [profile("zeta", {"namespace": "apps"}), profile("alpha", {"namespace": "app?"})]
    assert fp.admit(pod(), profiles) == "alpha"
    chosen = pod(labels={"eks.amazonaws.com/fargate-profile": "zeta"})
    assert fp.admit(chosen, profiles) == "zeta"
    # the named profile must still select the pod (else it is not scheduled on Fargate)
    unmatched = pod(labels={"eks.amazonaws.com/fargate-profile": "other"})
    assert fp.admit(unmatched, [*profiles, profile("other", {"namespace": "elsewhere"})]) is None


def test_another_scheduler_or_compute_type_ec2_keeps_the_pod_on_nodes() -> None:
    profiles = [profile("apps", {"namespace": "apps"})]
    assert fp.admit(pod(schedulerName="my-scheduler"), profiles) is None
    ec2 = pod()
    ec2["metadata"]["annotations"] = {"eks.amazonaws.com/compute-type": "ec2"}
    assert fp.admit(ec2, profiles) is None
    # a scheduler name alone is not a Fargate pod: the profile annotation comes with admission
    assert fp.profile_of(pod(schedulerName="fargate-scheduler")) is None


# -- refusals ------------------------------------------------------------------------------------------
def test_what_fargate_refuses_in_eks_words() -> None:
    assert fp.unsupported(pod()) is None
    bad = pod(
        hostNetwork=True,
        containers=[
            {"name": "a", "image": "x", "securityContext": {"privileged": True},
             "ports": [{"containerPort": 80, "hostPort": 8080}]},
        ],
        volumes=[{"name": "docker", "hostPath": {"path": "/run/d.sock"}}, {"name": "tmp", "emptyDir": {}}],
    )  # fmt: skip
    assert fp.unsupported(bad) == (
        "Pod not supported on Fargate: fields not supported: HostNetwork, invalid SecurityContext fields: "
        "Privileged, port contains HostIP or HostPort, volumes not supported: docker is of an "
        "unsupported volume Type"
    )
    daemon = pod()
    daemon["metadata"]["ownerReferences"] = [{"kind": "DaemonSet", "name": "agent", "controller": True}]
    assert fp.unsupported(daemon) == "Pod not supported on Fargate: DaemonSet pods are not supported"
    init_privileged = pod(
        initContainers=[{"name": "i", "image": "x", "securityContext": {"privileged": True}}]
    )
    assert (
        fp.unsupported(init_privileged)
        == "Pod not supported on Fargate: invalid SecurityContext fields: Privileged"
    )


# -- size -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("containers", "inits", "want"),
    [
        ([], [], (256, 512)),  # nothing requested: the smallest combination
        ([container("250m", "256Mi")], [], (256, 512)),  # 256 + 256 MiB = 0.5 GB exactly
        ([container("250m", "257Mi")], [], (256, 1024)),
        ([container("500m", "1Gi")], [], (512, 2048)),  # 1.25 GB -> the next step of 0.5 vCPU
        ([container("250m", "2Gi")], [], (512, 3072)),  # 2.25 GB is more than 0.25 vCPU offers
        ([container("1", "8Gi")], [], (2048, 9216)),  # 8.25 GB is more than 1 vCPU offers
        ([container("1", "1Gi"), container("1", "1Gi")], [], (2048, 4096)),  # app containers add up
        ([container("500m", "512Mi")], [container("2", "256Mi")], (2048, 4096)),  # the init container's cpu
        ([container("500m", "512Mi")], [container("100m", "3Gi")], (512, 4096)),  # ... and its memory
        ([container("1", "1Gi", limits=True)], [], (1024, 2048)),  # limits stand for absent requests
    ],
)
def test_the_pod_is_sized_as_eks_sizes_it(
    containers: list[Obj], inits: list[Obj], want: tuple[int, int]
) -> None:
    p = pod(containers=containers or [{"name": "a", "image": "x"}], initContainers=inits)
    assert fp.size(p) == want


def test_requests_beyond_the_largest_size_are_refused() -> None:
    p = pod(containers=[container("17", "1Gi")])
    assert fp.size(p) is None
    assert fp.too_big(p) == (
        "Pod not supported on Fargate: the pod's requests (17 vCPU, 1.25 GB with the Kubernetes components) "
        "exceed the largest Fargate configuration (16 vCPU, 120 GB)"
    )
    assert fp.size(pod(containers=[container("16", "119Gi")])) == (16384, 122880)


def test_capacity_provisioned_annotation() -> None:
    assert fp.capacity_provisioned(256, 512) == "0.25vCPU 0.5GB"
    assert fp.capacity_provisioned(512, 3072) == "0.5vCPU 3GB"
    assert fp.capacity_provisioned(1024, 2048) == "1vCPU 2GB"
    assert fp.capacity_provisioned(16384, 122880) == "16vCPU 120GB"


# -- the node ----------------------------------------------------------------------------------------
def test_node_names_follow_aws_private_dns() -> None:
    assert fp.node_name("10.0.1.15", "us-east-1") == "fargate-ip-10-0-1-15.ec2.internal"
    assert fp.node_name("192.168.3.4", "eu-west-1") == "fargate-ip-192-168-3-4.eu-west-1.compute.internal"


def test_node_object_is_one_tainted_fargate_node_for_one_pod() -> None:
    name = fp.node_name("10.0.1.15", "eu-west-1")
    node = fp.node_object(
        name=name, ip="10.0.1.15", region="eu-west-1", zone="eu-west-1b", profile="apps", pod_uid="u-1",
        task_id="abc", cpu=512, memory=3072, architecture="x86_64", now=0.0,
    )  # fmt: skip
    labels = node["metadata"]["labels"]
    assert labels["eks.amazonaws.com/compute-type"] == "fargate"
    assert labels["eks.amazonaws.com/fargate-profile"] == "apps"
    assert labels["kubernetes.io/hostname"] == name and labels["kubernetes.io/arch"] == "amd64"
    assert labels["topology.kubernetes.io/zone"] == "eu-west-1b"
    assert node["spec"]["taints"] == [
        {"key": "eks.amazonaws.com/compute-type", "value": "fargate", "effect": "NoSchedule"}
    ]
    assert node["status"]["capacity"] == {
        "cpu": "500m",
        "memory": "3145728Ki",
        "pods": "1",
        "ephemeral-storage": "0",
    }
    assert {"type": "InternalIP", "address": "10.0.1.15"} in node["status"]["addresses"]
    ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"
    assert fp.node_pod_uid(node) == "u-1"
    assert fp.node_pod_uid({"metadata": {"name": "i-123"}}) is None


def test_a_fargate_pods_usage_names_the_pod() -> None:
    group = fp.pod_group(pod("apps"))
    assert group == "k8s:pod/apps/web-1"
    usage = TaskUsage(
        task_arn="arn:aws:ecs:us-east-1:1:task/eks-demo/abc",
        cluster_arn="arn:aws:ecs:us-east-1:1:cluster/eks-demo",
        group=group, architecture="X86_64", capacity_provider="FARGATE", cpu_units=256, memory_mib=512,
        storage_gib=20, start=0.0, end=60.0, running=False,
    )  # fmt: skip
    assert (usage.cluster, usage.service) == ("eks-demo", "pod/apps/web-1")
    assert TaskUsage.from_doc({**usage.to_doc(), "group": "service:web"}).service == "web"
    assert TaskUsage.from_doc({**usage.to_doc(), "group": "family:x"}).service is None
