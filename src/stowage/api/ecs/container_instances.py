"""ECS container instances: RegisterContainerInstance, DeregisterContainerInstance,
DescribeContainerInstances, ListContainerInstances, UpdateContainerInstancesState.

The agent registers through this same API (as ECS's agent does). Running/pending task counts
come from the in-memory task index; custom attributes (PutAttributes) are merged into
``attributes`` as ECS shows them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from stowage.api.aws.context import RequestContext
from stowage.api.aws.service import Params, Result
from stowage.api.ecs import errors
from stowage.api.ecs.pagination import decode_token, encode_token, page_size
from stowage.api.ecs.plane import PlaneHandler, cluster_record, instance_id, instance_record
from stowage.controllers.task_plane import TaskPlane
from stowage.model import clusters as cluster_model
from stowage.model import container_instances as model
from stowage.model import tasks as task_model
from stowage.model.arns import cluster_arn, container_instance_arn
from stowage.model.fargate import POOL_CLUSTER
from stowage.model.tags import check_tags
from stowage.model.validation import Invalid
from stowage.resources import ecs_keys
from stowage.resources.clusters import ClusterRecords
from stowage.resources.container_instances import ClusterGone, InstanceRecords
from stowage.resources.records import Doc, Record
from stowage.resources.tasks import TaskRecords
from stowage.scheduler import query

NOT_FOUND = "The referenced container instance was not found."
HAS_TASKS = "Found running tasks on the instance."
FORCED_STOP_REASON = "Container instance deregistered"


def render(
    plane: TaskPlane, rec: Record, custom: Mapping[str, Sequence[Doc]], include: Sequence[str] = ()
) -> Doc:
    running, pending = plane.index.counts_of(rec.key)
    return model.render(
        rec.doc,
        include=include,
        running=running,
        pending=pending,
        custom_attributes=custom.get(rec.key.rsplit("/", 1)[-1], ()),
    )


async def _custom(plane: TaskPlane, ctx: RequestContext, cluster: str) -> dict[str, list[Doc]]:
    return await InstanceRecords(plane.records).custom_attributes(ctx.account_id, ctx.region, cluster)


async def _pool_cluster(plane: TaskPlane, ctx: RequestContext) -> None:
    """The Fargate pool's cluster record, made when its first host registers."""
    doc = cluster_model.new_cluster(
        cluster_arn(ctx.region, ctx.account_id, POOL_CLUSTER),
        POOL_CLUSTER,
        tags=[],
        settings=[],
        configuration=None,
        capacity_providers=[],
        strategy=[],
        attachments=[],
        service_connect_namespace=None,
    )
    await ClusterRecords(plane.records).create(ctx.account_id, ctx.region, POOL_CLUSTER, doc)


async def register_container_instance(plane: TaskPlane, ctx: RequestContext, params: Params) -> Result:
    if str(params.get("cluster") or "").rsplit("/", 1)[-1] == POOL_CLUSTER:
        await _pool_cluster(plane, ctx)
    crec = await cluster_record(plane, ctx, params.get("cluster"), allow_pool=True)
    cluster = crec.doc["clusterName"]
    try:
        resources = model.check_total_resources(params.get("totalResources") or [])
        identity = model.parse_identity_document(params.get("instanceIdentityDocument"))
        attributes = model.standard_attributes(identity, params.get("attributes") or [])
        tags = check_tags(params.get("tags") or [])
    except Invalid as exc:
        raise errors.invalid_parameter(str(exc)) from None
    version_info = dict(params.get("versionInfo") or {})
    ref = params.get("containerInstanceArn")
    if ref is not None:
        iid = instance_id(ctx, cluster, ref)
        if iid is None or not _valid_id(iid):
            raise errors.invalid_parameter(f"Invalid containerInstanceArn '{ref}'.")
    else:
        iid = model.new_instance_id()
    arn = container_instance_arn(ctx.region, ctx.account_id, cluster, iid)
    ec2_id = str(identity.get("instanceId") or "") or None

    def change(current: Doc | None) -> Doc:
        if current is None:
            return model.new_instance(
                arn,
                ec2_instance_id=ec2_id or model.new_ec2_instance_id(),
                resources=resources,
                version_info=version_info,
                attributes=attributes,
                tags=tags,
                now=ctx.now,
            )
        current["_healthChangedAt"] = ctx.now
        return model.reregister(
            current, resources=resources, version_info=version_info, attributes=attributes, tags=tags
        )

    try:
        rec = await InstanceRecords(plane.records).change(ctx.account_id, ctx.region, cluster, iid, change)
    except ClusterGone:
        raise errors.cluster_not_found() from None
    assert rec is not None
    await plane.liveness.heartbeat(ctx.account_id, ctx.region, cluster, iid, rec.doc)
    await plane.written(rec.mod_revision)
    return {"containerInstance": render(plane, rec, await _custom(plane, ctx, cluster), ["TAGS"])}


