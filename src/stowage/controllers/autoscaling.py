"""Application Auto Scaling's controller: scales ECS services through their desired count.

Every ``tick`` (60 s by default, ``--autoscaling-tick``) it walks the scalable targets:

1. a target whose ECS service is gone (deleted, INACTIVE) is deregistered with its policies and
   scheduled actions, as AWS does when a service is deleted;
2. after RegisterScalableTarget changed min/max (``_enforce``), a desired count outside them is
   brought to the nearest bound ("minimum capacity was set to N");
3. scheduled actions that came due since the last tick set the target's min/max (and then the
   desired count, likewise) unless ``ScheduledScalingSuspended``;
4. target tracking policies are evaluated (``model/autoscaling_rules``) over their data points
   (``autoscaling_metrics``), using only points of periods that began after the target's last
   scaling activity, so no data point is acted on twice.

Step scaling policies act when a CloudWatch alarm invokes them: ``step_sink`` is the
``ActionSink`` for ``AUTOSCALING_ARN_PREFIX`` ARNs (``model/alarm_actions``).

A scaling activity writes the service record exactly as UpdateService's ``desiredCount`` does
(``model.services.set_desired_count``, one compare-and-swap); the service controller then starts
or stops tasks and records its own "has started/stopped N tasks" events. Every change is
recorded as a scaling activity with AWS's wording.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from stowage.controllers.autoscaling_metrics import PointSource
from stowage.model import autoscaling as model
from stowage.model import autoscaling_rules as rules
from stowage.model import services as service_model
from stowage.model.alarm_actions import ActionFailed, AlarmFiring
from stowage.model.autoscaling_schedule import ScheduleError, parse
from stowage.resources import autoscaling as keys
from stowage.resources import ecs_keys
from stowage.resources.autoscaling import AutoscalingRecords
from stowage.resources.records import Doc, Record, RecordMissing, Records
from stowage.resources.services import ServiceRecords

log = logging.getLogger("stowage.controllers.autoscaling")

DEFAULT_TICK = 60.0


class _NotActive(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Target:
    """A scalable target with what every step needs of it."""

    rec: Record
    account: str
    region: str
    cluster: str
    service: str

    @property
    def doc(self) -> Doc:
        return self.rec.doc

    @property
    def bounds(self) -> tuple[int, int]:
        return int(self.doc.get("MinCapacity") or 0), int(self.doc.get("MaxCapacity") or 0)

    def suspended(self, member: str) -> bool:
        return bool((self.doc.get("SuspendedState") or {}).get(member))


def _target(rec: Record) -> Target | None:
    parsed = keys.parse_target_key(rec.key)
    if parsed is None:
        return None
    account, region, namespace, resource_id, _dim = parsed
    ids = model.parse_service_id(resource_id) if namespace == model.ECS else None
    if ids is None:
        return None
    return Target(rec, account, region, ids[0], ids[1])


class AutoscalingController:
    def __init__(
        self,
        records: Records,
        points: PointSource,
        *,
        tick: float = DEFAULT_TICK,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.records = records
        self.store = AutoscalingRecords(records)
        self.services = ServiceRecords(records)
        self.points = points
        self.tick = tick
        self.clock = clock
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="autoscaling")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            try:
                await self.run_once()
            except Exception:  # a bad record must not stop scaling for everyone
                log.exception("autoscaling pass failed")

    # -- one pass ------------------------------------------------------------------------------
    async def run_once(self) -> None:
        for rec in await self.store.all_targets():
            target = _target(rec)
            if target is None:
                continue
            try:
                async with self._lock:
                    await self._evaluate(target)
            except Exception:
                log.exception("autoscaling of %s failed", rec.key)

    async def _evaluate(self, target: Target) -> None:
        service = await self.services.get(target.account, target.region, target.cluster, target.service)
        if service is None or service.doc.get("status") == service_model.INACTIVE:
            log.info("ECS service of %s is gone: deregistering it", target.rec.key)
            await self.store.remove_target(target.rec)
            return
        if service.doc.get("status") != service_model.ACTIVE:
            return
        target = await self._enforce(target, service)
        target = await self._scheduled(target)
        await self._track(target)

    async def _current(self, target: Target) -> int | None:
        rec = await self.services.get(target.account, target.region, target.cluster, target.service)
        if rec is None or rec.doc.get("status") != service_model.ACTIVE:
            return None
        return int(rec.doc.get("desiredCount") or 0)

    async def _reload(self, target: Target) -> Target | None:
        rec = await self.store.get(target.rec.key)
        return (
            None
            if rec is None
            else Target(rec, target.account, target.region, target.cluster, target.service)
        )

    async def _enforce(self, target: Target, service: Record) -> Target:
        if not target.doc.get("_enforce"):
            return target
        low, high = target.bounds

        def clear(doc: Doc) -> Doc:
            doc.pop("_enforce", None)
            return doc

        await self.store.update(target.rec.key, clear)
        current = int(service.doc.get("desiredCount") or 0)
        wanted = rules.clamp(current, low, high)
        if wanted != current:
            await self.scale(target, wanted, model.bound_cause(low, high, wanted))
        return await self._reload(target) or target

    async def _scheduled(self, target: Target) -> Target:
        if target.suspended("ScheduledScalingSuspended"):
            return target
        now = self.clock()
        ns, rid, dim = (target.doc[k] for k in ("ServiceNamespace", "ResourceId", "ScalableDimension"))
        for rec in await self.store.children(
            target.account, target.region, keys.SCHEDULED, ns, rid=rid, dim=dim
        ):
            action = rec.doc
            last = float(action.get("_last") or action.get("CreationTime") or now)
            if action.get("StartTime") is not None and now < float(action["StartTime"]):
                continue
            if action.get("EndTime") is not None and now > float(action["EndTime"]):
                continue
            try:
                schedule = parse(str(action["Schedule"]), action.get("Timezone"))
            except ScheduleError:
                continue
            anchor = float(action.get("StartTime") or action.get("CreationTime") or now)
            due = schedule.next_after(last, anchor)
            if due is None or due > now:
                continue
            await self.store.update(rec.key, lambda d: {**d, "_last": now})
            target = await self._run_action(target, action, now)
        return target

    async def _run_action(self, target: Target, action: Mapping[str, Any], now: float) -> Target:
        """Set the target's min/max from the action, record it, then bring the desired count
        within them."""
        change = action.get("ScalableTargetAction") or {}
        low, high = change.get("MinCapacity"), change.get("MaxCapacity")

        def apply(doc: Doc) -> Doc:
            if low is not None:
                doc["MinCapacity"] = low
            if high is not None:
                doc["MaxCapacity"] = high
            return doc

        try:
            await self.store.update(target.rec.key, apply)
        except RecordMissing:
            return target
        text = model.capacity_text(low, high)
        await self._activity(
            target,
            description=f"Setting {text}",
            cause=model.scheduled_cause(str(action["ScheduledActionName"])),
            status=model.SUCCESSFUL,
            message=f"Successfully set {text}",
            start=now,
        )
        target = await self._reload(target) or target
        current = await self._current(target)
        if current is not None:
            lo, hi = target.bounds
            wanted = rules.clamp(current, lo, hi)
            if wanted != current:
                await self.scale(target, wanted, model.bound_cause(lo, hi, wanted))
        return await self._reload(target) or target

    async def _track(self, target: Target) -> None:
        out_off = target.suspended("DynamicScalingOutSuspended")
        in_off = target.suspended("DynamicScalingInSuspended")
        if out_off and in_off:
            return
        ns, rid, dim = (target.doc[k] for k in ("ServiceNamespace", "ResourceId", "ScalableDimension"))
        policies = [
            p
            for p in await self.store.children(
                target.account, target.region, keys.POLICIES, ns, rid=rid, dim=dim
            )
            if p.doc.get("PolicyType") == model.TRACKING
        ]
        if not policies:
            return
        capacity = await self._current(target)
        if capacity is None:
            return
        now = self.clock()
        since = float(target.doc.get("_scaledAt") or 0.0)
        decisions: list[tuple[rules.Decision, Record]] = []
        voters = 0
        for policy in policies:
            config = policy.doc.get("TargetTrackingScalingPolicyConfiguration") or {}
            tracking = tracking_of(config)
            if not tracking.disable_scale_in:
                voters += 1
            pairs = await self.points.points(
                target.account, target.region, target.cluster, target.service, config=config, now=now
            )
            values = [v for ts, v in pairs if ts >= since]
            cooldown = rules.Cooldown.from_doc(policy.doc.get("_cooldown"))
            decision = rules.track(
                values,
                capacity,
                tracking,
                cooldown,
                now=now,
                bounds=target.bounds,
                out_suspended=out_off,
                in_suspended=in_off,
            )
            decisions.append((decision, policy))
        final = rules.combine([d for d, _ in decisions], voters)
        if not final.acts:
            return
        chosen = next(p for d, p in decisions if d == final)
        alarms = chosen.doc.get("Alarms") or []
        alarm = next(
            (
                a["AlarmName"]
                for a in alarms
                if ("AlarmHigh" if final.direction == "out" else "AlarmLow") in a["AlarmName"]
            ),
            "",
        )
        cause = model.alarm_cause(alarm, str(chosen.doc["PolicyName"]))
        if await self.scale(target, final.capacity, cause):
            out_cooldown = float(
                tracking_of(
                    chosen.doc.get("TargetTrackingScalingPolicyConfiguration") or {}
                ).scale_out_cooldown
            )
            await self._cooldown(chosen, capacity, final.capacity, now, out_cooldown)

    async def _cooldown(
        self, policy: Record, before: int, after: int, now: float, out_cooldown: float
    ) -> None:
        def change(doc: Doc) -> Doc:
            state = rules.Cooldown.from_doc(doc.get("_cooldown"))
            doc["_cooldown"] = state.after(before, after, now, out_cooldown=out_cooldown).to_doc()
            return doc

        with contextlib.suppress(RecordMissing):
            await self.store.update(policy.key, change)

    # -- the one way capacity changes ---------------------------------------------------------
    async def scale(self, target: Target, count: int, cause: str) -> bool:
        """Set the service's desired count (as UpdateService does) and record the activity."""
        start = self.clock()
        key = service_key(target)

        def change(doc: Doc) -> Doc | None:
            if doc.get("status") != service_model.ACTIVE:
                raise _NotActive()
            if int(doc.get("desiredCount") or 0) == count:
                return None
            service_model.set_desired_count(doc, count)
            doc.pop("_steadyAt", None)
            return doc

        ok, message = True, model.desired_success(count)
        try:
            if await self.services.change(key, change) is None:
                ok, message = False, model.desired_failure(count, "the ECS service does not exist")
        except _NotActive:
            ok, message = False, model.desired_failure(count, "the ECS service is not ACTIVE")
        await self._activity(
            target,
            description=model.desired_description(count),
            cause=cause,
            status=model.SUCCESSFUL if ok else model.FAILED,
            message=message,
            start=start,
        )
        if ok:
            with contextlib.suppress(RecordMissing):
                await self.store.update(target.rec.key, lambda d: {**d, "_scaledAt": start})
        return ok

    async def _activity(
        self, target: Target, *, description: str, cause: str, status: str, message: str, start: float
    ) -> None:
        doc = model.activity(
            target.doc,
            activity_id=str(uuid.uuid4()),
            description=description,
            cause=cause,
            start=start,
            end=self.clock(),
            status=status,
            message=message,
        )
        ns, rid, dim = (target.doc[k] for k in ("ServiceNamespace", "ResourceId", "ScalableDimension"))
        await self.store.add_activity((target.account, target.region, ns, rid, dim), doc, start)

    # -- step scaling: the CloudWatch alarm action sink ---------------------------------------
    async def step_sink(self, arn: str, firing: AlarmFiring) -> None:
        """Apply the step policy ``arn`` for an alarm evaluation. Raises ``ActionFailed`` when
        the policy does not exist or applying it failed (the alarm's history says so)."""
        try:
            async with self._lock:
                await self._step(arn, firing)
        except ActionFailed:
            raise
        except Exception as exc:
            log.exception("step scaling policy %s failed for alarm %s", arn, firing.alarm_name)
            raise ActionFailed("the scaling policy could not be applied") from exc

    async def _step(self, arn: str, firing: AlarmFiring) -> None:
        found = await self._policy_by_arn(firing.account, firing.region, arn)
        if found is None:
            log.info("alarm %s invokes unknown scaling policy %s", firing.alarm_name, arn)
            raise ActionFailed(f"No scaling policy found for ARN {arn}")
        policy, target_rec = found
        target = _target(target_rec)
        if target is None or policy.doc.get("PolicyType") != model.STEP or firing.value is None:
            return
        capacity = await self._current(target)
        if capacity is None:
            return
        stepping = rules.steps_from(policy.doc.get("StepScalingPolicyConfiguration") or {})
        now = self.clock()
        decision = rules.step(
            firing.value - firing.threshold,
            capacity,
            stepping,
            rules.Cooldown.from_doc(policy.doc.get("_cooldown")),
            now=now,
            bounds=target.bounds,
            out_suspended=target.suspended("DynamicScalingOutSuspended"),
            in_suspended=target.suspended("DynamicScalingInSuspended"),
        )
        if not decision.acts:
            return
        name = policy.doc["PolicyName"]
        cause = f"monitor alarm {firing.alarm_name} in state {firing.state} triggered policy {name}"
        if await self.scale(target, decision.capacity, cause):
            await self._cooldown(policy, capacity, decision.capacity, now, stepping.cooldown)

    async def _policy_by_arn(self, account: str, region: str, arn: str) -> tuple[Record, Record] | None:
        for policy in await self.store.children(account, region, keys.POLICIES, model.ECS):
            if policy.doc.get("PolicyARN") == arn:
                doc = policy.doc
                target = await self.store.target(
                    account, region, doc["ServiceNamespace"], doc["ResourceId"], doc["ScalableDimension"]
                )
                return (policy, target) if target is not None else None
        return None


def service_key(target: Target) -> str:
    return ecs_keys.service(target.account, target.region, target.cluster, target.service)


def tracking_of(config: Mapping[str, Any]) -> rules.Tracking:
    out_cd, in_cd = config.get("ScaleOutCooldown"), config.get("ScaleInCooldown")
    return rules.Tracking(
        float(config.get("TargetValue") or 0.0),
        float(rules.DEFAULT_ECS_COOLDOWN if out_cd is None else out_cd),
        float(rules.DEFAULT_ECS_COOLDOWN if in_cd is None else in_cd),
        bool(config.get("DisableScaleIn")),
    )
