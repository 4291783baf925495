"""Application Auto Scaling's arithmetic (model/autoscaling_rules), computed by hand."""

from __future__ import annotations

import pytest

from stowage.model import autoscaling_rules as r

HIGH = [80.0, 90.0, 120.0]


def tracking(target: float = 50.0, **kw: float | bool) -> r.Tracking:
    return r.Tracking(target, **kw)  # type: ignore[arg-type]


def test_target_tracking_scales_out_on_three_high_points() -> None:
    # 2 tasks at 120 % of reservation for a 50 % target: ceil(2 * 120 / 50) = ceil(4.8) = 5
    d = r.track(HIGH, 2, tracking(), r.Cooldown(), now=1000.0, bounds=(1, 10))
    assert (d.direction, d.capacity, d.metric) == ("out", 5, 120.0)


def test_target_tracking_needs_three_points_above_target() -> None:
    assert not r.track([120.0, 120.0], 2, tracking(), r.Cooldown(), now=0.0, bounds=(1, 10)).acts
    assert not r.track([40.0, 120.0, 120.0], 2, tracking(), r.Cooldown(), now=0.0, bounds=(1, 10)).acts


def test_scale_out_is_clamped_to_max() -> None:
    d = r.track([400.0] * 3, 1, tracking(), r.Cooldown(), now=0.0, bounds=(1, 4))
    assert (d.direction, d.capacity) == ("out", 4)
    # already at max: nothing to do
    assert not r.track([400.0] * 3, 4, tracking(), r.Cooldown(), now=0.0, bounds=(1, 4)).acts


def test_scale_in_needs_fifteen_points_below_ninety_percent_of_target() -> None:
    low = [20.0] * 14
    assert not r.track(low, 4, tracking(), r.Cooldown(), now=0.0, bounds=(1, 10)).acts
    # 15 points, the highest 30: ceil(4 * 30 / 50) = ceil(2.4) = 3
    d = r.track([*low, 30.0], 4, tracking(), r.Cooldown(), now=0.0, bounds=(1, 10))
    assert (d.direction, d.capacity, d.metric) == ("in", 3, 30.0)
    # 46 is under the target but not under 90 % of it (45): no scale-in
    assert not r.track([20.0] * 14 + [46.0], 4, tracking(), r.Cooldown(), now=0.0, bounds=(1, 10)).acts


def test_scale_in_clamped_to_min_and_disabled_scale_in() -> None:
    d = r.track([0.0] * 15, 4, tracking(), r.Cooldown(), now=0.0, bounds=(2, 10))
    assert (d.direction, d.capacity) == ("in", 2)
    assert not r.track(
        [0.0] * 15, 4, tracking(disable_scale_in=True), r.Cooldown(), now=0.0, bounds=(1, 10)
    ).acts
    assert not r.track(
        [0.0] * 15, 4, tracking(), r.Cooldown(), now=0.0, bounds=(1, 10), in_suspended=True
    ).acts


def test_scale_in_cooldown_blocks_scale_in_but_not_scale_out() -> None:
    cd = r.Cooldown(in_at=100.0)
    policy = tracking(scale_in_cooldown=300.0)
    assert not r.track([0.0] * 15, 4, policy, cd, now=200.0, bounds=(1, 10)).acts
    assert r.track([0.0] * 15, 4, policy, cd, now=401.0, bounds=(1, 10)).capacity == 1
    assert r.track(HIGH, 4, policy, cd, now=200.0, bounds=(1, 20)).direction == "out"


def test_scale_out_cooldown_counts_the_added_capacity() -> None:
    # went 2 -> 5 at t=100; the metric still says 120 % at t=150 (within 300 s): computed from
    # the 2 before the scale-out, ceil(2 * 120 / 50) = 5 is not more than 5: nothing
    cd = r.Cooldown(out_at=100.0, out_base=2)
    policy = tracking(scale_out_cooldown=300.0)
    assert not r.track(HIGH, 5, policy, cd, now=150.0, bounds=(1, 20)).acts
    # a larger burst (200 %): ceil(2 * 200 / 50) = 8 > 5 goes ahead
    assert r.track([200.0] * 3, 5, policy, cd, now=150.0, bounds=(1, 20)).capacity == 8
    # after the cooldown it is computed from the current capacity: ceil(5 * 120 / 50) = 12
    assert r.track(HIGH, 5, policy, cd, now=500.0, bounds=(1, 20)).capacity == 12


def test_cooldown_state_after_scaling() -> None:
    cd = r.Cooldown().after(2, 5, 100.0, out_cooldown=300.0)
    assert (cd.out_at, cd.out_base) == (100.0, 2)
    # another scale-out inside the cooldown keeps its start and base
    assert r.Cooldown.from_doc(cd.after(5, 8, 150.0, out_cooldown=300.0).to_doc()) == cd
    assert cd.after(8, 3, 200.0, out_cooldown=300.0).in_at == 200.0


