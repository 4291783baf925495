"""PollAssignments, SubmitTaskState(s) and ReportStats: the stowage agent's operations.

PollAssignments is also the heartbeat. It answers at once when the instance's assignments
changed since the agent's ``knownRevision``, else waits up to ``waitSeconds`` (capped by the
server) on that instance's own event in the in-memory index: no store read, no store watch per
agent, and a task event wakes only the pollers of its instance. The answer lists every task of
the instance that is not STOPPED-and-acknowledged (the agent reported the STOPPED itself),
with its desired status, and its encoded ``TaskSpec`` unless the agent's ``knownRevision``
shows it was sent already. Only changes the agent is told about wake the poll
(`EcsIndex` ``agent_revision``): the agent's own PENDING/RUNNING reports do not.

A poll may carry task state reports (``reports``, as SubmitTaskStates): they are applied
first and answered in ``reportResults`` whenever the poll answers. An agent whose containers
start at once thus reports them on the poll it sends next anyway: one request per assignment
instead of two.
"""

from __future__ import annotations

from typing import Any

from stowage.api.aws.context import RequestContext
from stowage.api.aws.service import Params, Result
from stowage.api.ecs import errors
from stowage.api.ecs.clusters import cluster_name
from stowage.api.ecs.plane import PlaneHandler, instance_id
from stowage.api.ecs.task_state import ACK, submit_report, submit_reports
from stowage.controllers.inline_gather import gather_inline
from stowage.controllers.task_plane import TaskPlane
from stowage.model import tasks as task_model
from stowage.model.agent_stats import PackedBatch, unpack
from stowage.model.arns import task_arn
from stowage.model.fargate import POOL_CLUSTER
from stowage.resources import ecs_keys
from stowage.resources.records import Doc, Record

INSTANCE_NOT_FOUND = "The referenced container instance was not found."


async def _instance(plane: TaskPlane, ctx: RequestContext, params: Params) -> tuple[str, str, Record]:
    """(cluster, instance id, instance record) of the calling agent, from the index first."""
    cluster = cluster_name(ctx, params["cluster"], allow_pool=True)
    iid = instance_id(ctx, cluster, params["containerInstance"])
    if iid is None:
        raise errors.client_exception(INSTANCE_NOT_FOUND)
    key = ecs_keys.container_instance(ctx.account_id, ctx.region, cluster, iid)
    rec = plane.index.instance(key) or await plane.records.get(key)
    if rec is None:
        raise errors.client_exception(INSTANCE_NOT_FOUND)
    return cluster, iid, rec


def _task_cluster(cluster: str, ref: str) -> str:
    """The cluster a reported task belongs to: the agent's own, except on a Fargate pool host,
    whose tasks come from every cluster (their ARNs name it)."""
    if cluster != POOL_CLUSTER:
        return cluster
    named, _tid = task_model.task_id_from_ref(ref)
    return named or cluster


def _assignment(doc: Doc, *, with_spec: bool) -> Doc:
    out = {"taskArn": doc["taskArn"], "desiredStatus": doc["desiredStatus"], "lastStatus": doc["lastStatus"]}
    if with_spec:
        out["spec"] = doc["_spec"]
    return out


async def poll_assignments(plane: TaskPlane, ctx: RequestContext, params: Params) -> Result:
    cluster, iid, rec = await _instance(plane, ctx, params)
    await plane.liveness.heartbeat(ctx.account_id, ctx.region, cluster, iid, rec.doc)
    carried = params.get("reports")
    results = await _apply_reports(plane, ctx, cluster, iid, carried) if carried else None
    known = params.get("knownRevision")
    wait = 0.0 if known is None else min(float(params.get("waitSeconds") or 0), plane.config.max_poll_wait)
    if results is not None and any("errorCode" in r for r in results):
        wait = 0.0  # the agent should hear of a refused report now, not at the next change
    seen = -1 if known is None else int(known)
    slot = await plane.index.wait_change(rec.key, seen, wait)
    instance = slot.instance or rec
    since = slot.since
    # A task's spec goes out until the agent acknowledges an answer that carried it (its
    # knownRevision reached the revision the task joined at): re-sending every spec on every
    # answer made each answer O(tasks on the host) in bytes for nothing.
    tasks = [
        _assignment(t.doc, with_spec=since.get(key, seen + 1) > seen)
        for key, t in sorted(slot.tasks.items())
        if not (t.doc.get("lastStatus") == task_model.STOPPED and t.doc.get("_acked"))
    ]
    answer: Result = {
        "revision": slot.agent_revision,
        "tasks": tasks,
        "instanceStatus": instance.doc.get("status"),
        "heartbeatIntervalSeconds": max(
            1, int(min(plane.config.max_poll_wait, plane.config.agent_timeout / 3))
        ),
    }
    sessions = plane.exec.pending(rec.key)
    if sessions:
        answer["execSessions"] = [s.to_doc() for s in sessions]
    if results is not None:
        answer["reportResults"] = results
    return answer


