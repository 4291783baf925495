"""The rolling-update arithmetic, on the worked examples of ``model.deployments``."""

from __future__ import annotations

from stowage.model import deployments as dm


def _tasks(old_healthy: int = 0, new_healthy: int = 0, new_pending: int = 0) -> list[dm.TaskView]:
    out = [dm.TaskView(f"o{i}", False, True, False, False) for i in range(old_healthy)]
    out += [dm.TaskView(f"n{i}", True, True, False, False) for i in range(new_healthy)]
    out += [dm.TaskView(f"p{i}", True, False, False, True) for i in range(new_pending)]
    return out


def test_limits_round_like_ecs() -> None:
    assert dm.upper_limit(3, 150) == 4  # 4.5 rounded down
    assert dm.lower_limit(3, 50) == 2  # 1.5 rounded up
    assert dm.upper_limit(3, 200) == 6
    assert dm.lower_limit(1, 0) == 0


def test_circuit_breaker_threshold() -> None:
    assert dm.failure_threshold(3) == 3
    assert dm.failure_threshold(10) == 5
    assert dm.failure_threshold(30) == 15
    assert dm.failure_threshold(31) == 16
    assert dm.failure_threshold(1000) == 200
    assert dm.failure_threshold(5, {"type": "COUNT", "value": 2}) == 2


def test_defaults_start_new_then_stop_old() -> None:
    first = dm.step(3, 100, 200, _tasks(old_healthy=3))
    assert first == dm.Step(3, ())
    pending = dm.step(3, 100, 200, _tasks(old_healthy=3, new_pending=3))
    assert pending == dm.Step(0, ())
    healthy = dm.step(3, 100, 200, _tasks(old_healthy=3, new_healthy=3))
    assert healthy.start == 0 and sorted(healthy.stop) == ["o0", "o1", "o2"]


def test_min_50_max_100_stops_first() -> None:
    step = dm.step(4, 50, 100, _tasks(old_healthy=4))
    assert step.start == 0 and len(step.stop) == 2
    after = [t for t in _tasks(old_healthy=4) if t.key not in step.stop]
    assert dm.step(4, 50, 100, after).start == 2


def test_min_50_max_150() -> None:
    step = dm.step(3, 50, 150, _tasks(old_healthy=3))
    assert step.start == 1 and len(step.stop) == 1


def test_scale_in_stops_least_useful_first() -> None:
    step = dm.step(2, 100, 200, _tasks(new_healthy=2, new_pending=1))
    assert step == dm.Step(0, ("p0",))


def test_failed_deployment_only_stops() -> None:
    assert dm.step(3, 100, 200, _tasks(), can_start=False) == dm.Step(0, ())
