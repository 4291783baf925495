"""Task state reports: the one code path that applies what an agent saw to a task record.

The stowage agent's SubmitTaskState (``api.agent``) and ECS's own SubmitTaskStateChange and
SubmitContainerStateChange (for third-party agents speaking the ECS API) all end in
``submit_report``: a compare-and-swap on the task record through ``model.tasks.apply_report``
(``lastStatus`` only forward, timestamps once, StopTask's code and reason kept), releasing the
instance's resources in the same transaction when the task reaches STOPPED.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stowage.api.aws.context import RequestContext
from stowage.api.aws.errors import AwsError
from stowage.api.aws.service import Params, Result
from stowage.api.ecs import errors
from stowage.api.ecs.plane import PlaneHandler, cluster_record, task_id
from stowage.controllers.task_plane import TaskPlane
from stowage.model import tasks as model
from stowage.model.validation import Invalid
from stowage.resources import ecs_keys
from stowage.resources.records import Doc, Record
from stowage.resources.tasks import TaskRecords

TASK_NOT_FOUND = "The referenced task was not found."
ACK = "ACK"


async def submit_report(
    plane: TaskPlane,
    ctx: RequestContext,
    cluster: str,
    task_ref: str,
    report: model.Report,
    *,
    instance: str | None = None,
) -> Record:
    """Apply ``report`` to the task ``task_ref`` names in ``cluster``. With ``instance`` (an
    instance id), the task must be assigned to that instance."""
    rec, [error] = await submit_reports(plane, ctx, cluster, task_ref, [report], instance=instance)
    if error is not None:
        raise error
    assert rec is not None
    return rec


async def submit_reports(
    plane: TaskPlane,
    ctx: RequestContext,
    cluster: str,
    task_ref: str,
    reports: Sequence[model.Report],
    *,
    instance: str | None = None,
) -> tuple[Record | None, list[AwsError | None]]:
    """Apply ``reports`` (in order) to one task in a single compare-and-swap: the task as
    stored after them, and per report the error it met (None: applied). A report that is
    refused leaves the others standing; the task missing (or on another instance) refuses all."""
    errs: list[AwsError | None] = [None] * len(reports)
    for i, report in enumerate(reports):
        try:
            model.check_report(report)
        except Invalid as exc:
            errs[i] = errors.invalid_parameter(str(exc))
    tid = task_id(ctx, cluster, task_ref)
    if tid is None:
        return None, [errors.client_exception(TASK_NOT_FOUND)] * len(reports)

    def change(doc: Doc) -> Doc | None:
        if instance is not None and doc.get("_instance") != instance:
            raise errors.invalid_parameter(
                f"The task {doc['taskArn']} is not assigned to container instance {instance}."
            )
        changed: Doc | None = None
        for i, report in enumerate(reports):
            if checked[i] is not None:
                continue
            try:
                after = model.apply_report(changed or doc, report, ctx.now)
            except Invalid as exc:
                outcome[i] = errors.invalid_parameter(str(exc))
                continue
            outcome[i] = None
            changed = after or changed
        return changed

    checked = list(errs)
    outcome = list(errs)
    try:
        rec = await TaskRecords(plane.records).change(
            ecs_keys.task(ctx.account_id, ctx.region, cluster, tid), change, cached=plane.index.record
        )
    except AwsError as exc:
        return None, [exc] * len(reports)
    if rec is None:
        return None, [errors.client_exception(TASK_NOT_FOUND)] * len(reports)
    await plane.written(rec.mod_revision)
    return rec, outcome


def _container(change: dict[str, Any]) -> Doc:
    out: Doc = {"name": change.get("containerName")}
    if change.get("status") is not None:
        out["lastStatus"] = change["status"]
    for member in ("exitCode", "reason", "runtimeId", "imageDigest", "networkBindings"):
        if change.get(member) is not None:
            out[member] = change[member]
    return out


async def submit_task_state_change(plane: TaskPlane, ctx: RequestContext, params: Params) -> Result:
    cluster = (await cluster_record(plane, ctx, params.get("cluster"))).doc["clusterName"]
    if not params.get("task"):
        raise errors.invalid_parameter("task must be specified.")
    report = model.Report(
        last_status=params.get("status"),
        containers=[_container(c) for c in params.get("containers") or []],
        attachments=[
            {"id": a["attachmentArn"], "status": a["status"]} for a in params.get("attachments") or []
        ],
        pull_started_at=params.get("pullStartedAt"),
        pull_stopped_at=params.get("pullStoppedAt"),
        execution_stopped_at=params.get("executionStoppedAt"),
        stopped_reason=params.get("reason") if params.get("status") == model.STOPPED else None,
    )
    await submit_report(plane, ctx, cluster, params["task"], report)
    return {"acknowledgment": ACK}


async def submit_container_state_change(plane: TaskPlane, ctx: RequestContext, params: Params) -> Result:
    cluster = (await cluster_record(plane, ctx, params.get("cluster"))).doc["clusterName"]
    if not params.get("task") or not params.get("containerName"):
        raise errors.invalid_parameter("task and containerName must be specified.")
    report = model.Report(containers=[_container(params)])
    await submit_report(plane, ctx, cluster, params["task"], report)
    return {"acknowledgment": ACK}


HANDLERS: dict[str, PlaneHandler] = {
    "SubmitTaskStateChange": submit_task_state_change,
    "SubmitContainerStateChange": submit_container_state_change,
}
