"""Pods on EKS Fargate through the real surfaces: boto3's ``eks`` client makes the cluster, a
node group and a Fargate profile; ``kubectl`` (via ``aws eks update-kubeconfig``) applies
Deployments; the node group's hosts and a Fargate pool host are ``stowage simulate`` agents (the
real agent code over a simulated engine). A Deployment in the profile's namespace runs each pod
on a ``fargate-ip-...`` node of its own, as a Fargate task of the pool, metered in GetUsage;
one elsewhere runs on the node group; what Fargate refuses stays Pending with the
fargate-scheduler's event; deleting the profile deletes its pods, whose replacements then run
on the nodes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stowage.model.fargate import POOL_CLUSTER
from tests.api.eks.support import FAST, EksEnv, create_cluster, unique
from tests.api.eks.test_nodegroups import NODE_ROLE, POD_ROLE, eventually
from tests.support.usage_client import usage_client

Obj = dict[str, Any]


@contextmanager
def simulated(env: EksEnv, cluster: str, state: Path, *attributes: str) -> Iterator[None]:
    cmd = [
        sys.executable, "-m", "stowage.cli.main", "simulate", "--endpoint", env.plane.endpoint,
        "--cluster", cluster, "--hosts", "1", "--state-dir", str(state), "--poll-wait", "2",
        "--cpu", "4096", "--memory", "8192",
        *(["--attributes", ",".join(attributes)] if attributes else []),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env.shell_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def deployment(name: str, namespace: str, replicas: int, **spec: Any) -> str:
    container = {
        "name": "app",
        "image": "busybox",
        "command": ["sleep", "3600"],
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}},
        **spec.pop("container", {}),
    }
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container], **spec}},
        },
    })  # fmt: skip


def test_pods_matching_a_fargate_profile_run_on_fargate(env: EksEnv, eks: Any, tmp_path: Path) -> None:
    name = unique("fgp")
    create_cluster(eks, name)
    kubeconfig = env.kubeconfig_for(name)
    ecs = env.client("ecs")
    usage = usage_client(env.plane.endpoint)

    def kubectl(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        return env.kubectl(kubeconfig, *args, **kw)

    def pods(namespace: str, selector: str) -> list[Obj]:
        out = kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "json").stdout
        items: list[Obj] = json.loads(out)["items"]
        return items

    eks.create_nodegroup(
        clusterName=name, nodegroupName="workers", nodeRole=NODE_ROLE, subnets=["subnet-0a"],
        scalingConfig={"minSize": 1, "maxSize": 1, "desiredSize": 1},
    )  # fmt: skip
    eks.create_fargate_profile(
        fargateProfileName="apps", clusterName=name, podExecutionRoleArn=POD_ROLE, subnets=["subnet-f1"],
        selectors=[{"namespace": "apps"}],
    )  # fmt: skip
    eks.get_waiter("fargate_profile_active").wait(
        clusterName=name, fargateProfileName="apps", WaiterConfig=FAST
    )
    with (
        simulated(env, f"eks-{name}", tmp_path / "nodes", "eks.amazonaws.com/nodegroup=workers"),
        simulated(env, POOL_CLUSTER, tmp_path / "pool"),
    ):
        eks.get_waiter("nodegroup_active").wait(clusterName=name, nodegroupName="workers", WaiterConfig=FAST)
        kubectl("create", "namespace", "apps")
        kubectl("apply", "-f", "-", input=deployment("web", "apps", 2))
        kubectl("apply", "-f", "-", input=deployment("api", "default", 1))

        def running(namespace: str, selector: str, count: int) -> list[Obj]:
            items = pods(namespace, selector)
            ok = len(items) == count and all(
                p["status"].get("phase") == "Running" and p["spec"].get("nodeName") for p in items
            )
            return items if ok else []

        web = eventually(lambda: running("apps", "app=web", 2), timeout=60)
        [api] = eventually(lambda: running("default", "app=api", 1), timeout=60)

        # the profile's pods: admitted for the fargate-scheduler, each on a Fargate node of its own
        fargate_nodes = set()
        for p in web:
            annotations = p["metadata"]["annotations"]
            assert p["spec"]["schedulerName"] == "fargate-scheduler"
            assert annotations["eks.amazonaws.com/fargate-profile"] == "apps"
            assert annotations["CapacityProvisioned"] == "0.5vCPU 2GB"  # 0.5 vCPU, 1 GiB + 256 MiB
            ip = p["status"]["podIP"]
            assert p["spec"]["nodeName"] == f"fargate-ip-{ip.replace('.', '-')}.ec2.internal"
            assert p["status"]["hostIP"] == ip
            fargate_nodes.add(p["spec"]["nodeName"])
        assert len(fargate_nodes) == 2
        # ... the other namespace's pod on the node group's node
        assert api["spec"]["schedulerName"] == "default-scheduler"
        assert "eks.amazonaws.com/fargate-profile" not in (api["metadata"].get("annotations") or {})
        assert not api["spec"]["nodeName"].startswith("fargate-ip-")

        nodes = json.loads(
            kubectl("get", "nodes", "-l", "eks.amazonaws.com/compute-type=fargate", "-o", "json").stdout
        )
        assert {n["metadata"]["name"] for n in nodes["items"]} == fargate_nodes
        for n in nodes["items"]:
            assert {"key": "eks.amazonaws.com/compute-type", "value": "fargate", "effect": "NoSchedule"} in n[
                "spec"
            ]["taints"]
            assert n["status"]["capacity"]["pods"] == "1"
        events = kubectl("get", "events", "-n", "apps", "-o", "json").stdout
        scheduled = [
            e for e in json.loads(events)["items"]
            if e["reason"] == "Scheduled" and e["source"]["component"] == "fargate-scheduler"
        ]  # fmt: skip
        assert len(scheduled) == 2

        # they are Fargate tasks of the EKS cluster's ECS cluster, placed on the pool
        arns = [p["metadata"]["annotations"]["ecs.stowage.io/task-arn"] for p in web]
        tasks = ecs.describe_tasks(cluster=f"eks-{name}", tasks=arns)["tasks"]
        assert {(t["launchType"], t["cpu"], t["memory"], t["lastStatus"]) for t in tasks} == {
            ("FARGATE", "512", "2048", "RUNNING")
        }
        assert not any("containerInstanceArn" in t for t in tasks)  # as Fargate tasks show
        [pool] = ecs.list_container_instances(cluster=POOL_CLUSTER)["containerInstanceArns"]
        [host] = ecs.describe_container_instances(cluster=POOL_CLUSTER, containerInstances=[pool])[
            "containerInstances"
        ]
        assert host["runningTasksCount"] == 2
        assert all(
            t["attachments"][0]["details"][0] == {"name": "subnetId", "value": "subnet-f1"} for t in tasks
        )

        # ... and metered: one usage line per pod, naming the pod, in the EKS cluster's ECS cluster
        def rows() -> list[Obj]:
            found: list[Obj] = usage.get_usage(cluster=f"eks-{name}", groupBy="TASK")["rows"]
            return found if len(found) == 2 else []

        metered = eventually(rows, timeout=30)
        assert {r["service"] for r in metered} == {f"pod/apps/{p['metadata']['name']}" for p in web}
        assert {r["taskArn"] for r in metered} == set(arns)
        assert all(r["runningTasks"] == 1 and r["lines"][0]["capacityProvider"] == "FARGATE" for r in metered)
        bill = subprocess.run(
            [sys.executable, "-m", "stowage.cli.main", "bill", "--cluster", f"eks-{name}", "--by", "service",
             "--output", "json", "--endpoint", env.plane.endpoint],
            capture_output=True, text=True, timeout=60, env=env.shell_env(),
        )  # fmt: skip
        assert bill.returncode == 0, bill.stderr
        billed = json.loads(bill.stdout)
        assert {r["key"] for r in billed["rows"]} == {
            f"eks-{name}/pod/apps/{p['metadata']['name']}" for p in web
        }
        assert billed["total"]["tasks"] == 2 and float(billed["total"]["cost"]) > 0

        # what Fargate refuses stays Pending, with the fargate-scheduler's event
        kubectl("apply", "-f", "-", input=deployment("host", "apps", 1, hostNetwork=True))

        def refused() -> str:
            out = kubectl(
                "get", "events", "-n", "apps", "--field-selector", "reason=FailedScheduling", "-o", "json"
            )
            messages = [e["message"] for e in json.loads(out.stdout)["items"]]
            return next((m for m in messages if "HostNetwork" in m), "")

        assert eventually(refused) == "Pod not supported on Fargate: fields not supported: HostNetwork"
        [host] = pods("apps", "app=host")
        assert host["status"]["phase"] == "Pending" and not host["spec"].get("nodeName")
        kubectl("delete", "deployment", "host", "-n", "apps")

        # deleting the profile deletes its pods; their replacements run on the nodes
        eks.delete_fargate_profile(clusterName=name, fargateProfileName="apps")
        eks.get_waiter("fargate_profile_deleted").wait(
            clusterName=name, fargateProfileName="apps", WaiterConfig=FAST
        )

        def moved() -> list[Obj]:
            items = running("apps", "app=web", 2)
            return (
                items
                if items and all(p["spec"]["schedulerName"] == "default-scheduler" for p in items)
                else []
            )

        replaced = eventually(moved, timeout=60)
        assert not {p["metadata"]["name"] for p in replaced} & {p["metadata"]["name"] for p in web}
        assert all(not p["spec"]["nodeName"].startswith("fargate-ip-") for p in replaced)
        eventually(
            lambda: (
                "No resources found"
                in kubectl("get", "nodes", "-l", "eks.amazonaws.com/compute-type=fargate").stderr
            ),
            timeout=30,
        )
        stopped = ecs.describe_tasks(cluster=f"eks-{name}", tasks=arns)["tasks"]
        assert all(t["desiredStatus"] == "STOPPED" for t in stopped)
        kubectl("delete", "deployment", "web", "-n", "apps")
        kubectl("delete", "deployment", "api")
