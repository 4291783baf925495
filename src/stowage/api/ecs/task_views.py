"""ECS task reads: DescribeTasks and ListTasks.

ListTasks filters a cluster's task records in key order with ECS's semantics: ``desiredStatus``
defaults to RUNNING (PENDING is accepted and, as in ECS, matches nothing); ``serviceName``
matches the ``service:NAME`` group a service gives its tasks.
"""

from __future__ import annotations

from stowage.api.aws.context import RequestContext
from stowage.api.aws.service import Params, Result
from stowage.api.ecs import errors
from stowage.api.ecs.pagination import decode_token, encode_token, page_size
from stowage.api.ecs.plane import PlaneHandler, cluster_record, instance_id, task_id
from stowage.controllers.task_plane import TaskPlane
from stowage.model import tasks as model
from stowage.model.arns import task_arn
from stowage.model.task_definitions import FAMILY_PATTERN
from stowage.resources import ecs_keys
from stowage.resources.records import Doc, Record
from stowage.resources.tasks import TaskRecords

DESIRED = ("RUNNING", "PENDING", "STOPPED")
LAUNCH_TYPES = ("EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES")


async def describe_tasks(plane: TaskPlane, ctx: RequestContext, params: Params) -> Result:
    cluster = (await cluster_record(plane, ctx, params.get("cluster"))).doc["clusterName"]
    refs: list[str] = params["tasks"]
    if not refs:
        raise errors.invalid_parameter("Tasks cannot be empty.")
    if len(refs) > model.MAX_DESCRIBE:
        raise errors.invalid_parameter(f"tasks can have at most {model.MAX_DESCRIBE} items.")
    include: list[str] = params.get("include") or []
    if any(i != "TAGS" for i in include):
        raise errors.invalid_parameter("Invalid include value. Valid values: TAGS.")
    found: list[Doc] = []
    failures: list[Doc] = []
    for ref in refs:
        tid = task_id(ctx, cluster, ref)
        rec = None
        if tid is not None:
            rec = await plane.records.get(ecs_keys.task(ctx.account_id, ctx.region, cluster, tid))
        if rec is None:
            arn = ref if ref.startswith("arn:") else task_arn(ctx.region, ctx.account_id, cluster, ref)
            failures.append({"arn": arn, "reason": "MISSING"})
        else:
            found.append(model.render(rec.doc, include))
    return {"tasks": found, "failures": failures}


async def list_tasks(plane: TaskPlane, ctx: RequestContext, params: Params) -> Result:
    cluster = (await cluster_record(plane, ctx, params.get("cluster"))).doc["clusterName"]
    desired = params.get("desiredStatus") or "RUNNING"
    if desired not in DESIRED:
        raise errors.invalid_parameter(
            f"Invalid desiredStatus '{desired}'. Valid values: {', '.join(DESIRED)}."
        )
    launch = params.get("launchType")
    if launch is not None and launch not in LAUNCH_TYPES:
        raise errors.invalid_parameter(f"Invalid launchType '{launch}'.")
    family = params.get("family")
    if family is not None and not FAMILY_PATTERN.match(family):
        raise errors.invalid_parameter("Invalid family.")
    if family is not None and params.get("serviceName") is not None:
        raise errors.invalid_parameter("family and serviceName cannot be specified together.")
    instance = None
    if params.get("containerInstance") is not None:
        instance = instance_id(ctx, cluster, params["containerInstance"])
        if instance is None:
            raise errors.invalid_parameter("Invalid containerInstance.")
    started_by = params.get("startedBy")
    group = None if params.get("serviceName") is None else f"service:{params['serviceName']}"
    limit = page_size(params.get("maxResults"), default=model.LIST_PAGE, maximum=model.LIST_PAGE)
    after = decode_token("ListTasks", params.get("nextToken"))

    def keep(rec: Record) -> bool:
        doc = rec.doc
        if desired == "PENDING" or doc.get("desiredStatus") != desired:
            return False
        if instance is not None and doc.get("_instance") != instance:
            return False
        if family is not None and _family(doc) != family:
            return False
        if started_by is not None and doc.get("startedBy") != started_by:
            return False
        if group is not None and doc.get("group") != group:
            return False
        return launch is None or doc.get("launchType") == launch

    recs, nxt = await TaskRecords(plane.records).page(
        ctx.account_id, ctx.region, cluster, after=after, limit=limit, keep=keep
    )
    result: Result = {"taskArns": [r.doc["taskArn"] for r in recs]}
    if nxt is not None:
        result["nextToken"] = encode_token("ListTasks", nxt)
    return result


def _family(doc: Doc) -> str:
    return str(doc.get("taskDefinitionArn", "")).rsplit("/", 1)[-1].rsplit(":", 1)[0]


HANDLERS: dict[str, PlaneHandler] = {
    "DescribeTasks": describe_tasks,
    "ListTasks": list_tasks,
}
