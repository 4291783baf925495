"""Application Auto Scaling's arithmetic: what capacity a policy asks for, given the numbers.

Pure functions, no clock and no store; the controller (``controllers/autoscaling``) feeds them
metric data points, the current capacity and the policy's cooldown state.

**Target tracking** (our reading of AWS's two alarms per policy):

- *scale out* when the newest ``SCALE_OUT_POINTS`` (3) data points are all above the target:
  desired = ceil(capacity * newest / target), where ``newest`` is the newest data point;
- *scale in* when the newest ``SCALE_IN_POINTS`` (15) data points are all below
  ``SCALE_IN_FRACTION`` (90 %) of the target: desired = ceil(capacity * highest / target), with
  ``highest`` the highest of those points (conservative: the busiest moment decides, and the
  ceiling rounds in favour of capacity);
- several target tracking policies on one target: scale out if any asks to (the largest
  capacity wins), scale in only if every policy with scale-in enabled asks to (the largest of
  their capacities wins), as AWS documents.

**Step scaling**: the step whose interval holds ``value - threshold`` (lower bound inclusive and
upper exclusive above the threshold, the reverse below it) gives the adjustment;
``ChangeInCapacity`` adds it, ``ExactCapacity`` sets it, ``PercentChangeInCapacity`` adds that
percentage of the capacity, rounded as AWS does (a change between -1 and 1 becomes ±1, others
are truncated toward zero) and at least ``MinAdjustmentMagnitude`` in size.

**Cooldowns** (per policy): after a scale-out, a further scale-out during ``ScaleOutCooldown``
(step scaling: ``Cooldown``) is computed from the capacity *before* that scale-out (the capacity
it added counts as part of the next one) and happens only if it asks for more than the current
capacity; a scale-in waits for the scale-in cooldown (step scaling: ``Cooldown``) after the last
scale-in; a scale-out is never held back by a scale-in cooldown.

Every result is clamped to the target's [min, max].
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SCALE_OUT_POINTS = 3
SCALE_IN_POINTS = 15
SCALE_IN_FRACTION = 0.9
DEFAULT_ECS_COOLDOWN = 300
"""ECS services' default ScaleOutCooldown, ScaleInCooldown and step Cooldown (seconds)."""

CHANGE = "ChangeInCapacity"
EXACT = "ExactCapacity"
PERCENT = "PercentChangeInCapacity"


def clamp(capacity: int, low: int, high: int) -> int:
    return max(low, min(high, capacity))


@dataclass(frozen=True, slots=True)
class Cooldown:
    """A policy's cooldown state (kept in its record)."""

    out_at: float | None = None
    """When its last scale-out happened."""
    out_base: int | None = None
    """The capacity before that scale-out: what a scale-out during the cooldown adds to."""
    in_at: float | None = None
    """When its last scale-in happened."""

    @staticmethod
    def from_doc(doc: Mapping[str, Any] | None) -> Cooldown:
        doc = doc or {}
        return Cooldown(doc.get("outAt"), doc.get("outBase"), doc.get("inAt"))

    def to_doc(self) -> dict[str, Any]:
        return {"outAt": self.out_at, "outBase": self.out_base, "inAt": self.in_at}

    def after(self, before: int, after: int, now: float, *, out_cooldown: float) -> Cooldown:
        """The state after the capacity went from ``before`` to ``after`` at ``now``. A scale-out
        within the cooldown keeps the cooldown's base and start (it is part of the same burst)."""
        if after > before:
            if self.out_at is not None and now - self.out_at < out_cooldown and self.out_base is not None:
                return Cooldown(self.out_at, self.out_base, self.in_at)
            return Cooldown(now, before, self.in_at)
        if after < before:
            return Cooldown(self.out_at, self.out_base, now)
        return self


def out_basis(capacity: int, cooldown: Cooldown, now: float, out_cooldown: float) -> int:
    """The capacity a scale-out is computed from: the capacity before the scale-out that started
    a cooldown still in effect (so its added capacity is not counted twice), else ``capacity``."""
    if cooldown.out_at is not None and cooldown.out_base is not None and now - cooldown.out_at < out_cooldown:
        return min(cooldown.out_base, capacity)
    return capacity


