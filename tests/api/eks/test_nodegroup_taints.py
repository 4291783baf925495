"""A managed node group's taints on its nodes: CreateNodegroup's taints appear on every node
(EKS's NO_SCHEDULE becomes NoSchedule), the scheduler keeps pods that do not tolerate them off,
and UpdateNodegroupConfig's addOrUpdateTaints / removeTaints follow on the nodes. Through boto3
and kubectl against a real server, with ``stowage simulate`` hosts as the group's agents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.api.eks.support import FAST, EksEnv, create_cluster, unique
from tests.api.eks.test_nodegroups import NODE_ROLE, eventually, simulated_nodes


def _taints(env: EksEnv, kubeconfig: Path) -> list[list[tuple[str, str, str]]]:
    out = env.kubectl(kubeconfig, "get", "nodes", "-o", "json")
    return [
        sorted((t["key"], t.get("value", ""), t["effect"]) for t in n["spec"].get("taints") or [])
        for n in json.loads(out.stdout)["items"]
    ]


def test_nodegroup_taints_reach_the_nodes_and_the_scheduler(env: EksEnv, eks: Any, tmp_path: Path) -> None:
    name, group = unique("ngt"), "tainted"
    create_cluster(eks, name)
    eks.create_nodegroup(
        clusterName=name, nodegroupName=group, nodeRole=NODE_ROLE, subnets=["subnet-0a"],
        scalingConfig={"minSize": 1, "maxSize": 2, "desiredSize": 1},
        taints=[{"key": "dedicated", "value": "web", "effect": "NO_SCHEDULE"}],
    )  # fmt: skip
    kubeconfig = env.kubeconfig_for(name)
    with simulated_nodes(env, name, group, 1, tmp_path / "hosts"):
        eks.get_waiter("nodegroup_active").wait(clusterName=name, nodegroupName=group, WaiterConfig=FAST)
        eventually(lambda: _taints(env, kubeconfig) == [[("dedicated", "web", "NoSchedule")]])

        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
               "spec": {"containers": [{"name": "main", "image": "busybox"}]}}  # fmt: skip
        env.kubectl(kubeconfig, "apply", "-f", "-", input=json.dumps(pod))

        def failed() -> str:
            out = env.kubectl(
                kubeconfig, "get", "events", "--field-selector", "involvedObject.name=web", "-o", "json"
            )
            return next(
                (e["message"] for e in json.loads(out.stdout)["items"] if e["reason"] == "FailedScheduling"),
                "",
            )

        assert (
            eventually(failed) == "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: web}."
        )

        update = eks.update_nodegroup_config(
            clusterName=name, nodegroupName=group,
            taints={"addOrUpdateTaints": [{"key": "spot", "value": "yes", "effect": "PREFER_NO_SCHEDULE"}],
                    "removeTaints": [{"key": "dedicated", "value": "web", "effect": "NO_SCHEDULE"}]},
        )["update"]  # fmt: skip
        assert {"TaintsToAdd", "TaintsToRemove"} <= {p["type"] for p in update["params"]}
        eventually(lambda: _taints(env, kubeconfig) == [[("spot", "yes", "PreferNoSchedule")]])

        def scheduled() -> str:
            out = env.kubectl(kubeconfig, "get", "pod", "web", "-o", "json")
            return str(json.loads(out.stdout)["spec"].get("nodeName") or "")

        assert eventually(scheduled)  # a PreferNoSchedule taint does not keep it away
        env.kubectl(kubeconfig, "delete", "pod", "web", "--grace-period=0", "--force")
        eks.delete_nodegroup(clusterName=name, nodegroupName=group)
        eks.get_waiter("nodegroup_deleted").wait(clusterName=name, nodegroupName=group, WaiterConfig=FAST)
    eks.delete_cluster(name=name)
    eks.get_waiter("cluster_deleted").wait(name=name, WaiterConfig=FAST)
