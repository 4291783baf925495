"""Managed node groups and Fargate profiles through boto3: a node group is CREATING until its
agents (here ``stowage simulate`` hosts: the real agent code over a simulated engine) have
joined, its nodes carry its labels, UpdateNodegroupConfig changes them, a cluster with node
groups or Fargate profiles cannot be deleted, and deleting a group releases its nodes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.api.eks.support import FAST, EksEnv, create_cluster, unique
from tests.support.server import ACCOUNT_ID

NODE_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/eks-nodes"
POD_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/eks-pods"


@contextmanager
def simulated_nodes(env: EksEnv, cluster: str, nodegroup: str, hosts: int, state: Path) -> Iterator[None]:
    """``hosts`` agents joining ``cluster`` as nodes of ``nodegroup``."""
    cmd = [
        sys.executable, "-m", "stowage.cli.main", "simulate", "--endpoint", env.plane.endpoint,
        "--cluster", f"eks-{cluster}", "--hosts", str(hosts), "--state-dir", str(state),
        "--attributes", f"eks.amazonaws.com/nodegroup={nodegroup}", "--poll-wait", "2",
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


def eventually(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s: {check}")
        time.sleep(0.2)


def test_nodegroup_life_cycle(env: EksEnv, eks: Any, tmp_path: Path) -> None:
    name, group = unique("ng"), "workers"
    create_cluster(eks, name)
    made = eks.create_nodegroup(
        clusterName=name, nodegroupName=group, nodeRole=NODE_ROLE, subnets=["subnet-0a"],
        scalingConfig={"minSize": 1, "maxSize": 3, "desiredSize": 2}, labels={"tier": "web"},
        taints=[{"key": "dedicated", "value": "web", "effect": "NO_SCHEDULE"}],
    )["nodegroup"]  # fmt: skip
    assert made["status"] == "CREATING"
    assert made["nodegroupArn"].startswith(f"arn:aws:eks:us-east-1:{ACCOUNT_ID}:nodegroup/{name}/{group}/")
    assert eks.list_nodegroups(clusterName=name)["nodegroups"] == [group]
    with pytest.raises(ClientError) as exc:
        eks.delete_cluster(name=name)
    assert exc.value.response["Error"]["Code"] == "ResourceInUseException"
    assert exc.value.response["Error"]["Message"] == "Cluster has nodegroups attached"
    time.sleep(1)
    assert eks.describe_nodegroup(clusterName=name, nodegroupName=group)["nodegroup"]["status"] == "CREATING"

    kubeconfig = env.kubeconfig_for(name)
    with simulated_nodes(env, name, group, 2, tmp_path / "hosts"):
        eks.get_waiter("nodegroup_active").wait(clusterName=name, nodegroupName=group, WaiterConfig=FAST)

        def labelled_nodes() -> list[dict[str, Any]]:
            out = env.kubectl(
                kubeconfig, "get", "nodes", "-l", f"eks.amazonaws.com/nodegroup={group}", "-o", "json"
            )
            items: list[dict[str, Any]] = json.loads(out.stdout)["items"]
            return (
                items
                if len(items) == 2 and all(n["metadata"]["labels"].get("tier") == "web" for n in items)
                else []
            )

        nodes = eventually(labelled_nodes)
        assert all(n["metadata"]["labels"]["eks.amazonaws.com/capacityType"] == "ON_DEMAND" for n in nodes)

        update = eks.update_nodegroup_config(
            clusterName=name, nodegroupName=group,
            labels={"addOrUpdateLabels": {"tier": "api"}, "removeLabels": []},
            scalingConfig={"desiredSize": 3},
        )["update"]  # fmt: skip
        assert update["type"] == "ConfigUpdate"
        assert {"type": "DesiredSize", "value": "3"} in update["params"]
        done = eventually(
            lambda: (
                eks.describe_update(name=name, updateId=update["id"], nodegroupName=group)["update"]["status"]
                == "Successful"
            )
        )
        assert done
        assert eks.list_updates(name=name, nodegroupName=group)["updateIds"] == [update["id"]]
        assert eks.list_updates(name=name)["updateIds"] == []  # cluster updates only
        described = eventually(
            lambda: (
                (d := eks.describe_nodegroup(clusterName=name, nodegroupName=group)["nodegroup"])["status"]
                == "DEGRADED"
                and d
            )
        )
        assert described["labels"] == {"tier": "api"} and described["scalingConfig"]["desiredSize"] == 3
        assert described["health"]["issues"][0]["code"] == "NodeCreationFailure"  # 2 of 3 joined
        eventually(lambda: "api" in env.kubectl(kubeconfig, "get", "nodes", "-L", "tier").stdout)

        eks.update_nodegroup_config(clusterName=name, nodegroupName=group, scalingConfig={"desiredSize": 2})
        eventually(
            lambda: (
                eks.describe_nodegroup(clusterName=name, nodegroupName=group)["nodegroup"]["status"]
                == "ACTIVE"
            )
        )
        eks.delete_nodegroup(clusterName=name, nodegroupName=group)
        eks.get_waiter("nodegroup_deleted").wait(clusterName=name, nodegroupName=group, WaiterConfig=FAST)
        eventually(lambda: "No resources found" in env.kubectl(kubeconfig, "get", "nodes").stderr)
    eks.delete_cluster(name=name)
    eks.get_waiter("cluster_deleted").wait(name=name, WaiterConfig=FAST)


def test_nodegroup_errors(eks: Any) -> None:
    name = unique("ngerr")
    create_cluster(eks, name)
    base = {"clusterName": name, "nodeRole": NODE_ROLE, "subnets": ["subnet-0a"]}
    with pytest.raises(ClientError) as exc:
        bad_scaling = {"minSize": 3, "maxSize": 2, "desiredSize": 2}
        eks.create_nodegroup(nodegroupName="bad", scalingConfig=bad_scaling, **base)
    assert exc.value.response["Error"]["Code"] == "InvalidParameterException"
    assert exc.value.response["nodegroupName"] == "bad"
    with pytest.raises(ClientError) as exc:
        eks.create_nodegroup(nodegroupName="bad2", labels={"eks.amazonaws.com/x": "y"}, **base)
    assert exc.value.response["Error"]["Code"] == "InvalidParameterException"
    eks.create_nodegroup(
        nodegroupName="zero", scalingConfig={"minSize": 0, "maxSize": 1, "desiredSize": 0}, **base
    )
    eks.get_waiter("nodegroup_active").wait(clusterName=name, nodegroupName="zero", WaiterConfig=FAST)
    with pytest.raises(ClientError) as exc:
        eks.create_nodegroup(nodegroupName="zero", **base)
    assert exc.value.response["Error"]["Code"] == "ResourceInUseException"
    with pytest.raises(ClientError) as exc:
        eks.describe_nodegroup(clusterName=name, nodegroupName="absent")
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as exc:
        eks.create_nodegroup(**{**base, "clusterName": "no-such-cluster"}, nodegroupName="x")
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"
    eks.delete_nodegroup(clusterName=name, nodegroupName="zero")
    eks.get_waiter("nodegroup_deleted").wait(clusterName=name, nodegroupName="zero", WaiterConfig=FAST)
    eks.delete_cluster(name=name)


def test_fargate_profile_life_cycle(eks: Any) -> None:
    name = unique("fp")
    create_cluster(eks, name)
    profile = eks.create_fargate_profile(
        fargateProfileName="apps", clusterName=name, podExecutionRoleArn=POD_ROLE,
        selectors=[{"namespace": "apps", "labels": {"run": "fargate"}}, {"namespace": "batch-*"}],
    )["fargateProfile"]  # fmt: skip
    assert profile["status"] == "CREATING"
    assert profile["subnets"] == ["subnet-0a", "subnet-0b"]  # the cluster's, by default
    eks.get_waiter("fargate_profile_active").wait(
        clusterName=name, fargateProfileName="apps", WaiterConfig=FAST
    )
    assert eks.list_fargate_profiles(clusterName=name)["fargateProfileNames"] == ["apps"]
    with pytest.raises(ClientError) as exc:
        eks.create_fargate_profile(
            fargateProfileName="many", clusterName=name, podExecutionRoleArn=POD_ROLE,
            selectors=[{"namespace": f"n{i}"} for i in range(6)],
        )  # fmt: skip
    assert exc.value.response["Error"]["Code"] == "InvalidParameterException"
    assert exc.value.response["fargateProfileName"] == "many"
    with pytest.raises(ClientError) as exc:
        eks.delete_cluster(name=name)
    assert exc.value.response["Error"]["Message"] == "Cluster has fargate profiles attached"
    with pytest.raises(ClientError) as exc:
        eks.describe_fargate_profile(clusterName=name, fargateProfileName="absent")
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert eks.delete_fargate_profile(clusterName=name, fargateProfileName="apps")["fargateProfile"][
        "status"
    ] == ("DELETING")
    eks.get_waiter("fargate_profile_deleted").wait(
        clusterName=name, fargateProfileName="apps", WaiterConfig=FAST
    )
    eks.delete_cluster(name=name)
    eks.get_waiter("cluster_deleted").wait(name=name, WaiterConfig=FAST)
