"""Alarm configuration: ``PutMetricAlarm`` (create, or replace the configuration keeping the
state, as CloudWatch does), ``DeleteAlarms``, ``EnableAlarmActions``/``DisableAlarmActions``, and
the alarm tags (``TagResource``, ``UntagResource``, ``ListTagsForResource``).

Validation follows CloudWatch: ``ValidationError`` for a configuration it refuses (period not
10, 30 or a multiple of 60; more than a day of periods, seven for hourly ones; M above N; both or
neither of Statistic and ExtendedStatistic; an action ARN of a kind alarms cannot invoke or of
another region). Metric math alarms (``Metrics``) and anomaly-band comparisons are refused with a
``ValidationError`` saying stowage does not evaluate them. Every change is a
``ConfigurationUpdate`` history item.
"""

from __future__ import annotations

import json
import re
from typing import Any

from stowage.api.aws.context import RequestContext
from stowage.api.aws.errors import AwsError
from stowage.api.aws.service import Params, Result
from stowage.api.cloudwatch.common import dimension_list, dimensions, is_percentile, not_found, validation
from stowage.model import alarms as rules
from stowage.model.alarm_actions import INSUFFICIENT_DATA
from stowage.model.arns import parse_arn
from stowage.resources.alarms import AlarmRecords

MAX_ALARMS = 10_000
"""Metric alarms per account and region (CloudWatch's default quota)."""
DAY = 86400
WEEK = 7 * DAY
_ACTION_MEMBERS = ("OKActions", "AlarmActions", "InsufficientDataActions")
_EC2_ACTIONS = re.compile(r"^arn:aws:automate:([a-z0-9-]+):ec2:(stop|terminate|reboot|recover)$")
_ACTION_SERVICES = ("sns", "autoscaling", "swf", "ssm", "ssm-incidents", "lambda")


def alarm_arn(ctx: RequestContext, name: str) -> str:
    return f"arn:aws:cloudwatch:{ctx.region}:{ctx.account_id}:alarm:{name}"


def _check_action(ctx: RequestContext, arn: str) -> None:
    ec2 = _EC2_ACTIONS.match(arn)
    region = ec2.group(1) if ec2 else None
    if ec2 is None:
        parsed = parse_arn(arn)
        if parsed is None:
            raise validation(f"Invalid arn syntax: {arn}")
        if parsed.service not in _ACTION_SERVICES:
            raise validation(
                f"Invalid action {arn}: alarms can invoke SNS, Auto Scaling, EC2, SSM and Lambda actions."
            )
        region = parsed.region or None
    if region is not None and region != ctx.region:
        raise validation(f"Invalid region {region} specified. Only {ctx.region} is supported.")


def _check_config(ctx: RequestContext, params: Params) -> tuple[str, str]:
    """The alarm's (statistic member, value); raises what CloudWatch answers bad input."""
    if params.get("Metrics"):
        raise validation(
            "Metric math alarms (Metrics) are not supported: stowage evaluates single-metric alarms."
        )
    if params.get("ThresholdMetricId"):
        raise validation("ThresholdMetricId (anomaly detection bands) is not supported by stowage.")
    for member in ("MetricName", "Namespace", "Period", "Threshold"):
        if params.get(member) is None:
            raise validation(f"{member} is required for an alarm on a single metric.")
    op = params["ComparisonOperator"]
    if op in rules.BAND_COMPARISONS:
        raise validation(f"ComparisonOperator {op} needs a ThresholdMetricId (an anomaly detection band).")
    if op not in rules.COMPARISONS:
        raise validation(f"Invalid ComparisonOperator {op}.")
    stat, extended = params.get("Statistic"), params.get("ExtendedStatistic")
    if (stat is None) == (extended is None):
        raise validation("Exactly one of Statistic and ExtendedStatistic must be specified.")
    if extended is not None and not is_percentile(extended):
        raise validation(
            f"Invalid ExtendedStatistic {extended}: use a percentile such as p99 (p0.0 to p100)."
        )
    if params.get("EvaluateLowSampleCountPercentile") not in (None, "evaluate", "ignore"):
        raise validation("EvaluateLowSampleCountPercentile must be evaluate or ignore.")
    period, n = int(params["Period"]), int(params["EvaluationPeriods"])
    if period not in (10, 30) and (period <= 0 or period % 60 != 0):
        raise validation("Period must be 10, 30 or a multiple of 60.")
    if n < 1:
        raise validation("EvaluationPeriods must be at least 1.")
    limit = WEEK if period >= 3600 else DAY
    if period * n > limit:
        raise validation(
            f"Metrics cannot be checked across more than a {'week' if limit == WEEK else 'day'} "
            f"(EvaluationPeriods * Period must be <= {limit})."
        )
    m = params.get("DatapointsToAlarm")
    if m is not None and not 1 <= int(m) <= n:
        raise validation("DatapointsToAlarm must be between 1 and EvaluationPeriods.")
    treat = params.get("TreatMissingData")
    if treat is not None and treat not in rules.TREAT_MISSING:
        raise validation(f"Invalid TreatMissingData {treat}: use one of {', '.join(rules.TREAT_MISSING)}.")
    for member in _ACTION_MEMBERS:
        for arn in params.get(member) or []:
            _check_action(ctx, arn)
    return ("Statistic", stat) if stat is not None else ("ExtendedStatistic", str(extended))