def test_empty_service_with_load_gets_one_task_and_ceiling_is_exact() -> None:
    assert r.tracking_capacity(0, 10.0, 50.0) == 1
    assert r.tracking_capacity(3, 50.0, 50.0) == 3  # no float noise pushing 3.0000001 to 4
    assert r.tracking_capacity(3, 0.0, 50.0) == 0


def test_combine_policies() -> None:
    out_a, out_b = r.Decision("out", 4), r.Decision("out", 6)
    in_a, in_b = r.Decision("in", 2), r.Decision("in", 3)
    assert r.combine([out_a, in_a, out_b], 2) == out_b
    assert r.combine([in_a, r.NOTHING], 2) == r.NOTHING  # one policy does not want to scale in
    assert r.combine([in_a, in_b], 2) == in_b  # the larger capacity wins


STEPS = (r.Step(None, -10.0, -2), r.Step(-10.0, 0.0, -1), r.Step(0.0, 10.0, 1), r.Step(10.0, None, 3))


def test_find_step_bounds() -> None:
    assert r.find_step(STEPS, 0.0).adjustment == 1  # type: ignore[union-attr]  # lower inclusive above
    assert r.find_step(STEPS, 10.0).adjustment == 3  # type: ignore[union-attr]
    # below the threshold the upper bound is inclusive: -10 is in (-inf, -10]
    assert r.find_step(STEPS, -10.0).adjustment == -2  # type: ignore[union-attr]
    assert r.find_step(STEPS, -9.5).adjustment == -1  # type: ignore[union-attr]
    assert r.find_step((r.Step(0.0, 5.0, 1),), 7.0) is None


@pytest.mark.parametrize(
    ("capacity", "percent", "magnitude", "change"),
    [
        (10, 25, None, 2),  # 2.5 truncated
        (3, 10, None, 1),  # 0.3 -> 1
        (3, -10, None, -1),  # -0.3 -> -1
        (10, -25, None, -2),  # -2.5 truncated toward zero
        (10, 10, 3, 3),  # 1 raised to MinAdjustmentMagnitude
        (10, -10, 3, -3),
        (0, 50, 2, 0),  # nothing to take a percentage of
    ],
)
def test_percent_change(capacity: int, percent: int, magnitude: int | None, change: int) -> None:
    assert r.percent_change(capacity, percent, magnitude) == change


def test_step_policy_adjustment_types() -> None:
    base = r.Cooldown()
    change = r.Stepping(r.CHANGE, STEPS, cooldown=60)
    assert r.step(12.0, 4, change, base, now=0.0, bounds=(1, 10)).capacity == 7
    assert r.step(-12.0, 4, change, base, now=0.0, bounds=(1, 10)).capacity == 2
    exact = r.Stepping(r.EXACT, (r.Step(0.0, None, 6),), cooldown=60)
    assert r.step(5.0, 2, exact, base, now=0.0, bounds=(1, 10)).capacity == 6
    percent = r.Stepping(r.PERCENT, (r.Step(0.0, None, 50),), min_magnitude=2, cooldown=60)
    assert r.step(1.0, 2, percent, base, now=0.0, bounds=(1, 10)).capacity == 4  # +1 raised to +2
    assert r.step(1.0, 9, change, base, now=0.0, bounds=(1, 10)).capacity == 10  # clamped


def test_step_cooldowns() -> None:
    change = r.Stepping(r.CHANGE, STEPS, cooldown=60)
    # scaled 4 -> 7 at t=0: inside the cooldown the +3 applies to 4 again: 7, not more than 7
    cd = r.Cooldown(out_at=0.0, out_base=4)
    assert not r.step(12.0, 7, change, cd, now=30.0, bounds=(1, 20)).acts
    assert r.step(12.0, 7, change, cd, now=61.0, bounds=(1, 20)).capacity == 10
    # a scale-in waits for the cooldown after the last scale-in
    cd_in = r.Cooldown(in_at=0.0)
    assert not r.step(-12.0, 7, change, cd_in, now=30.0, bounds=(1, 20)).acts
    assert r.step(-12.0, 7, change, cd_in, now=61.0, bounds=(1, 20)).capacity == 5
    assert not r.step(12.0, 7, change, r.Cooldown(), now=0.0, bounds=(1, 20), out_suspended=True).acts


@pytest.mark.parametrize(
    ("steps", "problem"),
    [
        ((), "at least one"),
        ((r.Step(None, None, 1),), "cannot be null"),
        ((r.Step(5.0, 1.0, 1),), "less than"),
        ((r.Step(0.0, 10.0, 1), r.Step(5.0, None, 2)), "overlap"),
        ((r.Step(0.0, 10.0, 1), r.Step(20.0, None, 2)), "gaps"),
        ((r.Step(-5.0, 0.0, 1),), "null MetricIntervalLowerBound"),
        ((r.Step(0.0, 5.0, 1),), "null MetricIntervalUpperBound"),
    ],
)
def test_step_errors(steps: tuple[r.Step, ...], problem: str) -> None:
    found = r.step_errors(steps)
    assert found is not None and problem in found


def test_valid_steps() -> None:
    assert r.step_errors(STEPS) is None
    assert r.step_errors((r.Step(0.0, None, 1),)) is None