def _valid_id(iid: str) -> bool:
    hex32 = len(iid) == 32 and all(c in "0123456789abcdef" for c in iid)
    return hex32 or (len(iid) == 36 and iid.count("-") == 4)


async def deregister_container_instance(plane: TaskPlane, ctx: RequestContext, params: Params) -> Result:
    crec = await cluster_record(plane, ctx, params.get("cluster"), allow_pool=True)
    cluster = crec.doc["clusterName"]
    iid = instance_id(ctx, cluster, params["containerInstance"])
    if iid is None:
        raise errors.invalid_parameter(NOT_FOUND)
    force = bool(params.get("force"))

    def change(current: Doc | None) -> Doc:
        if current is None or current.get("status") == model.INACTIVE:
            raise errors.invalid_parameter(NOT_FOUND)
        if int(current.get("_activeTasks", 0)) > 0 and not force:
            raise errors.invalid_parameter(HAS_TASKS)
        current["status"] = model.INACTIVE
        current["agentConnected"] = False
        current["_inactiveAt"] = ctx.now
        return model.touch(current)

    instances = InstanceRecords(plane.records)
    rec = await instances.change(ctx.account_id, ctx.region, cluster, iid, change)
    assert rec is not None
    await plane.written(rec.mod_revision)
    if force:
        # ECS moves every task of a force-deregistered instance to STOPPED.
        slot = plane.index.slot(rec.key)
        tasks = TaskRecords(plane.records)
        last = rec.mod_revision
        report = task_model.Report(
            last_status=task_model.STOPPED, stopped_reason=FORCED_STOP_REASON, from_agent=False
        )

        def stop(doc: Doc) -> Doc | None:
            return task_model.apply_report(doc, report, ctx.now)

        for task_key in list(slot.tasks) if slot else []:
            stopped = await tasks.change(task_key, stop)
            if stopped is not None:
                last = max(last, stopped.mod_revision)
        await plane.written(last)
        fresh = await instances.get(ctx.account_id, ctx.region, cluster, iid)
        rec = fresh or rec
    plane.liveness.forget(rec.key)
    return {"containerInstance": render(plane, rec, {}, ["TAGS"])}


async def describe_container_instances(plane: TaskPlane, ctx: RequestContext, params: Params) -> Result:
    crec = await cluster_record(plane, ctx, params.get("cluster"), allow_pool=True)
    cluster = crec.doc["clusterName"]
    refs: list[str] = params["containerInstances"]
    if not refs:
        raise errors.invalid_parameter("containerInstances can not be empty.")
    if len(refs) > model.MAX_DESCRIBE:
        raise errors.invalid_parameter(f"containerInstances can have at most {model.MAX_DESCRIBE} items.")
    include: list[str] = params.get("include") or []
    bad = [i for i in include if i not in model.INCLUDE_FIELDS]
    if bad:
        raise errors.invalid_parameter(f"Invalid include value '{bad[0]}'.")
    custom = await _custom(plane, ctx, cluster)
    found: list[Doc] = []
    failures: list[Doc] = []
    for ref in refs:
        rec = await instance_record(plane, ctx, cluster, ref)
        if rec is None:
            failures.append({"arn": _arn_of(ctx, cluster, ref), "reason": "MISSING"})
        else:
            found.append(render(plane, rec, custom, include))
    return {"containerInstances": found, "failures": failures}


def _arn_of(ctx: RequestContext, cluster: str, ref: str) -> str:
    return ref if ref.startswith("arn:") else container_instance_arn(ctx.region, ctx.account_id, cluster, ref)


