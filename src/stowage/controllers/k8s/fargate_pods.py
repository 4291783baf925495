"""The fargate-scheduler: an EKS cluster's pods admitted to Fargate run as Fargate tasks of the
pool, each shown on a Node of its own.

The pod controller hands over the pods ``model/eks/fargate_pods.profile_of`` names a profile
for (``spec.schedulerName: fargate-scheduler``, set at admission). For such a pod:

- **place**: a pod Fargate cannot run (host network or ports, privileged, hostPath, DaemonSet;
  or requests beyond the largest size) stays Pending with a FailedScheduling event from
  ``fargate-scheduler`` in EKS's words. Otherwise its task is built as for a node
  (``pod_tasks.build_task``: the same task definition, volumes and files), then made a Fargate
  task: ``launchType`` FARGATE, the pod's Fargate size (``model/eks/fargate_pods.size``) as the
  task size, the profile's subnets, the pod as its group, and no host. It is written
  PROVISIONING, as RunTask writes a Fargate task, and the Fargate provisioner
  (``controllers/fargate``) places it on a pool host, where the agent isolates it like any
  Fargate task; the metering controller bills it. The pod is Pending, not yet bound.
- **bind**: once the task has its address (the pool agent started its network namespace), the
  pod's Node ``fargate-ip-<address>...`` is written and the pod bound to it (``spec.nodeName``,
  the ``CapacityProvisioned`` annotation, a Scheduled event from ``fargate-scheduler``); from
  then on its status follows the task like any pod's, with the address as ``hostIP`` too.
- **the node goes** when the task stops or the pod is deleted.

Why after the address and not at once: on EKS the pod is bound once its Fargate capacity has
registered as a node, and the node is named after the pod's address.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from stowage.controllers.k8s.objects import EventSpec
from stowage.controllers.k8s.pod_tasks import build_task
from stowage.model import fargate as fargate_model
from stowage.model import tasks as task_model
from stowage.model.agent_tasks import TaskSpec
from stowage.model.eks import fargate_pods as model
from stowage.model.eks import fargate_profiles as profile_model
from stowage.model.k8s import pod_status as ps
from stowage.model.k8s import pod_volumes, pods
from stowage.model.k8s.meta import rfc3339
from stowage.resources import ecs_keys
from stowage.resources import eks as eks_keys
from stowage.resources.k8s_objects import K8sObjects, Stored, resource_prefix
from stowage.resources.records import Record
from stowage.scheduler.snapshot import Instance
from stowage.store.base import Compare

if TYPE_CHECKING:
    from stowage.controllers.k8s.pods import PodController

log = logging.getLogger("stowage.controllers.k8s")

Obj = dict[str, Any]
TASK_ANNOTATION = "ecs.stowage.io/task-arn"
"""The pod controller's binding annotation (``pods.TASK_ANNOTATION``): the pod has a task."""
RETRY_PROFILE = 3.0
PROVIDER = "FARGATE"
"""The capacity Fargate pods run on (EKS has no Spot capacity for pods)."""
ARCHITECTURE = "x86_64"
_UNPLACED = Instance(
    key="", instance_id="", arn="", mod_revision=0, status="ACTIVE", connected=True, cpu=0, memory=0
)
"""Stands for the host while the task is built: the Fargate provisioner fills it in."""


def _ip(task: Obj) -> str | None:
    for attachment in task.get("attachments") or []:
        for detail in attachment.get("details") or []:
            if detail.get("name") == "privateIPv4Address" and detail.get("value"):
                return str(detail["value"])
    return None


def is_fargate_pod_task(task: Obj) -> bool:
    return task.get("launchType") == "FARGATE" and isinstance(task.get("_pod"), dict)


