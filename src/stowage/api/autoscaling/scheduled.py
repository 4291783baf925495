"""Scheduled actions: PutScheduledAction, DescribeScheduledActions, DeleteScheduledAction.

The schedule (``at()``, ``rate()``, ``cron()``) and time zone are checked when the action is
put (``model/autoscaling_schedule``); the controller runs due actions on its tick. Putting an
action under an existing name updates the members the request gives.
"""

from __future__ import annotations

from stowage.api.autoscaling.common import (
    describe_children,
    existing_target,
    limit_exceeded,
    not_found,
    target_ref,
    validation,
)
from stowage.api.aws.context import RequestContext
from stowage.api.aws.service import Params, Result
from stowage.model import autoscaling as model
from stowage.model.autoscaling_schedule import ScheduleError, parse
from stowage.resources import autoscaling as keys
from stowage.resources.autoscaling import AutoscalingRecords
from stowage.resources.records import Doc, Records

DESCRIBE_MAX = 50


def _action(params: Params, current: Doc | None) -> Doc | None:
    given = params.get("ScalableTargetAction")
    if given is None:
        return None if current is None else current.get("ScalableTargetAction")
    low, high = given.get("MinCapacity"), given.get("MaxCapacity")
    if low is None and high is None:
        raise validation("At least one of minimum capacity and maximum capacity should be provided")
    for name, value in (("MinCapacity", low), ("MaxCapacity", high)):
        if value is not None and value < 0:
            raise validation(f"{name} must be greater than or equal to 0")
    if low is not None and high is not None and low > high:
        raise validation(f"Minimum capacity ({low}) cannot be greater than maximum capacity ({high})")
    return {k: v for k, v in (("MinCapacity", low), ("MaxCapacity", high)) if v is not None}


async def put_scheduled_action(records: Records, ctx: RequestContext, params: Params) -> Result:
    await existing_target(records, ctx, params)
    namespace, resource_id, dimension = target_ref(params)
    name = str(params["ScheduledActionName"])
    store = AutoscalingRecords(records)
    key = keys.child_key(
        (ctx.account_id, ctx.region, namespace, resource_id, dimension), keys.SCHEDULED, name
    )
    rec = await store.get(key)
    current = rec.doc if rec is not None else None
    if current is None:
        siblings = await store.children(
            ctx.account_id,
            ctx.region,
            keys.SCHEDULED,
            namespace,
            rid=resource_id,
            dim=dimension,
        )
        if len(siblings) >= model.MAX_SCHEDULED:
            raise limit_exceeded(
                f"You have reached the maximum number of scheduled actions ({model.MAX_SCHEDULED}) "
                "for this scalable target"
            )
    schedule = params.get("Schedule") or (current or {}).get("Schedule")
    if not schedule:
        raise validation("Schedule is required when creating a scheduled action")
    timezone = params.get("Timezone") or (current or {}).get("Timezone")
    try:
        parse(str(schedule), timezone)
    except ScheduleError as exc:
        raise validation(str(exc)) from None
    start = params.get("StartTime", (current or {}).get("StartTime"))
    end = params.get("EndTime", (current or {}).get("EndTime"))
    if start is not None and end is not None and start >= end:
        raise validation("StartTime must be before EndTime")
    doc: Doc = {
        "ScheduledActionName": name,
        "ScheduledActionARN": (current or {}).get("ScheduledActionARN")
        or model.scheduled_action_arn(ctx.region, ctx.account_id, namespace, resource_id, name),
        "ServiceNamespace": namespace,
        "Schedule": schedule,
        "ResourceId": resource_id,
        "ScalableDimension": dimension,
        "CreationTime": (current or {}).get("CreationTime") or ctx.now,
        # the next run is counted from now: an update does not replay what it would have done
        "_last": ctx.now,
    }
    if timezone:
        doc["Timezone"] = timezone
    if start is not None:
        doc["StartTime"] = start
    if end is not None:
        doc["EndTime"] = end
    action = _action(params, current)
    if action is not None:
        doc["ScalableTargetAction"] = action
    await store.put(key, doc)
    return {}


async def describe_scheduled_actions(records: Records, ctx: RequestContext, params: Params) -> Result:
    return await describe_children(
        records, ctx, params, operation="DescribeScheduledActions", kind=keys.SCHEDULED,
        names=("ScheduledActionNames", "ScheduledActionName"), out_member="ScheduledActions",
        maximum=DESCRIBE_MAX,
    )  # fmt: skip


async def delete_scheduled_action(records: Records, ctx: RequestContext, params: Params) -> Result:
    namespace, resource_id, dimension = target_ref(params)
    name = str(params["ScheduledActionName"])
    store = AutoscalingRecords(records)
    key = keys.child_key(
        (ctx.account_id, ctx.region, namespace, resource_id, dimension), keys.SCHEDULED, name
    )
    if await store.get(key) is None:
        raise not_found(model.scheduled_missing(namespace, resource_id, dimension, name))
    await store.delete(key)
    return {}
