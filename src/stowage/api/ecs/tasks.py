"""ECS task operations that create or stop tasks: RunTask, StartTask, StopTask.

RunTask plans all of its ``count`` tasks at once with the scheduler (snapshot -> plan) and
commits the plan with one compare-and-swap per instance (``controllers.placement``), so
concurrent calls never over-commit an instance; StartTask names the instances and uses no
strategy. FARGATE tasks (a launch type or a FARGATE/FARGATE_SPOT capacity provider strategy,
the cluster's default strategy included) are written PROVISIONING with no instance and placed
by the Fargate provisioner (``api.ecs.fargate_tasks``, ``controllers.fargate``).
"""

from __future__ import annotations

from dataclasses import replace

from stowage.api.aws.context import RequestContext
from stowage.api.aws.errors import throttling
from stowage.api.aws.service import Params, Result
from stowage.api.ecs import errors
from stowage.api.ecs.fargate_tasks import (
    Launch,
    check_fargate,
    check_platform,
    launch_of,
    unplaced_tasks,
    write_unplaced,
)
from stowage.api.ecs.plane import PlaneHandler, cluster_record, instance_id, task_id
from stowage.api.ecs.task_requests import TaskRequest, build_for, check_request, new_task
from stowage.controllers.placement import ClusterChanged, Contention
from stowage.controllers.task_plane import TaskPlane
from stowage.model import container_instances as ci
from stowage.model import tasks as model
from stowage.model.arns import container_instance_arn
from stowage.model.capacity_providers import distribute
from stowage.model.placement import PlacementRequest
from stowage.resources import ecs_keys
from stowage.resources.records import Doc, Record
from stowage.resources.tasks import TaskRecords
from stowage.scheduler.snapshot import Instance, Snapshot

TASK_NOT_FOUND = "The referenced task was not found."
NO_INSTANCES = "No Container Instances were found in your cluster."
MAX_REASON = 255


def _failures(pairs: list[tuple[str, str]]) -> list[Doc]:
    seen: dict[tuple[str, str], None] = {}
    for pair in pairs:
        seen.setdefault(pair, None)
    return [{"arn": arn, "reason": reason} for arn, reason in seen]


async def _place(
    plane: TaskPlane,
    ctx: RequestContext,
    *,
    cluster: Record,
    req: TaskRequest,
    snapshot: Snapshot,
    count: int,
    request: PlacementRequest | None = None,
) -> tuple[list[Doc], list[tuple[str, str]]]:
    """Plan ``count`` copies on ``snapshot`` and commit them (see ``controllers.placement``)."""

    def build(inst: Instance) -> tuple[str, Doc]:
        key, new = new_task(ctx, req)
        return key, build_for(new, inst)

    try:
        outcome = await plane.placement.place(
            cluster=cluster, snapshot=snapshot, request=request or req.placement(), count=count, build=build
        )
    except ClusterChanged:
        raise errors.cluster_not_found() from None
    except Contention as exc:
        if not exc.placed:
            raise throttling("Rate exceeded: too many concurrent placements on this cluster.") from None
        await plane.written(max(t.mod_revision for t in exc.placed))
        unplaced = (cluster.doc["clusterArn"], "Rate exceeded: too many concurrent placements.")
        return [model.render(t.doc) for t in exc.placed], [unplaced]
    if outcome.tasks:
        await plane.written(max(t.mod_revision for t in outcome.tasks))
    return [model.render(t.doc) for t in outcome.tasks], outcome.failures


async def run_task(plane: TaskPlane, ctx: RequestContext, params: Params) -> Result:
    count = params.get("count", 1)
    if not 1 <= count <= model.MAX_COUNT:
        raise errors.invalid_parameter(f"count must be between 1 and {model.MAX_COUNT}.")
    cluster = await cluster_record(plane, ctx, params.get("cluster"))
    launch = launch_of(params, cluster.doc)
    platform = check_platform(params, launch)
    req = await check_request(plane, ctx, params, cluster.doc, launch_type=launch.launch_type)
    if platform is not None:
        return await _run_fargate(
            plane, ctx, params, cluster=cluster, launch=launch, req=req, platform=platform, count=count
        )
    snapshot = await plane.placement.snapshot(ctx.account_id, ctx.region, req.cluster)
    if not any(i.status != ci.INACTIVE for i in snapshot.instances):
        raise errors.invalid_parameter(NO_INSTANCES)
    tasks, failures = await _place(plane, ctx, cluster=cluster, req=req, snapshot=snapshot, count=count)
    return {"tasks": tasks, "failures": _failures(failures)}


