"""From the replica count the metrics propose to the one the HorizontalPodAutoscaler applies,
pure: stabilization, rate limits and bounds, as upstream's ``normalizeDesiredReplicas`` (no
``behavior``) and ``normalizeDesiredReplicasWithBehaviors``.

- **Stabilization**: every sync records its proposal. Without ``behavior``, the applied count
  is the highest proposal of the last 5 minutes (``--horizontal-pod-autoscaler-downscale-
  stabilization``), so it scales down only once the load stayed low that long. With
  ``behavior``, a scale up takes the *lowest* proposal within ``scaleUp.
  stabilizationWindowSeconds`` (default 0) and a scale down the *highest* within
  ``scaleDown.stabilizationWindowSeconds`` (default 300).
- **Rate**: without ``behavior``, at most ``max(2 * current, 4)`` per step. With it, each
  policy allows, over its ``periodSeconds``, ``Pods`` replicas or ``Percent`` of the count at
  the period's start (the scale events of the period are remembered); ``selectPolicy`` Max
  takes the policy allowing the largest change, Min the smallest, Disabled forbids the
  direction.
- **Bounds**: ``minReplicas`` .. ``maxReplicas``.

The reasons and messages are upstream's (the AbleToScale and ScalingLimited conditions).
The memory (``History``) lives in the controller, as upstream's does (lost on restart: it
restarts from the current count).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]
DOWNSCALE_STABILIZATION = 300.0
SCALE_UP_LIMIT_FACTOR = 2.0
SCALE_UP_LIMIT_MINIMUM = 4.0
_MAX = 2**31 - 1

READY = ("ReadyForNewScale", "recommended size matches current size")
DOWN_STABILIZED = (
    "ScaleDownStabilized",
    "recent recommendations were higher than current one, applying the highest recent recommendation",
)
UP_STABILIZED = (
    "ScaleUpStabilized",
    "recent recommendations were lower than current one, applying the lowest recent recommendation",
)
WITHIN_RANGE = ("DesiredWithinRange", "the desired count is within the acceptable range")
TOO_MANY = ("TooManyReplicas", "the desired replica count is more than the maximum replica count")
TOO_FEW = ("TooFewReplicas", "the desired replica count is less than the minimum replica count")
UP_LIMIT = ("ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate")
DOWN_LIMIT = ("ScaleDownLimit", "the desired replica count is decreasing faster than the maximum scale rate")


@dataclass(slots=True)
class Recommendation:
    replicas: int
    at: float


@dataclass(slots=True)
class ScaleEvent:
    change: int
    at: float
    outdated: bool = False


@dataclass(slots=True)
class History:
    """One autoscaler's recent proposals and scale events."""

    recommendations: list[Recommendation] = field(default_factory=list)
    up: list[ScaleEvent] = field(default_factory=list)
    down: list[ScaleEvent] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Normalized:
    replicas: int
    able: tuple[str, str]
    """AbleToScale (True): ReadyForNewScale or a Scale{Up,Down}Stabilized reason."""
    limited: bool
    limit: tuple[str, str]
    """ScalingLimited's reason and message (True when ``limited``)."""


def _window(rules: Obj | None, default: float) -> float:
    value = (rules or {}).get("stabilizationWindowSeconds")
    return default if value is None else float(value)


def normalize(
    history: History,
    behavior: Obj | None,
    *,
    current: int,
    desired: int,
    minimum: int,
    maximum: int,
    now: float,
    downscale_window: float = DOWNSCALE_STABILIZATION,
) -> Normalized:
    if behavior is None:
        stabilized = _stabilize_default(history, desired, now, downscale_window)
        able = READY if stabilized == desired else DOWN_STABILIZED
        replicas, limit = _bounds_default(current, stabilized, minimum, maximum)
    else:
        up, down = behavior.get("scaleUp") or {}, behavior.get("scaleDown") or {}
        stabilized, able = _stabilize(
            history, desired, current, rules=(up, down), now=now, window=downscale_window
        )
        if stabilized == desired:
            able = READY
        replicas, limit = _bounds_with_rate(
            history, current, stabilized, bounds=(minimum, maximum), rules=(up, down), now=now
        )
    return Normalized(replicas, able, replicas != stabilized, limit)


def _stabilize_default(history: History, desired: int, now: float, window: float) -> int:
    """The highest proposal of the window; the oldest expired entry is reused."""
    best = desired
    old = None
    for i, rec in enumerate(history.recommendations):
        if rec.at < now - window:
            old = i
        elif rec.replicas > best:
            best = rec.replicas
    _record(history, old, desired, now)
    return best