def in_blocked(cooldown: Cooldown, now: float, in_cooldown: float) -> bool:
    return cooldown.in_at is not None and now - cooldown.in_at < in_cooldown


# -- target tracking --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Tracking:
    target: float
    scale_out_cooldown: float = DEFAULT_ECS_COOLDOWN
    scale_in_cooldown: float = DEFAULT_ECS_COOLDOWN
    disable_scale_in: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    """What a policy asks for: ``direction`` is "out", "in" or "" (nothing), ``capacity`` the
    capacity it asks for (already clamped), ``metric`` the value that decided."""

    direction: str
    capacity: int
    metric: float | None = None

    @property
    def acts(self) -> bool:
        return self.direction != ""


NOTHING = Decision("", 0)


def tracking_capacity(capacity: int, metric: float, target: float) -> int:
    """ceil(capacity * metric / target); an empty service with load gets one task."""
    if target <= 0:
        return capacity
    wanted = math.ceil(round(capacity * metric / target, 9))
    if capacity == 0 and metric > 0:
        wanted = 1
    return max(wanted, 0)


def track(
    points: Sequence[float],
    capacity: int,
    policy: Tracking,
    cooldown: Cooldown,
    *,
    now: float,
    bounds: tuple[int, int],
    out_suspended: bool = False,
    in_suspended: bool = False,
) -> Decision:
    """One evaluation of a target tracking policy over its data points (oldest first)."""
    low, high = bounds
    if len(points) >= SCALE_OUT_POINTS and not out_suspended:
        recent = points[-SCALE_OUT_POINTS:]
        if all(p > policy.target for p in recent):
            basis = out_basis(capacity, cooldown, now, policy.scale_out_cooldown)
            wanted = clamp(tracking_capacity(basis, recent[-1], policy.target), low, high)
            if wanted > capacity:
                return Decision("out", wanted, recent[-1])
            return NOTHING
    if len(points) >= SCALE_IN_POINTS and not in_suspended and not policy.disable_scale_in:
        recent = points[-SCALE_IN_POINTS:]
        if all(p < policy.target * SCALE_IN_FRACTION for p in recent):
            if in_blocked(cooldown, now, policy.scale_in_cooldown):
                return NOTHING
            highest = max(recent)
            wanted = clamp(tracking_capacity(capacity, highest, policy.target), low, high)
            if wanted < capacity:
                return Decision("in", wanted, highest)
    return NOTHING


def combine(decisions: Sequence[Decision], scale_in_voters: int) -> Decision:
    """Several target tracking policies of one target: any scale-out wins (the largest); a
    scale-in only when all ``scale_in_voters`` policies ask for one (the largest capacity)."""
    outs = [d for d in decisions if d.direction == "out"]
    if outs:
        return max(outs, key=lambda d: d.capacity)
    ins = [d for d in decisions if d.direction == "in"]
    if ins and len(ins) == scale_in_voters:
        return max(ins, key=lambda d: d.capacity)
    return NOTHING


# -- step scaling -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Step:
    lower: float | None
    upper: float | None
    adjustment: int


@dataclass(frozen=True, slots=True)
class Stepping:
    adjustment_type: str
    steps: tuple[Step, ...]
    min_magnitude: int | None = None
    cooldown: float = DEFAULT_ECS_COOLDOWN


def steps_from(config: Mapping[str, Any]) -> Stepping:
    """A ``StepScalingPolicyConfiguration`` (already validated) as a ``Stepping``."""
    steps = tuple(
        Step(
            s.get("MetricIntervalLowerBound"), s.get("MetricIntervalUpperBound"), int(s["ScalingAdjustment"])
        )
        for s in config.get("StepAdjustments") or []
    )
    cooldown = config.get("Cooldown")
    return Stepping(
        str(config.get("AdjustmentType") or CHANGE),
        steps,
        config.get("MinAdjustmentMagnitude"),
        float(DEFAULT_ECS_COOLDOWN if cooldown is None else cooldown),
    )