async def _run_fargate(
    plane: TaskPlane,
    ctx: RequestContext,
    params: Params,
    *,
    cluster: Record,
    launch: Launch,
    req: TaskRequest,
    platform: str,
    count: int,
) -> Result:
    """Fargate tasks are accepted PROVISIONING and placed by the Fargate provisioner."""
    storage = check_fargate(req, params)
    providers: list[str | None] = (
        list(distribute(launch.strategy, {}, count)) if launch.strategy else [None] * count
    )
    tasks = unplaced_tasks(ctx, req, providers, platform, storage)
    written = await write_unplaced(plane, cluster, tasks)
    return {"tasks": [model.render(t.doc) for t in written], "failures": []}


async def start_task(plane: TaskPlane, ctx: RequestContext, params: Params) -> Result:
    refs: list[str] = params["containerInstances"]
    if not 1 <= len(refs) <= model.MAX_COUNT:
        raise errors.invalid_parameter(f"containerInstances must have 1 to {model.MAX_COUNT} items.")
    cluster = await cluster_record(plane, ctx, params.get("cluster"))
    req = await check_request(plane, ctx, params, cluster.doc, launch_type="EC2")
    # The caller chose the instance: no strategy, only the feasibility checks.
    request = replace(req.placement(), strategy=())
    tasks: list[Doc] = []
    failures: list[tuple[str, str]] = []
    for ref in refs:
        iid = instance_id(ctx, req.cluster, ref)
        arn = (
            ref
            if ref.startswith("arn:")
            else container_instance_arn(ctx.region, ctx.account_id, req.cluster, ref)
        )
        snapshot = (
            Snapshot(())
            if iid is None
            else await plane.placement.snapshot(ctx.account_id, ctx.region, req.cluster, [iid])
        )
        live = [i for i in snapshot.instances if i.status != ci.INACTIVE]
        if not live:
            failures.append((arn, "MISSING"))
            continue
        if live[0].status != ci.ACTIVE:
            failures.append((live[0].arn, live[0].status))
            continue
        placed, why = await _place(
            plane, ctx, cluster=cluster, req=req, snapshot=snapshot, count=1, request=request
        )
        cluster = await cluster_record(plane, ctx, params.get("cluster"))
        tasks.extend(placed)
        failures.extend(why)
    return {"tasks": tasks, "failures": _failures(failures)}


async def stop_task(plane: TaskPlane, ctx: RequestContext, params: Params) -> Result:
    cluster = await cluster_record(plane, ctx, params.get("cluster"))
    name = cluster.doc["clusterName"]
    reason = params.get("reason")
    if reason is not None and len(reason) > MAX_REASON:
        raise errors.invalid_parameter(f"reason can be at most {MAX_REASON} characters.")
    tid = task_id(ctx, name, params["task"])
    if tid is None:
        raise errors.invalid_parameter(TASK_NOT_FOUND)
    key = ecs_keys.task(ctx.account_id, ctx.region, name, tid)
    tasks = TaskRecords(plane.records)
    rec = await tasks.change(key, lambda d: model.stop_requested(d, reason, ctx.now))
    if rec is None:
        raise errors.invalid_parameter(TASK_NOT_FOUND)
    rec = await _stop_orphan(plane, ctx, rec)
    await plane.written(rec.mod_revision)
    return {"task": model.render(rec.doc)}


async def _stop_orphan(plane: TaskPlane, ctx: RequestContext, rec: Record) -> Record:
    """A task whose instance is gone (deregistered), or a Fargate task still waiting for
    capacity, has no agent to stop it: stop it here."""
    if rec.doc.get("lastStatus") == model.STOPPED:
        return rec
    host = ecs_keys.task_instance(rec.key, rec.doc)
    instance = None if host is None else await plane.records.get(host)
    if instance is not None and instance.doc.get("status") != ci.INACTIVE:
        return rec
    report = model.Report(last_status=model.STOPPED, from_agent=False)
    stopped = await TaskRecords(plane.records).change(
        rec.key, lambda d: model.apply_report(d, report, ctx.now)
    )
    return stopped or rec


HANDLERS: dict[str, PlaneHandler] = {
    "RunTask": run_task,
    "StartTask": start_task,
    "StopTask": stop_task,
}
