"""ECS's service throttle: tasks that keep failing to start are launched less and less often.

When the tasks of a service's PRIMARY deployment go from PENDING straight to STOPPED (the image
cannot be pulled, a container cannot be created, an essential container exits before the task
is RUNNING), ECS waits longer and longer before launching the next ones, up to 27 minutes, and
says "(service name) is unable to consistently start tasks successfully." It never gives up
and changes nothing else. A task that reaches RUNNING ends the streak (however soon it stops
afterwards: ECS does not throttle those), and a new deployment (UpdateService with a new task
definition, or a forced one) starts with none. Tasks the scheduler or a user stopped do not
count. A deployment the circuit breaker watches (enabled, IN_PROGRESS) is not held back: the
breaker is what ends it, at its own threshold of failures, and pauses would only delay that.

Pure functions on the service document the sync is editing. The streak is kept in the document
(``_startStreak``) as well as counted from the tasks, so reaping old STOPPED tasks does not
shorten the pause.
"""

from __future__ import annotations

from stowage.model import services as model
from stowage.model import tasks as task_model
from stowage.resources.records import Doc, Record

THROTTLE_AFTER = 3
"""Consecutive tasks that failed to start before launches pause."""
FIRST_PAUSE = 10.0
MAX_PAUSE = 27 * 60.0
_NOT_FAILURES = ("ServiceSchedulerInitiated", "UserInitiated")


def unable_message(name: str) -> str:
    return f"(service {name}) is unable to consistently start tasks successfully."


def failed_to_start(doc: Doc) -> bool:
    """A STOPPED task that never reached RUNNING, stopped by neither the scheduler nor a user."""
    return (
        doc.get("lastStatus") == task_model.STOPPED
        and doc.get("startedAt") is None
        and doc.get("stopCode") not in _NOT_FAILURES
    )


def pause(streak: int) -> float:
    """Seconds between launches after ``streak`` consecutive failures to start."""
    if streak < THROTTLE_AFTER:
        return 0.0
    return float(min(FIRST_PAUSE * 2.0 ** (streak - THROTTLE_AFTER), MAX_PAUSE))


def _streak(deployment_id: str, tasks: list[Record], kept: Doc | None) -> Doc:
    """``{deployment, since, n, last}``: failures to start after the deployment's latest task
    start (``since``), how many, and when the last of them stopped."""
    since = 0.0
    failures: list[float] = []
    for t in tasks:
        d = t.doc
        if d.get("startedBy") != deployment_id:
            continue
        if d.get("startedAt") is not None:
            since = max(since, float(d["startedAt"]))
        elif failed_to_start(d):
            failures.append(float(d.get("stoppedAt") or 0))
    after = [f for f in failures if f > since]
    last = max(after, default=0.0)
    streak: Doc = {"deployment": deployment_id, "since": since, "n": len(after), "last": last}
    if kept and kept.get("deployment") == deployment_id and float(kept.get("since", 0)) >= since:
        # Older failures may have been reaped since they were counted.
        streak["n"] = max(streak["n"], int(kept.get("n", 0)))
        streak["last"] = max(streak["last"], float(kept.get("last", 0)))
    return streak


def hold(doc: Doc, tasks: list[Record], events: list[str], now: float) -> float | None:
    """Seconds until the PRIMARY deployment may launch again (None: it may now). Says so in the
    service's events once per failure that lengthens the pause."""
    prim = model.primary(doc)
    if prim is None:
        return None
    watched, _rollback = model.circuit_breaker(doc)
    if watched and prim.get("rolloutState") == model.IN_PROGRESS:
        doc.pop("_startStreak", None)
        return None
    kept = doc.get("_startStreak")
    streak = _streak(str(prim["id"]), tasks, kept)
    wait = pause(int(streak["n"]))
    if wait <= 0:
        doc.pop("_startStreak", None)
        return None
    if not kept or kept.get("n") != streak["n"] or kept.get("deployment") != streak["deployment"]:
        events.append(unable_message(doc["serviceName"]))
    doc["_startStreak"] = streak
    remaining = float(streak["last"]) + wait - now
    return remaining if remaining > 0 else None
