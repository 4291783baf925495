"""PollAssignments, SubmitTaskState and ReportStats: the stowage agent's operations.

PollAssignments is also the heartbeat. It answers at once when the instance's assignments
changed since the agent's ``knownRevision``, else waits up to ``waitSeconds`` (capped by the
server) on that instance's own event in the in-memory index: no store read, no store watch per
agent, and a task event wakes only the pollers of its instance. The answer lists every task of
the instance that is not STOPPED-and-acknowledged (the agent reported the STOPPED itself),
with its desired status and its encoded ``TaskSpec``.
"""

from __future__ import annotations

from stowage.api.aws.context import RequestContext
from stowage.api.aws.service import Params, Result
from stowage.api.ecs import errors
from stowage.api.ecs.clusters import cluster_name
from stowage.api.ecs.plane import PlaneHandler, instance_id
from stowage.api.ecs.task_state import ACK, submit_report
from stowage.controllers.task_plane import TaskPlane
from stowage.model import tasks as task_model
from stowage.model.arns import task_arn
from stowage.resources import ecs_keys
from stowage.resources.records import Doc, Record

INSTANCE_NOT_FOUND = "The referenced container instance was not found."


async def _instance(plane: TaskPlane, ctx: RequestContext, params: Params) -> tuple[str, str, Record]:
    """(cluster, instance id, instance record) of the calling agent, from the index first."""
    cluster = cluster_name(ctx, params["cluster"])
    iid = instance_id(ctx, cluster, params["containerInstance"])
    if iid is None:
        raise errors.client_exception(INSTANCE_NOT_FOUND)
    key = ecs_keys.container_instance(ctx.account_id, ctx.region, cluster, iid)
    rec = plane.index.instance(key) or await plane.records.get(key)
    if rec is None:
        raise errors.client_exception(INSTANCE_NOT_FOUND)
    return cluster, iid, rec


def _assignment(doc: Doc) -> Doc:
    return {
        "taskArn": doc["taskArn"],
        "desiredStatus": doc["desiredStatus"],
        "lastStatus": doc["lastStatus"],
        "spec": doc["_spec"],
    }


async def poll_assignments(plane: TaskPlane, ctx: RequestContext, params: Params) -> Result:
    cluster, iid, rec = await _instance(plane, ctx, params)
    await plane.liveness.heartbeat(ctx.account_id, ctx.region, cluster, iid, rec.doc)
    known = params.get("knownRevision")
    wait = 0.0 if known is None else min(float(params.get("waitSeconds") or 0), plane.config.max_poll_wait)
    slot = await plane.index.wait_change(rec.key, -1 if known is None else int(known), wait)
    instance = slot.instance or rec
    tasks = [
        _assignment(t.doc)
        for t in sorted(slot.tasks.values(), key=lambda r: r.key)
        if not (t.doc.get("lastStatus") == task_model.STOPPED and t.doc.get("_acked"))
    ]
    return {
        "revision": slot.revision,
        "tasks": tasks,
        "instanceStatus": instance.doc.get("status"),
        "heartbeatIntervalSeconds": max(
            1, int(min(plane.config.max_poll_wait, plane.config.agent_timeout / 3))
        ),
    }


async def submit_task_state(plane: TaskPlane, ctx: RequestContext, params: Params) -> Result:
    cluster, iid, rec = await _instance(plane, ctx, params)
    await plane.liveness.heartbeat(ctx.account_id, ctx.region, cluster, iid, rec.doc)
    report = task_model.Report(
        last_status=params["lastStatus"],
        containers=params.get("containers") or [],
        attachments=params.get("attachments") or [],
        pull_started_at=params.get("pullStartedAt"),
        pull_stopped_at=params.get("pullStoppedAt"),
        started_at=params.get("startedAt"),
        execution_stopped_at=params.get("executionStoppedAt"),
        health_status=params.get("healthStatus"),
        stop_code=params.get("stopCode"),
        stopped_reason=params.get("stoppedReason"),
    )
    await submit_report(plane, ctx, cluster, params["task"], report, instance=iid)
    return {"acknowledgment": ACK}


async def report_stats(plane: TaskPlane, ctx: RequestContext, params: Params) -> Result:
    cluster, _iid, rec = await _instance(plane, ctx, params)
    samples = []
    for s in params["samples"]:
        ref = str(s["task"])
        arn = ref if ref.startswith("arn:") else task_arn(ctx.region, ctx.account_id, cluster, ref)
        samples.append({**s, "task": arn})
    plane.stats.record(str(rec.doc["containerInstanceArn"]), samples)
    return {}


HANDLERS: dict[str, PlaneHandler] = {
    "PollAssignments": poll_assignments,
    "SubmitTaskState": submit_task_state,
    "ReportStats": report_stats,
}
