"""Alarm reads and ``SetAlarmState``: ``DescribeAlarms`` (names or a prefix, state, action
prefix, alarm types, pages of ``MaxRecords``), ``DescribeAlarmsForMetric``,
``DescribeAlarmHistory`` (one alarm or all, item type, date range, newest first unless
``ScanBy`` says otherwise), and ``SetAlarmState`` (through the evaluator, so the new state's
actions run as on any change; ``StateReasonData`` must be JSON: ``InvalidFormat``)."""

from __future__ import annotations

import json
from typing import Any

from stowage.api.aws.context import RequestContext
from stowage.api.aws.errors import AwsError
from stowage.api.aws.service import Params, Result
from stowage.api.cloudwatch.common import combination, decode_token, dimensions, encode_token, not_found
from stowage.controllers.alarms import AlarmEvaluator
from stowage.resources.alarms import AlarmRecords

DEFAULT_RECORDS = 50
HISTORY_RECORDS = 100
_ACTION_MEMBERS = ("OKActions", "AlarmActions", "InsufficientDataActions")


def _page(items: list[Any], params: Params, operation: str, default: int) -> tuple[list[Any], str | None]:
    offset = 0
    if params.get("NextToken"):
        offset = int(decode_token(operation, params["NextToken"]).get("offset", 0))
    size = int(params.get("MaxRecords") or default)
    page = items[offset : offset + size]
    more = offset + size < len(items)
    return page, encode_token(operation, {"offset": offset + size}) if more else None


async def describe_alarms(alarms: AlarmRecords, ctx: RequestContext, params: Params) -> Result:
    names = params.get("AlarmNames")
    prefix = params.get("AlarmNamePrefix")
    if names and prefix:
        raise combination("AlarmNames and AlarmNamePrefix cannot be specified together.")
    if params.get("ChildrenOfAlarmName") or params.get("ParentsOfAlarmName"):
        # only composite alarms have parents and children; stowage keeps metric alarms
        return {"MetricAlarms": [], "CompositeAlarms": []}
    types = params.get("AlarmTypes")
    found = [r.doc["alarm"] for r in await alarms.in_region(ctx.account_id, ctx.region)]
    if types is not None and "MetricAlarm" not in types:
        found = []
    if names:
        wanted = set(names)
        found = [a for a in found if a["AlarmName"] in wanted]
    if prefix:
        found = [a for a in found if str(a["AlarmName"]).startswith(prefix)]
    if params.get("StateValue"):
        found = [a for a in found if a["StateValue"] == params["StateValue"]]
    if params.get("ActionPrefix"):
        ap = params["ActionPrefix"]
        found = [
            a for a in found if any(str(x).startswith(ap) for m in _ACTION_MEMBERS for x in a.get(m) or [])
        ]
    page, token = _page(found, params, "DescribeAlarms", DEFAULT_RECORDS)
    out: Result = {"MetricAlarms": page}
    if types is not None and "CompositeAlarm" in types:
        out["CompositeAlarms"] = []
    if token is not None:
        out["NextToken"] = token
    return out


async def describe_alarms_for_metric(alarms: AlarmRecords, ctx: RequestContext, params: Params) -> Result:
    dims = dimensions(params.get("Dimensions"), "Dimensions")
    out = []
    for rec in await alarms.in_region(ctx.account_id, ctx.region):
        a = rec.doc["alarm"]
        if a["MetricName"] != params["MetricName"] or a["Namespace"] != params["Namespace"]:
            continue
        if {d["Name"]: d["Value"] for d in a.get("Dimensions") or []} != dims:
            continue
        if any(
            params.get(m) is not None and a.get(m) != params[m]
            for m in ("Statistic", "ExtendedStatistic", "Period", "Unit")
        ):
            continue
        out.append(a)
    return {"MetricAlarms": out}


async def describe_alarm_history(alarms: AlarmRecords, ctx: RequestContext, params: Params) -> Result:
    items = await alarms.history(ctx.account_id, ctx.region, params.get("AlarmName"))
    types = params.get("AlarmTypes")
    if types is not None and "MetricAlarm" not in types:
        items = []
    if params.get("HistoryItemType"):
        items = [i for i in items if i["HistoryItemType"] == params["HistoryItemType"]]
    if params.get("StartDate") is not None:
        items = [i for i in items if float(i["Timestamp"]) >= float(params["StartDate"])]
    if params.get("EndDate") is not None:
        items = [i for i in items if float(i["Timestamp"]) <= float(params["EndDate"])]
    if params.get("ScanBy") != "TimestampAscending":
        items.reverse()
    page, token = _page(items, params, "DescribeAlarmHistory", HISTORY_RECORDS)
    out: Result = {"AlarmHistoryItems": page}
    if token is not None:
        out["NextToken"] = token
    return out


async def set_alarm_state(evaluator: AlarmEvaluator, ctx: RequestContext, params: Params) -> Result:
    data = params.get("StateReasonData")
    if data is not None:
        try:
            json.loads(data)
        except ValueError:
            raise AwsError("InvalidFormat", "StateReasonData is not valid JSON.") from None
    name = params["AlarmName"]
    where = (ctx.account_id, ctx.region, name)
    if not await evaluator.set_state(
        where, params["StateValue"], reason=params["StateReason"], reason_data=data
    ):
        raise not_found(f"Alarm {name} does not exist.")
    return {}
