"""The service throttle's pure rules: which tasks failed to start, the pause after a streak of
them, and when a service is (not) held back."""

from __future__ import annotations

from typing import Any

from stowage.controllers.services import throttle
from stowage.resources.records import Record

NAME = "web"


def service(*, breaker: bool = False, rollout: str = "COMPLETED", deployment: str = "d1") -> dict[str, Any]:
    doc: dict[str, Any] = {
        "serviceName": NAME,
        "deployments": [{"id": deployment, "status": "PRIMARY", "rolloutState": rollout}],
    }
    if breaker:
        doc["deploymentConfiguration"] = {"deploymentCircuitBreaker": {"enable": True, "rollback": False}}
    return doc


def failed(n: int, stopped_at: float, deployment: str = "d1") -> Record:
    doc = {
        "startedBy": deployment,
        "lastStatus": "STOPPED",
        "stopCode": "TaskFailedToStart",
        "stoppedAt": stopped_at,
    }
    return Record(f"/t/{deployment}/f{n}", doc, n)


def ran(n: int, started_at: float, status: str = "STOPPED", deployment: str = "d1") -> Record:
    doc = {
        "startedBy": deployment,
        "lastStatus": status,
        "stopCode": "EssentialContainerExited",
        "startedAt": started_at,
        "stoppedAt": started_at + 1,
    }
    return Record(f"/t/{deployment}/r{n}", doc, n)


def test_pauses_grow_from_the_third_failure_up_to_27_minutes() -> None:
    assert [throttle.pause(n) for n in range(6)] == [0, 0, 0, 10, 20, 40]
    assert throttle.pause(40) == 27 * 60


def test_only_tasks_that_never_ran_and_were_not_stopped_on_purpose_count() -> None:
    assert throttle.failed_to_start(failed(1, 5).doc)
    assert not throttle.failed_to_start(ran(1, 5).doc)  # exited after RUNNING: ECS does not throttle
    scaled_in = {**failed(2, 5).doc, "stopCode": "ServiceSchedulerInitiated"}
    assert not throttle.failed_to_start(scaled_in)
    assert not throttle.failed_to_start({**failed(3, 5).doc, "stopCode": "UserInitiated"})


def test_a_streak_holds_launches_and_says_so_once_per_failure() -> None:
    doc, events = service(), []
    tasks = [failed(1, 100), failed(2, 101)]
    assert throttle.hold(doc, tasks, events, now=102) is None and events == []
    tasks.append(failed(3, 102))
    assert throttle.hold(doc, tasks, events, now=103) == 9.0  # 10 s after the third failure
    assert events == [throttle.unable_message(NAME)]
    assert throttle.hold(doc, tasks, events, now=111) == 1.0
    assert len(events) == 1  # the same streak: no new event
    assert throttle.hold(doc, tasks, events, now=112.5) is None  # the pause is over: one launch
    tasks.append(failed(4, 113))
    assert throttle.hold(doc, tasks, events, now=113) == 20.0
    assert len(events) == 2


def test_reaped_failures_still_count() -> None:
    doc, events = service(), []
    tasks = [failed(i, 100 + i) for i in range(4)]
    assert throttle.hold(doc, tasks, events, now=104) == 19.0
    # The stopped tasks are deleted after their retention: the pause does not shrink.
    assert throttle.hold(doc, tasks[-1:], events, now=105) == 18.0


def test_a_task_that_runs_or_a_new_deployment_ends_the_streak() -> None:
    doc, events = service(), []
    tasks = [failed(i, 100 + i) for i in range(3)]
    assert throttle.hold(doc, tasks, events, now=103) is not None
    assert throttle.hold(doc, [*tasks, ran(9, 104, status="RUNNING")], events, now=105) is None
    assert "_startStreak" not in doc
    fresh = service(deployment="d2")
    assert throttle.hold(fresh, tasks, events, now=105) is None  # d1's failures are not d2's


def test_a_deployment_the_circuit_breaker_watches_is_not_held_back() -> None:
    tasks = [failed(i, 100 + i) for i in range(5)]
    assert throttle.hold(service(breaker=True, rollout="IN_PROGRESS"), tasks, [], now=105) is None
    assert throttle.hold(service(breaker=True, rollout="COMPLETED"), tasks, [], now=105) is not None