def _record(history: History, old: int | None, desired: int, now: float) -> None:
    if old is None:
        history.recommendations.append(Recommendation(desired, now))
    else:
        history.recommendations[old] = Recommendation(desired, now)


def _stabilize(
    history: History, desired: int, current: int, *, rules: tuple[Obj, Obj], now: float, window: float
) -> tuple[int, tuple[str, str]]:
    up_window, down_window = _window(rules[0], 0.0), _window(rules[1], window)
    if desired >= current:
        span, better, reason = up_window, min, UP_STABILIZED
    else:
        span, better, reason = down_window, max, DOWN_STABILIZED
    obsolete = now - max(up_window, down_window)
    best = desired
    old = None
    for i, rec in enumerate(history.recommendations):
        if rec.at > now - span:
            best = better(rec.replicas, best)
        if rec.at < obsolete:
            old = i
    _record(history, old, desired, now)
    return best, reason


def _bounds_default(current: int, desired: int, minimum: int, maximum: int) -> tuple[int, tuple[str, str]]:
    up_limit = int(max(SCALE_UP_LIMIT_FACTOR * current, SCALE_UP_LIMIT_MINIMUM))
    top, why = (up_limit, UP_LIMIT) if maximum > up_limit else (maximum, TOO_MANY)
    if desired < minimum:
        return minimum, TOO_FEW
    if desired > top:
        return top, why
    return desired, WITHIN_RANGE


def _changed_within(events: list[ScaleEvent], period: float, now: float) -> int:
    return sum(e.change for e in events if e.at > now - period)


def scale_up_limit(current: int, events: list[ScaleEvent], rules: Obj, now: float) -> int:
    """The most replicas the scale-up policies allow now."""
    select = rules.get("selectPolicy") or "Max"
    if select == "Disabled":
        return current
    pick = min if select == "Min" else max
    result = _MAX if select == "Min" else 0
    for policy in rules.get("policies") or []:
        start = current - _changed_within(events, float(policy.get("periodSeconds") or 0), now)
        value = int(policy.get("value") or 0)
        # Percent is rounded up, or a small count could never grow
        proposed = start + value if policy.get("type") == "Pods" else math.ceil(start * (1 + value / 100))
        result = pick(result, proposed)
    return result


def scale_down_limit(current: int, events: list[ScaleEvent], rules: Obj, now: float) -> int:
    """The fewest replicas the scale-down policies allow now."""
    select = rules.get("selectPolicy") or "Max"
    if select == "Disabled":
        return current
    pick = max if select == "Min" else min
    result = -_MAX if select == "Min" else _MAX
    for policy in rules.get("policies") or []:
        start = current + _changed_within(events, float(policy.get("periodSeconds") or 0), now)
        value = int(policy.get("value") or 0)
        proposed = start - value if policy.get("type") == "Pods" else int(start * (1 - value / 100))
        result = pick(result, proposed)
    return result


def _bounds_with_rate(
    history: History,
    current: int,
    desired: int,
    *,
    bounds: tuple[int, int],
    rules: tuple[Obj, Obj],
    now: float,
) -> tuple[int, tuple[str, str]]:
    (minimum, maximum), (up, down) = bounds, rules
    if desired > current:
        limit = max(scale_up_limit(current, history.up, up, now), current)
        top, why = (limit, UP_LIMIT) if maximum > limit else (maximum, TOO_MANY)
        if desired > top:
            return top, why
    elif desired < current:
        limit = min(scale_down_limit(current, history.down, down, now), current)
        bottom, why = (limit, DOWN_LIMIT) if minimum < limit else (minimum, TOO_FEW)
        if desired < bottom:
            return bottom, why
    return desired, WITHIN_RANGE


def record_scale(history: History, behavior: Obj | None, previous: int, new: int, now: float) -> None:
    """Remember a rescale for the rate policies (only used with ``behavior``); events older
    than the direction's longest policy period are reused."""
    if behavior is None:
        return
    rising = new > previous
    events = history.up if rising else history.down
    rules = (behavior.get("scaleUp") if rising else behavior.get("scaleDown")) or {}
    longest = max((float(p.get("periodSeconds") or 0) for p in rules.get("policies") or []), default=0.0)
    for e in events:
        if e.at < now - longest:
            e.outdated = True
    event = ScaleEvent(abs(new - previous), now)
    old = next((i for i in range(len(events) - 1, -1, -1) if events[i].outdated), None)
    if old is None:
        events.append(event)
    else:
        events[old] = event