def find_step(steps: Sequence[Step], breach: float) -> Step | None:
    """The step whose interval holds ``breach`` (= value - threshold). At or above zero the
    lower bound is inclusive and the upper exclusive; below zero the reverse."""
    for step in steps:
        low = -math.inf if step.lower is None else step.lower
        high = math.inf if step.upper is None else step.upper
        if breach >= 0 and low <= breach < high:
            return step
        if breach < 0 and low < breach <= high:
            return step
    return None


def percent_change(capacity: int, percent: int, min_magnitude: int | None) -> int:
    """AWS's rounding of a percentage change: between -1 and 1 (exclusive, not 0) → ±1, else
    truncated toward zero; then at least ``min_magnitude`` in size."""
    raw = capacity * percent / 100.0
    if 0 < raw < 1:
        change = 1
    elif -1 < raw < 0:
        change = -1
    else:
        change = math.trunc(raw)
    if min_magnitude and change != 0 and abs(change) < min_magnitude:
        change = min_magnitude if change > 0 else -min_magnitude
    return change


def adjusted(capacity: int, adjustment_type: str, adjustment: int, min_magnitude: int | None) -> int:
    if adjustment_type == EXACT:
        return adjustment
    if adjustment_type == PERCENT:
        return capacity + percent_change(capacity, adjustment, min_magnitude)
    return capacity + adjustment


def step(
    breach: float,
    capacity: int,
    policy: Stepping,
    cooldown: Cooldown,
    *,
    now: float,
    bounds: tuple[int, int],
    out_suspended: bool = False,
    in_suspended: bool = False,
) -> Decision:
    """One invocation of a step scaling policy by its alarm (``breach`` = value - threshold)."""
    chosen = find_step(policy.steps, breach)
    if chosen is None:
        return NOTHING
    low, high = bounds
    wanted = clamp(
        adjusted(capacity, policy.adjustment_type, chosen.adjustment, policy.min_magnitude), low, high
    )
    if wanted > capacity:
        if out_suspended:
            return NOTHING
        basis = out_basis(capacity, cooldown, now, policy.cooldown)
        if basis != capacity:
            # within the cooldown: the adjustment applies to the capacity before the last
            # scale-out, and only a larger scale-out than that one goes ahead
            wanted = clamp(
                adjusted(basis, policy.adjustment_type, chosen.adjustment, policy.min_magnitude), low, high
            )
            if wanted <= capacity:
                return NOTHING
        return Decision("out", wanted, breach)
    if wanted < capacity:
        if in_suspended or in_blocked(cooldown, now, policy.cooldown):
            return NOTHING
        return Decision("in", wanted, breach)
    return NOTHING


def step_errors(steps: Sequence[Step]) -> str | None:
    """Why a list of step adjustments is invalid (AWS's rules), or None."""
    if not steps:
        return "There must be at least one step adjustment"
    for s in steps:
        if s.lower is None and s.upper is None:
            return "Both MetricIntervalLowerBound and MetricIntervalUpperBound cannot be null"
        if s.lower is not None and s.upper is not None and s.lower >= s.upper:
            return "MetricIntervalLowerBound must be less than MetricIntervalUpperBound"
    if sum(1 for s in steps if s.lower is None) > 1:
        return "Only one step adjustment can have a null MetricIntervalLowerBound"
    if sum(1 for s in steps if s.upper is None) > 1:
        return "Only one step adjustment can have a null MetricIntervalUpperBound"
    ordered = sorted(steps, key=lambda s: -math.inf if s.lower is None else s.lower)
    for a, b in itertools.pairwise(ordered):
        if a.upper is None or b.lower is None or a.upper > b.lower:
            return "Step adjustment intervals must not overlap"
        if a.upper < b.lower:
            return "Step adjustment intervals must not have gaps between them"
    if ordered[0].lower is not None and ordered[0].lower < 0:
        return "A step adjustment with a null MetricIntervalLowerBound is required below a negative bound"
    if ordered[-1].upper is not None and ordered[-1].upper > 0:
        return "A step adjustment with a null MetricIntervalUpperBound is required above a positive bound"
    return None