def build_alarm(ctx: RequestContext, params: Params, previous: dict[str, Any] | None) -> dict[str, Any]:
    """The MetricAlarm document of ``params``; state fields carried over from ``previous``."""
    stat_member, stat = _check_config(ctx, params)
    name = params["AlarmName"]
    alarm: dict[str, Any] = {
        "AlarmName": name,
        "AlarmArn": alarm_arn(ctx, name),
        "AlarmConfigurationUpdatedTimestamp": ctx.now,
        "ActionsEnabled": bool(params.get("ActionsEnabled", True)),
    }
    if params.get("AlarmDescription") is not None:
        alarm["AlarmDescription"] = params["AlarmDescription"]
    for member in _ACTION_MEMBERS:
        alarm[member] = list(params.get(member) or [])
    alarm.update(
        MetricName=params["MetricName"],
        Namespace=params["Namespace"],
        Dimensions=dimension_list(dimensions(params.get("Dimensions"), "Dimensions")),
        Period=int(params["Period"]),
        EvaluationPeriods=int(params["EvaluationPeriods"]),
        Threshold=float(params["Threshold"]),
        ComparisonOperator=params["ComparisonOperator"],
        TreatMissingData=params.get("TreatMissingData") or "missing",
    )
    alarm[stat_member] = stat
    for member in ("Unit", "DatapointsToAlarm", "EvaluateLowSampleCountPercentile"):
        if params.get(member) is not None:
            alarm[member] = params[member]
    if previous is None:
        alarm.update(
            StateValue=INSUFFICIENT_DATA,
            StateReason=rules.INITIAL_REASON,
            StateUpdatedTimestamp=ctx.now,
            StateTransitionedTimestamp=ctx.now,
        )
    else:
        for member in (
            "StateValue",
            "StateReason",
            "StateReasonData",
            "StateUpdatedTimestamp",
            "StateTransitionedTimestamp",
        ):
            if member in previous:
                alarm[member] = previous[member]
    return alarm


def config_item(name: str, kind: str, now: float, data: dict[str, Any]) -> dict[str, Any]:
    verb = {"Create": "created", "Update": "updated", "Delete": "deleted"}[kind]
    return {
        "AlarmName": name,
        "AlarmType": "MetricAlarm",
        "Timestamp": now,
        "HistoryItemType": "ConfigurationUpdate",
        "HistorySummary": f'Alarm "{name}" {verb}',
        "HistoryData": json.dumps({"type": kind, **data}, separators=(",", ":"), default=str),
    }


def _history_view(alarm: dict[str, Any]) -> dict[str, Any]:
    """An alarm as history data shows it: configuration only, no state, ISO timestamps."""
    return {
        k: rules.iso_time(float(v)) if k.endswith("Timestamp") else v
        for k, v in alarm.items()
        if not k.startswith("State")
    }


async def put_metric_alarm(alarms: AlarmRecords, ctx: RequestContext, params: Params) -> Result:
    name = params["AlarmName"]
    current = await alarms.get(ctx.account_id, ctx.region, name)
    previous = None if current is None else current.doc["alarm"]
    alarm = build_alarm(ctx, params, previous)
    if current is None:
        if len(await alarms.in_region(ctx.account_id, ctx.region)) >= MAX_ALARMS:
            raise AwsError("LimitExceeded", f"The maximum number of alarms ({MAX_ALARMS}) has been reached.")
        tags = list(params.get("Tags") or [])
        await alarms.put(
            ctx.account_id, ctx.region, name, {"alarm": alarm, "tags": tags, "evaluatedUntil": 0.0}
        )
        data = {"createdAlarm": _history_view(alarm)}
        await alarms.add_history(ctx.account_id, ctx.region, name, config_item(name, "Create", ctx.now, data))
        return {}
    # a new configuration is evaluated afresh from the next boundary on; tags stay as they are
    doc = dict(current.doc, alarm=alarm, evaluatedUntil=0.0)
    await alarms.put(ctx.account_id, ctx.region, name, doc)
    data = {"originalAlarm": _history_view(previous or {}), "updatedAlarm": _history_view(alarm)}
    await alarms.add_history(ctx.account_id, ctx.region, name, config_item(name, "Update", ctx.now, data))
    return {}


