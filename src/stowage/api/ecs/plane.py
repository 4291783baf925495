"""Handlers that need the task plane, and the lookups they share.

Task, container-instance and agent-channel handlers take the ``TaskPlane`` (records, index,
placement, liveness, stats) where the other ECS handlers take ``Records``; ``ecs_service``
binds them the same way. The lookups turn ``cluster``/``containerInstance``/``task``
parameters into records, with ECS's errors.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from stowage.api.aws.context import RequestContext
from stowage.api.aws.service import Params, Result
from stowage.api.ecs import errors
from stowage.api.ecs.clusters import cluster_name
from stowage.controllers.task_plane import TaskPlane
from stowage.model import container_instances as ci_model
from stowage.model import tasks as task_model
from stowage.model.arns import parse_arn
from stowage.resources import ecs_keys
from stowage.resources.records import Record

PlaneHandler = Callable[[TaskPlane, RequestContext, Params], Awaitable[Result]]


async def cluster_record(
    plane: TaskPlane, ctx: RequestContext, ref: str | None, *, allow_pool: bool = False
) -> Record:
    """The ACTIVE cluster a ``cluster`` parameter names (with its mod revision)."""
    name = cluster_name(ctx, ref, allow_pool=allow_pool)
    rec = await plane.records.get(ecs_keys.cluster(ctx.account_id, ctx.region, name))
    if rec is None or rec.doc.get("status") != "ACTIVE":
        raise errors.cluster_not_found()
    return rec


def _own(ctx: RequestContext, ref: str, kind: str) -> bool:
    if not ref.startswith("arn:"):
        return True
    arn = parse_arn(ref)
    return (
        arn is not None
        and arn.service == "ecs"
        and arn.resource_type == kind
        and arn.account == ctx.account_id
        and arn.region == ctx.region
    )


def instance_id(ctx: RequestContext, cluster: str, ref: str) -> str | None:
    """The instance id a ``containerInstance`` reference names in ``cluster``, None if it cannot
    name one there."""
    if not _own(ctx, ref, "container-instance"):
        return None
    named_cluster, iid = ci_model.instance_id_from_ref(ref)
    if named_cluster is not None and named_cluster != cluster:
        return None
    return iid if iid and "/" not in iid else None


def task_id(ctx: RequestContext, cluster: str, ref: str) -> str | None:
    if not _own(ctx, ref, "task"):
        return None
    named_cluster, tid = task_model.task_id_from_ref(ref)
    if named_cluster is not None and named_cluster != cluster:
        return None
    return tid if tid and "/" not in tid else None


async def instance_record(plane: TaskPlane, ctx: RequestContext, cluster: str, ref: str) -> Record | None:
    iid = instance_id(ctx, cluster, ref)
    if iid is None:
        return None
    return await plane.records.get(ecs_keys.container_instance(ctx.account_id, ctx.region, cluster, iid))
