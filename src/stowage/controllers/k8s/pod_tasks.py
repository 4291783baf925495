"""One pod as one ECS task: the ``NewTask``, the agent's ``TaskSpec`` and the task record,
built exactly as RunTask builds them (``api/ecs/task_requests.build_for``) from the task
definition ``model/k8s/pods.task_definition`` derives from the pod.

The record carries ``_pod`` (``{key, namespace, name, uid}``), so the pod controller finds a
task's pod from the task index alone; the task id is the pod's uid, so a pod can never have two
tasks (the placement transaction requires the task key to be absent). The files of the pod's
configMap/secret/downwardAPI/projected volumes ride in the spec (``TaskSpec.volume_files``):
the agent writes them without reading anything else.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stowage.model import tasks as task_model
from stowage.model.agent_tasks import TaskNetwork, TaskSpec
from stowage.model.arns import task_arn
from stowage.model.k8s import pod_lifecycle, pod_volumes, pods
from stowage.model.placement import PlacementRequest
from stowage.resources import ecs_keys
from stowage.resources.k8s_objects import object_key
from stowage.scheduler.snapshot import Instance

Obj = dict[str, Any]

POD_SUBNET = "subnet-k8s-pods"
"""The (nominal) subnet pod ENIs show: the agent's own ``--awsvpc-subnet`` gives the address."""
STARTED_BY = "kubernetes"
SPREAD = ({"type": "spread", "field": "instanceId"},)
"""Kubernetes' default scoring spreads a controller's pods over nodes; so do we."""


@dataclass(frozen=True, slots=True)
class Backing:
    """Where the Kubernetes API's pods run: an ECS cluster of one account and region."""

    account: str
    region: str
    cluster: str
    space: str = "local"
    """The Kubernetes object space (``resources/k8s_objects``)."""

    @property
    def cluster_arn(self) -> str:
        return f"arn:aws:ecs:{self.region}:{self.account}:cluster/{self.cluster}"

    def task_key(self, uid: str) -> str:
        return ecs_keys.task(self.account, self.region, self.cluster, pods.task_id_of(uid))


def placement_request(pod: Mapping[str, Any], backing: Backing, expression: str | None) -> PlacementRequest:
    meta = pods.meta(pod)
    family = pods.family_of(str(meta.get("namespace", "")), str(meta.get("name", "")))
    constraints = [{"type": "memberOf", "expression": expression}] if expression else []
    return PlacementRequest(
        pods.needs_of(pod),
        pods.group_of(pod),
        constraints,
        SPREAD,
        launch_type="EC2",
        family=f"arn:aws:ecs:{backing.region}:{backing.account}:task-definition/{family}:1",
    )


def build_task(
    pod: Mapping[str, Any],
    backing: Backing,
    instance: Instance,
    sources: pods.Sources,
    *,
    now: float,
    files: Mapping[str, list[pod_volumes.File]] | None = None,
) -> tuple[str, Obj]:
    """The store key and record of ``pod``'s task on ``instance``; ``files``: its file volumes'
    content (``pod_volumes.pod_files``). Raises ``PodConfigError``."""
    meta = pods.meta(pod)
    uid = str(meta["uid"])
    tid = pods.task_id_of(uid)
    ns, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
    arn = task_arn(backing.region, backing.account, backing.cluster, tid)
    family = pods.family_of(ns, name)
    td_arn = f"arn:aws:ecs:{backing.region}:{backing.account}:task-definition/{family}:1"
    node = instance.ec2_instance_id or instance.instance_id
    td = pods.task_definition(pod, arn=td_arn, cluster=backing.space, region=backing.region, sources=sources,
                              node=node)  # fmt: skip
    pod_lifecycle.attach(pod, td)  # restart policy and probes, for the agent
    attachment = str(uuid.uuid4())
    network_configuration = {"awsvpcConfiguration": {"subnets": [POD_SUBNET]}}
    new = task_model.NewTask(
        task_id=tid,
        task_arn=arn,
        cluster_arn=backing.cluster_arn,
        task_definition=td,
        overrides={},
        launch_type="EC2",
        group=pods.group_of(pod),
        started_by=STARTED_BY,
        tags=[],
        enable_execute_command=False,
        network_configuration=network_configuration,
        placement_constraints=[],
        placement_strategy=list(SPREAD),
        needs=pods.needs_of(pod),
        created_at=now,
        attachment_id=attachment,
    )
    spec = TaskSpec(
        task_arn=arn,
        cluster_arn=backing.cluster_arn,
        container_instance_arn=instance.arn,
        task_definition_arn=td_arn,
        family=family,
        revision=1,
        task_definition=td,
        overrides={},
        launch_type="EC2",
        network=TaskNetwork(mode="awsvpc", attachment_id=attachment, subnets=[POD_SUBNET]),
        group=new.group,
        started_by=STARTED_BY,
        created_at=now,
        volume_files=pod_volumes.encode_files(files or {}),
    )
    doc = task_model.build_task(
        new,
        instance_id=instance.instance_id,
        instance_arn=instance.arn,
        availability_zone=instance.attributes.get("ecs.availability-zone"),
        spec=spec.encode(),
    )
    doc["_pod"] = {
        "key": object_key(backing.space, "", "pods", ns, name),
        "namespace": ns,
        "name": name,
        "uid": uid,
    }
    return backing.task_key(uid), doc


def pod_of(task: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ``_pod`` member of a pod's task record (None for an ECS task)."""
    value = task.get("_pod")
    return value if isinstance(value, dict) else None
