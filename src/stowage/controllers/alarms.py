"""The CloudWatch alarm evaluator: every tick (``--alarm-evaluation-interval``, default 60 s as
CloudWatch evaluates), each metric alarm whose next period has ended is evaluated once, over the
``EvaluationPeriods`` periods that ended at that boundary (aligned to multiples of the period).

An evaluation queries the metric (``MetricQueries``, the same function GetMetricData uses),
decides the state (``model/alarms``), and on a change writes the new state, reason and reason
data to the alarm's record (compare-and-swap: an alarm reconfigured meanwhile is left for the
next tick), appends a ``StateUpdate`` history item and invokes the actions of the new state
(``model/alarm_actions``: each ARN goes to the sink of its prefix). While an alarm stays in
ALARM, its Application Auto Scaling actions are invoked again at every evaluation. Actions run
only when the alarm's ``ActionsEnabled``; an action without a sink, or whose sink raises, gets a
failed ``Action`` history item and a log line, and evaluation goes on.

AWS namespaces are evaluated 25 s after the boundary: their minute points are written 20 s
after the minute ends (``metrics_ingest``). Custom metrics are readable the moment they are put.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from stowage.controllers.metrics_catalog import is_aws_namespace
from stowage.controllers.metrics_query import MetricPoints, MetricQuery, MetricQueryError
from stowage.model import alarms as rules
from stowage.model.alarm_actions import (
    ALARM,
    AUTOSCALING_ARN_PREFIX,
    INSUFFICIENT_DATA,
    OK,
    ActionSinks,
    AlarmFiring,
    sink_for,
)
from stowage.resources.alarms import AlarmRecords, parse_alarm_key
from stowage.resources.records import Doc, RecordMissing

log = logging.getLogger(__name__)

AWS_SETTLE = 25.0
PRUNE_EVERY = 3600.0
_ACTION_LISTS = {ALARM: "AlarmActions", OK: "OKActions", INSUFFICIENT_DATA: "InsufficientDataActions"}

Query = Callable[[MetricQuery], Awaitable[MetricPoints]]


def rule_of(alarm: dict[str, Any]) -> rules.Rule:
    n = int(alarm["EvaluationPeriods"])
    return rules.Rule(
        threshold=float(alarm["Threshold"]),
        comparison=str(alarm["ComparisonOperator"]),
        evaluation_periods=n,
        datapoints_to_alarm=int(alarm.get("DatapointsToAlarm") or n),
        treat_missing=str(alarm.get("TreatMissingData") or "missing"),
        period=int(alarm["Period"]),
        statistic=str(alarm.get("Statistic") or alarm.get("ExtendedStatistic")),
        unit=alarm.get("Unit"),
    )


def state_history_item(alarm: dict[str, Any], old: dict[str, Any], now: float) -> dict[str, Any]:
    new_state: dict[str, Any] = {"stateValue": alarm["StateValue"], "stateReason": alarm["StateReason"]}
    if alarm.get("StateReasonData"):
        new_state["stateReasonData"] = json.loads(alarm["StateReasonData"])
    data = {
        "version": "1.0",
        "oldState": {"stateValue": old["StateValue"], "stateReason": old["StateReason"]},
        "newState": new_state,
    }
    return {
        "AlarmName": alarm["AlarmName"],
        "AlarmType": "MetricAlarm",
        "Timestamp": now,
        "HistoryItemType": "StateUpdate",
        "HistorySummary": f"Alarm updated from {old['StateValue']} to {alarm['StateValue']}",
        "HistoryData": json.dumps(data, separators=(",", ":")),
    }


class AlarmEvaluator:
    def __init__(
        self,
        alarms: AlarmRecords,
        query: Query,
        sinks: ActionSinks,
        *,
        tick: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.alarms = alarms
        self.query = query
        self.sinks = sinks
        self.tick = tick
        self.clock = clock
        self.evaluations = 0
        self._task: asyncio.Task[None] | None = None
        self._last_prune = 0.0

    # -- life --------------------------------------------------------------------------------
    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="alarm-evaluator")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            now = self.clock()
            await asyncio.sleep(self.tick - now % self.tick + 0.05)
            try:
                await self.run_once()
                if self.clock() - self._last_prune >= PRUNE_EVERY:
                    await self._prune()
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad pass must not end evaluation: try again next tick
                log.exception("alarm evaluation pass failed")

    async def _prune(self) -> None:
        now = self._last_prune = self.clock()
        for rec in await self.alarms.list_all():
            parsed = parse_alarm_key(rec.key)
            if parsed is not None:
                await self.alarms.prune_history(*parsed, now)

    # -- evaluation --------------------------------------------------------------------------
    async def run_once(self, now: float | None = None) -> int:
        """Evaluate every alarm that is due; returns how many were evaluated."""
        now = self.clock() if now is None else now
        done = 0
        for rec in await self.alarms.list_all():
            parsed = parse_alarm_key(rec.key)
            if parsed is None:
                continue
            try:
                done += await self._evaluate(parsed, rec.doc, now)
            except Exception:
                log.exception("evaluating alarm %s failed", parsed[2])
        return done

    async def _evaluate(self, where: tuple[str, str, str], doc: Doc, now: float) -> int:
        account, region, name = where
        alarm = doc["alarm"]
        rule = rule_of(alarm)
        settle = AWS_SETTLE if is_aws_namespace(str(alarm["Namespace"])) else 0.0
        start, end = rules.window(now - settle, rule.period, rule.evaluation_periods)
        if float(doc.get("evaluatedUntil") or 0.0) >= end:
            return 0
        found: dict[float, float] = {}
        try:
            got = await self.query(
                MetricQuery(
                    account,
                    region,
                    str(alarm["Namespace"]),
                    str(alarm["MetricName"]),
                    {d["Name"]: d["Value"] for d in alarm.get("Dimensions") or []},
                    start,
                    end,
                    rule.period,
                    rule.statistic,
                    unit=rule.unit,
                )
            )
            found = dict(zip(got.timestamps, got.values, strict=True))
        except MetricQueryError as exc:
            log.warning("alarm %s: its metric query failed: %s", name, exc.message)
        points = rules.points_in(start, rule.period, rule.evaluation_periods, found)
        outcome = rules.evaluate(rule, points, str(alarm["StateValue"]), now)
        self.evaluations += 1
        version = alarm.get("AlarmConfigurationUpdatedTimestamp")
        old = {"StateValue": alarm["StateValue"], "StateReason": alarm.get("StateReason", "")}
        changed = outcome.state != alarm["StateValue"]

        def apply(current: Doc) -> Doc | None:
            a = current["alarm"]
            if a.get("AlarmConfigurationUpdatedTimestamp") != version or a["StateValue"] != old["StateValue"]:
                return None  # reconfigured or set meanwhile: the next tick evaluates it afresh
            current["evaluatedUntil"] = end
            if changed:
                _set_state(
                    a,
                    outcome.state,
                    outcome.reason,
                    json.dumps(outcome.reason_data, separators=(",", ":")),
                    now,
                )
            return current

        try:
            rec = await self.alarms.update(account, region, name, apply)
        except RecordMissing:
            return 1  # deleted meanwhile
        if (
            rec.doc["alarm"].get("AlarmConfigurationUpdatedTimestamp") != version
            or float(rec.doc.get("evaluatedUntil") or 0.0) != end
        ):
            return 1
        alarm = rec.doc["alarm"]
        if changed:
            await self.alarms.add_history(account, region, name, state_history_item(alarm, old, now))
        if changed or outcome.state == ALARM:
            firing = AlarmFiring(
                account,
                region,
                name,
                str(alarm["AlarmArn"]),
                outcome.state,
                old["StateValue"],
                changed,
                rule.threshold,
                rule.comparison,
                outcome.value,
                outcome.recent,
                now,
            )
            await self.fire(alarm, firing)
        return 1

    async def set_state(
        self, where: tuple[str, str, str], state: str, *, reason: str, reason_data: str | None
    ) -> bool:
        """SetAlarmState: the state as given (until the next evaluation), actions as on any change.
        Returns False when the alarm does not exist."""
        account, region, name = where
        now = self.clock()
        before: dict[str, Any] = {}

        def apply(current: Doc) -> Doc:
            a = current["alarm"]
            before.update(StateValue=a["StateValue"], StateReason=a.get("StateReason", ""))
            _set_state(a, state, reason, reason_data, now)
            return current

        try:
            rec = await self.alarms.update(account, region, name, apply)
        except RecordMissing:
            return False
        alarm = rec.doc["alarm"]
        if before["StateValue"] == state:
            return True
        await self.alarms.add_history(account, region, name, state_history_item(alarm, before, now))
        rule = rule_of(alarm)
        firing = AlarmFiring(
            account,
            region,
            name,
            str(alarm["AlarmArn"]),
            state,
            before["StateValue"],
            True,
            rule.threshold,
            rule.comparison,
            None,
            (),
            now,
        )
        await self.fire(alarm, firing)
        return True

    async def fire(self, alarm: dict[str, Any], firing: AlarmFiring) -> None:
        """Invoke the actions of ``firing.state``: all of them on a transition, the Auto Scaling
        ones again while the alarm stays in ALARM."""
        if not alarm.get("ActionsEnabled", True):
            return
        for arn in alarm.get(_ACTION_LISTS[firing.state]) or []:
            if not firing.transition and not arn.startswith(AUTOSCALING_ARN_PREFIX):
                continue
            sink = sink_for(self.sinks, arn)
            error: str | None = None
            if sink is None:
                error = "stowage has no target for this action"
            else:
                try:
                    await sink(arn, firing)
                except Exception as exc:
                    log.exception("alarm %s: action %s failed", firing.alarm_name, arn)
                    error = str(exc) or type(exc).__name__
            if firing.transition or error is not None:
                await self._action_history(firing, arn, error)

    async def _action_history(self, firing: AlarmFiring, arn: str, error: str | None) -> None:
        if error is None:
            summary = f"Successfully executed action {arn}"
            data: dict[str, Any] = {"actionState": "Succeeded", "notificationResource": arn}
        else:
            summary = f"Failed to execute action {arn}. Received error: {error}"
            data = {"actionState": "Failed", "notificationResource": arn, "error": error}
        data["stateUpdateTimestamp"] = int(firing.timestamp * 1000)
        item = {
            "AlarmName": firing.alarm_name,
            "AlarmType": "MetricAlarm",
            "Timestamp": self.clock(),
            "HistoryItemType": "Action",
            "HistorySummary": summary,
            "HistoryData": json.dumps(data, separators=(",", ":")),
        }
        await self.alarms.add_history(firing.account, firing.region, firing.alarm_name, item)


def _set_state(alarm: dict[str, Any], state: str, reason: str, reason_data: str | None, now: float) -> None:
    alarm["StateValue"] = state
    alarm["StateReason"] = reason
    if reason_data is None:
        alarm.pop("StateReasonData", None)
    else:
        alarm["StateReasonData"] = reason_data
    alarm["StateUpdatedTimestamp"] = now
    alarm["StateTransitionedTimestamp"] = now