class FargatePods:
    """The Fargate part of one EKS cluster's pod controller."""

    def __init__(self, pods_controller: PodController, eks_cluster: str) -> None:
        self.pods = pods_controller
        self.eks_cluster = eks_cluster

    # -- what the pod controller asks ------------------------------------------------------------
    @staticmethod
    def wants(pod: Obj) -> bool:
        return model.profile_of(pod) is not None

    @staticmethod
    def host_ip(task: Obj) -> str | None:
        """A Fargate pod's host is its own micro-VM: its address is the pod's."""
        return _ip(task) if is_fargate_pod_task(task) else None

    # -- placing --------------------------------------------------------------------------------------
    async def place(
        self,
        key: str,
        found: Stored,
        sources: pods.Sources,
        files: dict[str, list[pod_volumes.File]],
    ) -> None:
        pod = found.obj
        refusal = model.unsupported(pod)
        size = model.size(pod)
        if refusal is None and size is None:
            refusal = model.too_big(pod)
        if refusal is not None or size is None:
            await self._refuse(key, refusal or "")
            return
        c = self.pods
        b = c.backing
        profile = await c.plane.records.get(
            eks_keys.child_key(
                b.account, b.region, eks_keys.FARGATE, self.eks_cluster, str(model.profile_of(pod))
            )
        )
        if profile is None or profile.doc.get("status") != profile_model.ACTIVE:
            # going away: EKS deletes a deleted profile's pods (``release_profile``)
            c.queue.add_after(key, RETRY_PROFILE)
            return
        cluster = await c.plane.records.get(ecs_keys.cluster(b.account, b.region, b.cluster))
        if cluster is None or cluster.doc.get("status") != "ACTIVE":
            c.queue.add_after(key, RETRY_PROFILE)
            return
        task_key, doc = self._task(pod, sources, files, size, list(profile.doc.get("subnets") or []))
        compares = [Compare.mod_revision(cluster.key, cluster.mod_revision), Compare.absent(task_key)]
        result = await c.plane.records.commit(compares, [(task_key, doc)])
        if not result.succeeded:
            c.queue.add_after(key, RETRY_PROFILE)  # the cluster changed, or the task exists: look again
            return
        await c.plane.written(result.revision)
        uid = (pod.get("metadata") or {}).get("uid")

        def annotate(current: Obj) -> Obj | None:
            meta = current.get("metadata") or {}
            if meta.get("uid") != uid:
                return None
            meta.setdefault("annotations", {})[TASK_ANNOTATION] = doc["taskArn"]
            return current

        await c.writer.update(key, annotate)

    def _task(
        self,
        pod: Obj,
        sources: pods.Sources,
        files: dict[str, list[pod_volumes.File]],
        size: tuple[int, int],
        subnets: list[str],
    ) -> tuple[str, Obj]:
        """The pod's task as a Fargate task waiting for capacity: built as for a node, then
        given the Fargate size, launch type, group and subnets, and no host."""
        c = self.pods
        cpu, memory = size
        key, doc = build_task(pod, c.backing, _UNPLACED, sources, now=c.clock(), files=files)
        group = model.pod_group(pod)
        spec = TaskSpec.decode(str(doc["_spec"]))
        td = {
            **spec.task_definition,
            "cpu": str(cpu),
            "memory": str(memory),
            "requiresCompatibilities": ["FARGATE"],
            "compatibilities": ["EC2", "FARGATE"],
        }
        network = replace(spec.network, subnets=subnets or list(spec.network.subnets))
        spec = replace(
            spec,
            task_definition=td,
            launch_type="FARGATE",
            capacity_provider=PROVIDER,
            container_instance_arn="",
            network=network,
            group=group,
        )
        needs = task_model.Needs(cpu, memory)
        doc.update(
            launchType="FARGATE",
            cpu=str(cpu),
            memory=str(memory),
            group=group,
            lastStatus="PROVISIONING",
            platformVersion=fargate_model.PLATFORM_VERSION,
            platformFamily="Linux",
            ephemeralStorage={"sizeInGiB": fargate_model.DEFAULT_EPHEMERAL_GIB},
            attributes=[{"name": "ecs.cpu-architecture", "value": ARCHITECTURE}],
            _instance=None,
            _needs=needs.to_doc(),
            _spec=spec.encode(),
            _capacityProvider=PROVIDER,
            _placementStrategy=[],
        )
        for member in ("containerInstanceArn", "availabilityZone"):
            doc.pop(member, None)
        for attachment in doc.get("attachments") or []:
            attachment["details"] = (
                [{"name": "subnetId", "value": network.subnets[0]}] if network.subnets else []
            )
        return key, doc

    async def _refuse(self, key: str, message: str) -> None:
        """Pending, with the fargate-scheduler's FailedScheduling event when the reason is new."""
        c = self.pods
        now = c.clock()

        def change(pod: Obj) -> Obj | None:
            for condition in (pod.get("status") or {}).get("conditions") or []:
                if condition.get("type") == "PodScheduled" and condition.get("message") == message:
                    return None
            pod["status"] = ps.unschedulable_status(pod, message, now=now)
            return pod

        written = await c.writer.update(key, change)
        if written is not None:
            await c.writer.event(
                written.obj, EventSpec("FailedScheduling", message, "Warning", component=model.SCHEDULER)
            )

    # -- following the task ---------------------------------------------------------------------------
    async def follow(self, key: str, task: Record) -> bool:
        """Bind the pod once its task has an address; True when its status should follow the
        task (bound, or stopped before it ever got an address)."""
        doc = task.doc
        if not is_fargate_pod_task(doc):
            return True
        stopped = doc.get("lastStatus") == task_model.STOPPED
        uid = str((doc.get("_pod") or {}).get("uid", ""))
        if stopped:
            await self.remove_node(doc, uid)
        found = await self.pods.objects.get(key)
        if found is None or (found.obj.get("metadata") or {}).get("uid") != uid:
            return False
        if (found.obj.get("spec") or {}).get("nodeName"):
            return True
        ip = _ip(doc)
        if ip is None or stopped:
            return stopped
        await self._bind(key, found.obj, doc, ip)
        return True

    async def _bind(self, key: str, pod: Obj, task: Obj, ip: str) -> None:
        c = self.pods
        b = c.backing
        name = model.node_name(ip, b.region)
        uid = str((pod.get("metadata") or {}).get("uid", ""))
        profile = model.profile_of(pod) or ""
        node = model.node_object(
            name=name, ip=ip, region=b.region, zone=task.get("availabilityZone"), profile=profile,
            pod_uid=uid, task_id=str(task["taskArn"]).rsplit("/", 1)[-1], cpu=int(task["cpu"]),
            memory=int(task["memory"]), architecture=ARCHITECTURE, now=c.clock(),
        )  # fmt: skip
        await c.writer.upsert(c.writer.key("nodes", "", name), node, _same_pod)
        capacity = model.capacity_provisioned(int(task["cpu"]), int(task["memory"]))

        def bind(current: Obj) -> Obj | None:
            meta = current.get("metadata") or {}
            if meta.get("uid") != uid or (current.get("spec") or {}).get("nodeName"):
                return None
            meta.setdefault("annotations", {})[model.CAPACITY_ANNOTATION] = capacity
            current.setdefault("spec", {})["nodeName"] = name
            return current

        bound = await c.writer.update(key, bind)
        if bound is not None:
            meta = bound.obj.get("metadata") or {}
            text = f"Successfully assigned {meta.get('namespace')}/{meta.get('name')} to {name}"
            await c.writer.event(bound.obj, EventSpec("Scheduled", text, component=model.SCHEDULER))

    async def gone(self, task_key: str) -> None:
        """The pod was deleted: its node goes (the task is being stopped)."""
        rec = self.pods.index.record(task_key)
        if rec is not None and is_fargate_pod_task(rec.doc):
            await self.remove_node(rec.doc, str(rec.doc["_pod"].get("uid", "")))

    async def remove_node(self, task: Obj, uid: str) -> None:
        """Delete the task's node if it is still the node of this pod (an address is reused once
        its task stopped: a later pod's node of the same name is left alone)."""
        ip = _ip(task)
        if ip is None:
            return
        c = self.pods
        key = c.writer.key("nodes", "", model.node_name(ip, c.backing.region))
        stored = await c.objects.get(key)
        if stored is not None and model.node_pod_uid(stored.obj) == uid:
            await c.objects.delete(key, stored.revision)


def _same_pod(stored: Obj, new: Obj) -> bool:
    """A node already written for this pod is kept as it is (its times stay)."""
    return model.node_pod_uid(stored) == model.node_pod_uid(new)


async def release_profile(objects: K8sObjects, space: str, profile: str, now: float) -> bool:
    """Delete the pods that run under ``profile``, as EKS does when a Fargate profile is
    deleted: a bound pod gracefully (its task is stopped, then it goes), one still waiting at
    once; the ReplicaSets' replacements go through admission again. False when a write lost a
    race (call again)."""
    page, _more, _rev = await objects.list(resource_prefix(space, "", "pods"))
    done = True
    for stored in page:
        pod = stored.obj
        if model.profile_of(pod) != profile or (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue
        spec = pod.get("spec") or {}
        if not spec.get("nodeName"):
            done = await objects.delete(stored.key, stored.revision) is not None and done
            continue
        grace = int(spec.get("terminationGracePeriodSeconds", 30) or 0) or 1
        meta = pod.setdefault("metadata", {})
        meta["deletionTimestamp"] = rfc3339(now + grace)
        meta["deletionGracePeriodSeconds"] = grace
        done = await objects.replace(stored.key, pod, stored.revision) is not None and done
    return done