async def delete_alarms(alarms: AlarmRecords, ctx: RequestContext, params: Params) -> Result:
    names = list(dict.fromkeys(params.get("AlarmNames") or []))
    found = []
    for name in names:
        rec = await alarms.get(ctx.account_id, ctx.region, name)
        if rec is None:
            raise not_found(f"Alarm {name} does not exist.")
        found.append((name, rec))
    for name, rec in found:
        await alarms.delete(ctx.account_id, ctx.region, name)
        data = {"deletedAlarm": _history_view(rec.doc["alarm"])}
        await alarms.add_history(ctx.account_id, ctx.region, name, config_item(name, "Delete", ctx.now, data))
    return {}


async def _set_actions(alarms: AlarmRecords, ctx: RequestContext, params: Params, enabled: bool) -> Result:
    def change(doc: dict[str, Any]) -> dict[str, Any] | None:
        if doc["alarm"].get("ActionsEnabled") == enabled:
            return None
        doc["alarm"]["ActionsEnabled"] = enabled
        return doc

    for name in params.get("AlarmNames") or []:
        if await alarms.get(ctx.account_id, ctx.region, name) is not None:  # unknown names: ignored
            await alarms.update(ctx.account_id, ctx.region, name, change)
    return {}


async def enable_alarm_actions(alarms: AlarmRecords, ctx: RequestContext, params: Params) -> Result:
    return await _set_actions(alarms, ctx, params, True)


async def disable_alarm_actions(alarms: AlarmRecords, ctx: RequestContext, params: Params) -> Result:
    return await _set_actions(alarms, ctx, params, False)


# -- tags ------------------------------------------------------------------------------------------
def _alarm_of(ctx: RequestContext, arn: str) -> str:
    prefix = f"arn:aws:cloudwatch:{ctx.region}:{ctx.account_id}:alarm:"
    if not arn.startswith(prefix) or len(arn) == len(prefix):
        raise AwsError(
            "InvalidParameterValue", f"Invalid ARN {arn}: not an alarm of this account and region."
        )
    return arn[len(prefix) :]


async def _retag(alarms: AlarmRecords, ctx: RequestContext, arn: str, change: Any) -> Result:
    name = _alarm_of(ctx, arn)
    if await alarms.get(ctx.account_id, ctx.region, name) is None:
        raise AwsError("ResourceNotFoundException", f"Alarm {name} does not exist.", status=404)

    def apply(doc: dict[str, Any]) -> dict[str, Any]:
        tags = {t["Key"]: t["Value"] for t in doc.get("tags") or []}
        change(tags)
        if len(tags) > 50:
            raise AwsError("InvalidParameterValue", "An alarm can have at most 50 tags.")
        doc["tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
        return doc

    await alarms.update(ctx.account_id, ctx.region, name, apply)
    return {}


async def tag_resource(alarms: AlarmRecords, ctx: RequestContext, params: Params) -> Result:
    given = {t["Key"]: t["Value"] for t in params.get("Tags") or []}
    return await _retag(alarms, ctx, params["ResourceARN"], lambda tags: tags.update(given))


async def untag_resource(alarms: AlarmRecords, ctx: RequestContext, params: Params) -> Result:
    keys = list(params.get("TagKeys") or [])

    def drop(tags: dict[str, str]) -> None:
        for key in keys:
            tags.pop(key, None)

    return await _retag(alarms, ctx, params["ResourceARN"], drop)


async def list_tags_for_resource(alarms: AlarmRecords, ctx: RequestContext, params: Params) -> Result:
    name = _alarm_of(ctx, params["ResourceARN"])
    rec = await alarms.get(ctx.account_id, ctx.region, name)
    if rec is None:
        raise AwsError("ResourceNotFoundException", f"Alarm {name} does not exist.", status=404)
    return {"Tags": list(rec.doc.get("tags") or [])}
