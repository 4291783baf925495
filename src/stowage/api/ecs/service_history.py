"""Service deployments and revisions: DescribeServiceDeployments, ListServiceDeployments,
DescribeServiceRevisions.

Both live inside their service's record (``_serviceDeployments``, the newest 20, and
``_serviceRevisions``, those still referenced), so they are read with the service and go away
with it, like the service's INACTIVE record.
"""

from __future__ import annotations

from stowage.api.aws.context import RequestContext
from stowage.api.aws.service import Params, Result
from stowage.api.ecs import errors
from stowage.api.ecs.pagination import decode_token, encode_token, page_size
from stowage.api.ecs.plane import PlaneHandler, cluster_record
from stowage.api.ecs.services import _name_of
from stowage.controllers.task_plane import TaskPlane
from stowage.model import services as model
from stowage.resources.records import Doc
from stowage.resources.services import ServiceRecords

MAX_ARNS = 20
LIST_MAX = 100


async def _children(plane: TaskPlane, ctx: RequestContext, arns: list[str], kind: str) -> Result:
    if not arns:
        raise errors.invalid_parameter(f"{kind} ARNs cannot be empty.")
    if len(arns) > MAX_ARNS:
        raise errors.invalid_parameter(f"A maximum of {MAX_ARNS} ARNs can be described at once.")
    found: list[Doc] = []
    failures: list[Doc] = []
    store = ServiceRecords(plane.records)
    for arn in arns:
        parsed = model.parse_child_arn(arn, kind)
        if parsed is None or (parsed[0], parsed[1]) != (ctx.region, ctx.account_id):
            failures.append({"arn": arn, "reason": "MISSING"})
            continue
        _region, _account, cluster, service, ident = parsed
        rec = await store.get(ctx.account_id, ctx.region, cluster, service)
        doc: Doc | None = None
        if rec is not None and kind == "service-deployment":
            doc = model.find_sd(rec.doc, ident)
        elif rec is not None:
            doc = (rec.doc.get("_serviceRevisions") or {}).get(ident)
        if doc is None:
            failures.append({"arn": arn, "reason": "MISSING"})
        else:
            found.append(model.public(doc))
    return {"found": found, "failures": failures}


async def describe_service_deployments(plane: TaskPlane, ctx: RequestContext, params: Params) -> Result:
    out = await _children(plane, ctx, list(params["serviceDeploymentArns"]), "service-deployment")
    return {"serviceDeployments": out["found"], "failures": out["failures"]}


async def describe_service_revisions(plane: TaskPlane, ctx: RequestContext, params: Params) -> Result:
    out = await _children(plane, ctx, list(params["serviceRevisionArns"]), "service-revision")
    return {"serviceRevisions": out["found"], "failures": out["failures"]}


async def list_service_deployments(plane: TaskPlane, ctx: RequestContext, params: Params) -> Result:
    limit = page_size(params.get("maxResults"), default=20, maximum=LIST_MAX)
    after = decode_token("ListServiceDeployments", params.get("nextToken"))
    cluster = await cluster_record(plane, ctx, params.get("cluster"))
    cname = cluster.doc["clusterName"]
    name = _name_of(ctx, cname, params["service"])
    rec = (
        None
        if name is None
        else await ServiceRecords(plane.records).get(ctx.account_id, ctx.region, cname, name)
    )
    if rec is None:
        raise errors.service_not_found()
    statuses = set(params.get("status") or [])
    window = params.get("createdAt") or {}
    before, since = window.get("before"), window.get("after")
    briefs: list[Doc] = []
    # Newest first, as ECS lists them.
    for sd in reversed(rec.doc.get("_serviceDeployments") or []):
        if statuses and sd["status"] not in statuses:
            continue
        created = float(sd["createdAt"])
        if before is not None and created >= _epoch(before):
            continue
        if since is not None and created <= _epoch(since):
            continue
        brief: Doc = {
            "serviceDeploymentArn": sd["serviceDeploymentArn"],
            "serviceArn": sd["serviceArn"],
            "clusterArn": sd["clusterArn"],
            "createdAt": sd["createdAt"],
            "targetServiceRevisionArn": sd["targetServiceRevision"]["arn"],
            "status": sd["status"],
        }
        for member in ("startedAt", "finishedAt", "statusReason"):
            if sd.get(member) is not None:
                brief[member] = sd[member]
        briefs.append(brief)
    start = 0
    if after is not None:
        arns = [b["serviceDeploymentArn"] for b in briefs]
        start = arns.index(after) + 1 if after in arns else len(arns)
    chunk = briefs[start : start + limit]
    out: Result = {"serviceDeployments": chunk}
    if start + limit < len(briefs):
        out["nextToken"] = encode_token("ListServiceDeployments", chunk[-1]["serviceDeploymentArn"])
    return out


def _epoch(value: object) -> float:
    if isinstance(value, int | float):
        return float(value)
    timestamp = getattr(value, "timestamp", None)
    return float(timestamp()) if callable(timestamp) else 0.0


HANDLERS: dict[str, PlaneHandler] = {
    "DescribeServiceDeployments": describe_service_deployments,
    "ListServiceDeployments": list_service_deployments,
    "DescribeServiceRevisions": describe_service_revisions,
}
