"""The rolling-update arithmetic of ECS's deployment controller: pure, no store, no clock.

A service has one PRIMARY deployment (what it should run) and zero or more ACTIVE ones (what
it ran before, being drained). Each sync the service controller asks ``step`` how many PRIMARY
tasks to start and which tasks to stop, given every live task of the service; it takes that one
step and comes back when something changed. Two numbers bound every step, both from
``deploymentConfiguration`` and the service's ``desiredCount`` (D):

- the **upper limit** ``floor(D * maximumPercent / 100)``: tasks in RUNNING or PENDING (every
  task not yet STOPPED, a stopping one still holds its host) across all deployments. ECS
  rounds the maximum *down*.
- the **lower limit** ``ceil(D * minimumHealthyPercent / 100)``: healthy tasks (RUNNING, and
  HEALTHY if the task definition has health checks) that must stay while old ones are
  stopped. ECS rounds the minimum *up*.

Worked examples (D = desiredCount; old = healthy tasks of the ACTIVE deployment):

- D=3, min 100, max 200 (the REPLICA defaults): upper 6, lower 3. Step 1 starts 3 new tasks
  (3 old + 3 new = 6 <= 6) and stops nothing (healthy 3 - lower 3 = 0 may go). Once the 3
  new are healthy, healthy = 6 and 3 old may stop: step 2 stops all 3 old. Zero downtime.
- D=4, min 50, max 100: upper 4, lower 2. Step 1 cannot start (4 live = upper) but may stop
  4 - 2 = 2 old; step 2 starts 2 new (2 live, room 2); when they are healthy (healthy 4)
  step 3 stops the last 2 old; step 4 starts 2 new.
- D=3, min 50, max 150: upper floor(4.5) = 4, lower ceil(1.5) = 2. Step 1 starts 1 new
  (room 4 - 3) and stops 1 old (healthy 3 - 2); step 2 starts 1 more ...
- D=1, min 0, max 100: upper 1, lower 0: the old task stops first, then the new starts
  (downtime allowed by the configuration).
- DAEMON (defaults min 0, max 100): D is the number of eligible instances; the limits apply
  the same way, one task per instance.

Tasks that are not healthy (PENDING, or RUNNING and not yet HEALTHY) in old deployments never
count toward the lower limit, so they may always be stopped; tasks asked to stop still count
toward the upper limit until they are STOPPED (their resources are still held).

Scale-in of the PRIMARY deployment (more live tasks than D) stops the surplus at once, the
least useful first (pending before unhealthy before healthy), as ECS does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

REPLICA_MIN_HEALTHY = 100
REPLICA_MAX_PERCENT = 200
DAEMON_MIN_HEALTHY = 0
DAEMON_MAX_PERCENT = 100

CIRCUIT_BREAKER_MIN = 3
CIRCUIT_BREAKER_MAX = 200


def upper_limit(desired: int, maximum_percent: int) -> int:
    """Most tasks (RUNNING + PENDING) allowed during a deployment: rounded down."""
    return desired * maximum_percent // 100


def lower_limit(desired: int, minimum_healthy_percent: int) -> int:
    """Fewest healthy tasks kept during a deployment: rounded up."""
    return math.ceil(desired * minimum_healthy_percent / 100)


def failure_threshold(desired: int, config: dict[str, object] | None = None) -> int:
    """The circuit breaker's threshold: ``0.5 * desiredCount`` rounded up, at least 3 and at
    most 200 (ECS's default ``BOUNDED_PERCENT`` 50; the API reference's
    ServiceDeploymentCircuitBreaker gives the bounds, older guides said 10). A
    ``thresholdConfiguration`` of type ``COUNT`` uses its value as is; ``UNBOUNDED_PERCENT``
    drops the bounds. Examples: D=3 -> 3; D=10 -> 5; D=30 -> 15; D=1000 -> 200."""
    kind = str((config or {}).get("type") or "BOUNDED_PERCENT")
    raw = (config or {}).get("value")
    value = int(raw) if isinstance(raw, int) else 50
    if kind == "COUNT":
        return max(value, 1)
    computed = math.ceil(desired * value / 100)
    if kind == "UNBOUNDED_PERCENT":
        return max(computed, 1)
    return min(max(computed, CIRCUIT_BREAKER_MIN), CIRCUIT_BREAKER_MAX)


@dataclass(frozen=True, slots=True)
class TaskView:
    """What the arithmetic needs to know about one live (not STOPPED) task."""

    key: str
    primary: bool
    """Belongs to the PRIMARY deployment."""
    healthy: bool
    stopping: bool
    """Already asked to stop (desiredStatus STOPPED)."""
    pending: bool
    """Not yet RUNNING."""


@dataclass(frozen=True, slots=True)
class Step:
    start: int
    """PRIMARY tasks to start now."""
    stop: tuple[str, ...]
    """Keys of tasks to stop now."""


def _usefulness(t: TaskView) -> int:
    # pending first, then running-but-not-healthy, then healthy
    return 0 if t.pending else 1 if not t.healthy else 2


def step(
    desired: int,
    minimum_healthy_percent: int,
    maximum_percent: int,
    tasks: Sequence[TaskView],
    *,
    can_start: bool = True,
) -> Step:
    """One step of a rolling update (see the module docstring for worked examples).
    ``can_start`` False (a failed deployment, or placement backing off) only stops."""
    upper = upper_limit(desired, maximum_percent)
    lower = lower_limit(desired, minimum_healthy_percent)
    live = [t for t in tasks if not t.stopping]
    total = len(tasks)  # stopping tasks still hold their hosts
    primary = [t for t in live if t.primary]
    old = [t for t in live if not t.primary]
    healthy = sum(1 for t in live if t.healthy)

    stop: list[str] = []
    # Scale-in of the primary deployment: the surplus goes at once, least useful first.
    surplus = len(primary) - desired
    if surplus > 0:
        for t in sorted(primary, key=_usefulness)[:surplus]:
            stop.append(t.key)
            if t.healthy:
                healthy -= 1
    # Old tasks: the unhealthy ones always, the healthy ones down to the lower limit.
    may_stop_healthy = max(healthy - lower, 0)
    for t in sorted(old, key=_usefulness):
        if not t.healthy:
            stop.append(t.key)
        elif may_stop_healthy > 0:
            stop.append(t.key)
            may_stop_healthy -= 1
    start = 0
    if can_start:
        want = desired - min(len(primary), desired)
        room = upper - total
        start = max(min(want, room), 0)
    return Step(start, tuple(stop))