async def list_container_instances(plane: TaskPlane, ctx: RequestContext, params: Params) -> Result:
    crec = await cluster_record(plane, ctx, params.get("cluster"), allow_pool=True)
    cluster = crec.doc["clusterName"]
    status = params.get("status")
    if status is not None and status not in model.LIST_STATUSES:
        raise errors.invalid_parameter(
            f"Invalid status '{status}'. Valid values: {', '.join(model.LIST_STATUSES)}."
        )
    expr = None
    if params.get("filter"):
        try:
            expr = query.parse(params["filter"])
        except query.QueryError as exc:
            raise errors.invalid_parameter(str(exc)) from None
    limit = page_size(params.get("maxResults"), default=model.LIST_PAGE, maximum=model.LIST_PAGE)
    after = decode_token("ListContainerInstances", params.get("nextToken"))
    custom = await _custom(plane, ctx, cluster) if expr is not None else {}

    def keep(rec: Record) -> bool:
        st = rec.doc.get("status")
        if status is None and st == model.INACTIVE:
            return False
        if status is not None and st != status:
            return False
        return expr is None or query.evaluate(expr, _target(plane, rec, custom))

    recs, nxt = await InstanceRecords(plane.records).page(
        ctx.account_id, ctx.region, cluster, after=after, limit=limit, keep=keep
    )
    result: Result = {"containerInstanceArns": [r.doc["containerInstanceArn"] for r in recs]}
    if nxt is not None:
        result["nextToken"] = encode_token("ListContainerInstances", nxt)
    return result


def _target(plane: TaskPlane, rec: Record, custom: Mapping[str, Sequence[Doc]]) -> query.QueryTarget:
    attrs: dict[str, str | None] = {a["name"]: a.get("value") for a in rec.doc.get("attributes", [])}
    attrs.update({a["name"]: a.get("value") for a in custom.get(rec.key.rsplit("/", 1)[-1], ())})
    slot = plane.index.slot(rec.key)
    groups = frozenset(
        str(t.doc.get("group", ""))
        for t in (slot.tasks.values() if slot else ())
        if t.doc.get("lastStatus") != "STOPPED"
    )
    return query.QueryTarget(
        attributes=attrs,
        ec2_instance_id=rec.doc.get("ec2InstanceId"),
        registered_at=rec.doc.get("registeredAt"),
        running_tasks_count=slot.running if slot else 0,
        task_groups=groups,
    )


async def update_container_instances_state(plane: TaskPlane, ctx: RequestContext, params: Params) -> Result:
    crec = await cluster_record(plane, ctx, params.get("cluster"), allow_pool=True)
    cluster = crec.doc["clusterName"]
    status = params["status"]
    if status not in model.SETTABLE_STATUSES:
        raise errors.invalid_parameter(
            f"Container instances status can only be updated to {' or '.join(model.SETTABLE_STATUSES)}."
        )
    refs: list[str] = params["containerInstances"]
    if not refs or len(refs) > model.MAX_UPDATE:
        raise errors.invalid_parameter(f"containerInstances must have 1 to {model.MAX_UPDATE} items.")
    instances = InstanceRecords(plane.records)
    updated: list[Record] = []
    failures: list[Doc] = []
    for ref in refs:
        iid = instance_id(ctx, cluster, ref)
        missing = False

        def change(current: Doc | None) -> Doc | None:
            nonlocal missing
            if current is None or current.get("status") == model.INACTIVE:
                missing = True
                return None
            if current.get("status") == status:
                return None
            current["status"] = status
            return model.touch(current)

        rec = (
            None if iid is None else await instances.change(ctx.account_id, ctx.region, cluster, iid, change)
        )
        if rec is None or missing:
            failures.append({"arn": _arn_of(ctx, cluster, ref), "reason": "MISSING"})
        else:
            updated.append(rec)
    if updated:
        await plane.written(max(r.mod_revision for r in updated))
    custom = await _custom(plane, ctx, cluster)
    return {"containerInstances": [render(plane, r, custom) for r in updated], "failures": failures}


def instance_key(ctx: RequestContext, cluster: str, iid: str) -> str:
    return ecs_keys.container_instance(ctx.account_id, ctx.region, cluster, iid)


HANDLERS: dict[str, PlaneHandler] = {
    "RegisterContainerInstance": register_container_instance,
    "DeregisterContainerInstance": deregister_container_instance,
    "DescribeContainerInstances": describe_container_instances,
    "ListContainerInstances": list_container_instances,
    "UpdateContainerInstancesState": update_container_instances_state,
}
