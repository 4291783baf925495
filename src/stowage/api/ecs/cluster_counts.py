"""Cluster task counts from the task index, laid over the cluster handlers' answers.

``runningTasksCount``/``pendingTasksCount`` (and the per-launch-type statistics) are derived
from the in-memory task index, fed by one store watch, instead of being rewritten into one hot
cluster record on every task change: a thousand tasks changing state would otherwise contend
on a single key. The instance count stays in the cluster record (registrations are rare, and
DeleteCluster must read it inside its compare-and-swap). DeleteCluster's task refusal reads the
index once no instance is registered: with no instance, no task can be placed any more, so the
number cannot grow behind its back.
"""

from __future__ import annotations

from stowage.api.aws.context import RequestContext
from stowage.api.aws.service import Params, Result
from stowage.api.ecs import clusters, errors
from stowage.api.ecs.handler import EcsHandler
from stowage.api.ecs.plane import PlaneHandler
from stowage.controllers.task_plane import TaskPlane
from stowage.resources import ecs_keys
from stowage.resources.records import Doc

_LAUNCH_STAT = {"EC2": "EC2", "FARGATE": "Fargate", "EXTERNAL": "External"}


def overlay(plane: TaskPlane, ctx: RequestContext, cluster: Doc) -> None:
    counts = plane.index.cluster_counts(ctx.account_id, ctx.region, str(cluster.get("clusterName")))
    cluster["runningTasksCount"] = counts.running_total
    cluster["pendingTasksCount"] = counts.pending_total
    stats = cluster.get("statistics")
    if stats:
        values: dict[str, int] = {}
        for launch, label in _LAUNCH_STAT.items():
            values[f"running{label}TasksCount"] = counts.running[launch]
            values[f"pending{label}TasksCount"] = counts.pending[launch]
        for item in stats:
            if item.get("name") in values:
                item["value"] = str(values[item["name"]])


def with_counts(handler: EcsHandler) -> PlaneHandler:
    async def counted(plane: TaskPlane, ctx: RequestContext, params: Params) -> Result:
        result = await handler(plane.records, ctx, params)
        docs = ([result["cluster"]] if result.get("cluster") else []) + list(result.get("clusters") or [])
        for doc in docs:
            overlay(plane, ctx, doc)
        return result

    return counted


async def delete_cluster(plane: TaskPlane, ctx: RequestContext, params: Params) -> Result:
    name = clusters.cluster_name(ctx, params["cluster"])
    rec = await plane.records.get(ecs_keys.cluster(ctx.account_id, ctx.region, name))
    if (
        rec is not None
        and rec.doc.get("status") == "ACTIVE"
        and not rec.doc.get("registeredContainerInstancesCount")
    ):
        counts = plane.index.cluster_counts(ctx.account_id, ctx.region, name)
        if counts.running_total or counts.pending_total:
            raise errors.cluster_contains_tasks()
    return await with_counts(clusters.delete_cluster)(plane, ctx, params)


HANDLERS: dict[str, PlaneHandler] = {
    "CreateCluster": with_counts(clusters.create_cluster),
    "DescribeClusters": with_counts(clusters.describe_clusters),
    "UpdateCluster": with_counts(clusters.update_cluster),
    "UpdateClusterSettings": with_counts(clusters.update_cluster_settings),
    "PutClusterCapacityProviders": with_counts(clusters.put_cluster_capacity_providers),
    "DeleteCluster": delete_cluster,
}