def _report(params: Params) -> task_model.Report:
    return task_model.Report(
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
        isolation=params.get("isolation"),
    )


async def submit_task_state(plane: TaskPlane, ctx: RequestContext, params: Params) -> Result:
    cluster, iid, rec = await _instance(plane, ctx, params)
    await plane.liveness.heartbeat(ctx.account_id, ctx.region, cluster, iid, rec.doc)
    task = params["task"]
    await submit_report(plane, ctx, _task_cluster(cluster, task), task, _report(params), instance=iid)
    return {"acknowledgment": ACK}


async def submit_task_states(plane: TaskPlane, ctx: RequestContext, params: Params) -> Result:
    cluster, iid, rec = await _instance(plane, ctx, params)
    await plane.liveness.heartbeat(ctx.account_id, ctx.region, cluster, iid, rec.doc)
    return {"results": await _apply_reports(plane, ctx, cluster, iid, params["reports"])}


async def _apply_reports(
    plane: TaskPlane, ctx: RequestContext, cluster: str, iid: str, reports: list[Params]
) -> list[Result]:
    """Many reports of one agent (SubmitTaskStates, or riding on a PollAssignments): the
    reports of one task are folded into one compare-and-swap (PENDING then RUNNING is one
    write), different tasks are written concurrently (one group commit). Each report gets its
    own result, as if it had come alone."""
    by_task: dict[str, list[int]] = {}
    for i, r in enumerate(reports):
        by_task.setdefault(str(r["task"]), []).append(i)
    results: list[Result] = [{"task": r["task"]} for r in reports]

    async def one(task: str, positions: list[int]) -> None:
        _rec, errs = await submit_reports(
            plane,
            ctx,
            _task_cluster(cluster, task),
            task,
            [_report(reports[i]) for i in positions],
            instance=iid,
        )
        for i, err in zip(positions, errs, strict=True):
            if err is None:
                results[i]["acknowledgment"] = ACK
            else:
                results[i]["errorCode"], results[i]["errorMessage"] = err.code, err.message

    await gather_inline(one(task, positions) for task, positions in by_task.items())
    return results


async def report_stats(plane: TaskPlane, ctx: RequestContext, params: Params) -> Result:
    """Hand the batch to the task plane's stats sink as validated (the metrics pipeline does its
    per-sample work on a thread of its own). ``packedSamples`` (the agent's compact form) or
    ``samples`` (JSON objects); task references that are ids become ARNs of the agent's cluster."""
    cluster, _iid, rec = await _instance(plane, ctx, params)
    packed = params.get("packedSamples")
    samples: list[dict[str, Any]] | None = params.get("samples")
    if (packed is None) == (samples is None):
        raise errors.invalid_parameter("Exactly one of samples and packedSamples must be given.")
    batch: list[dict[str, Any]] | PackedBatch
    if packed is not None:
        try:
            batch = unpack(packed)
        except ValueError as exc:
            raise errors.invalid_parameter(str(exc)) from None
        refs = batch.tasks
    else:
        assert samples is not None
        batch = samples
        refs = [str(s["task"]) for s in samples]
    for i, ref in enumerate(refs):
        if not ref.startswith("arn:"):
            arn = task_arn(ctx.region, ctx.account_id, cluster, ref)
            if isinstance(batch, PackedBatch):
                batch.tasks[i] = arn
            else:
                batch[i] = {**batch[i], "task": arn}
    plane.stats.record(str(rec.doc["containerInstanceArn"]), batch)
    return {}


HANDLERS: dict[str, PlaneHandler] = {
    "PollAssignments": poll_assignments,
    "SubmitTaskState": submit_task_state,
    "SubmitTaskStates": submit_task_states,
    "ReportStats": report_stats,
}
