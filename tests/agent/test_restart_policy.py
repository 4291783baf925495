"""The restart decisions (`agent.restarts`) and probe bookkeeping (`agent.probes`), pure."""

from __future__ import annotations

from stowage.agent.probes import (
    LIVENESS,
    READINESS,
    STARTUP,
    ExecAction,
    HttpGetAction,
    ProbeSpec,
    ProbeTracker,
    TcpSocketAction,
    probes_of,
)
from stowage.agent.restarts import EcsRestart, KubeBackoff, KubeRestart, RestartTracker, restart_policy_of

T0 = 1_800_000_000.0


def _crash_loop(tracker: RestartTracker, runs: list[float]) -> list[float]:
    """Each run lasts ``runs[i]`` seconds, then exits 1 and restarts when allowed: the waits."""
    now = T0
    waits = []
    for length in runs:
        started = now
        now = started + length
        decision = tracker.decide(exit_code=1, killed_by="", started_at=started, finished_at=now, now=now)
        assert decision.restart
        waits.append(decision.delay_s)
        now += decision.delay_s
        tracker.record(now - decision.delay_s, now)
    return waits


def test_kubelet_back_off_doubles_from_ten_seconds_to_five_minutes() -> None:
    tracker = RestartTracker(KubeRestart("Always"))
    waits = _crash_loop(tracker, [1.0] * 9)
    assert waits == [0, 10, 20, 40, 80, 160, 300, 300, 300]
    assert tracker.count == 9 and tracker.backoff_s == 300


def test_kubelet_back_off_is_counted_from_the_exit_and_resets_after_ten_minutes() -> None:
    backoff = KubeBackoff()
    assert backoff.remaining(T0, T0) == 0  # no entry: at once
    backoff.advance(T0, T0)
    assert backoff.delay_s == 10
    # exited 3 s after that restart, looked at 4 s later: 6 s to go
    assert backoff.remaining(T0 + 3, T0 + 7) == 6
    assert backoff.remaining(T0 + 3, T0 + 13) == 0
    backoff.advance(T0 + 3, T0 + 13)
    assert backoff.delay_s == 20
    # running for more than 10 minutes since the last restart: a fresh start
    assert backoff.remaining(T0 + 13 + 601, T0 + 13 + 601) == 0
    backoff.advance(T0 + 13 + 601, T0 + 13 + 601)
    assert backoff.delay_s == 10
    # ... but not at 10 minutes exactly
    tracker = RestartTracker(KubeRestart("Always"))
    assert _crash_loop(tracker, [1.0, 1.0, 590.0]) == [0, 10, 20]


def test_kubernetes_policies() -> None:
    def decide(policy: str, code: int | None, killed: str = "") -> bool:
        tracker = RestartTracker(KubeRestart(policy))
        return tracker.decide(
            exit_code=code, killed_by=killed, started_at=T0, finished_at=T0 + 1, now=T0 + 1
        ).restart

    assert decide("Always", 0) and decide("Always", 1)
    assert decide("OnFailure", 1) and decide("OnFailure", None) and not decide("OnFailure", 0)
    assert decide("OnFailure", 0, killed=LIVENESS)  # a liveness kill restarts whatever the code
    assert not decide("Never", 1) and not decide("Never", 137, killed=LIVENESS)


def test_ecs_restart_policy_rules() -> None:
    tracker = RestartTracker(EcsRestart(frozenset({0, 3}), 60.0))

    def decide(code: int | None, started: float, now: float) -> bool:
        return tracker.decide(
            exit_code=code, killed_by="", started_at=started, finished_at=now, now=now
        ).restart

    assert not decide(1, T0, T0 + 59)  # did not run restartAttemptPeriod
    assert decide(1, T0, T0 + 60)
    assert not decide(3, T0, T0 + 600) and not decide(0, T0, T0 + 600)  # ignored
    assert not decide(None, T0, T0 + 600)
    tracker.record(T0 + 60, T0 + 60)
    # from then on the period counts from the last restart
    assert not decide(1, T0 + 60, T0 + 100)
    assert decide(1, T0 + 60, T0 + 121)
    assert tracker.count == 1 and tracker.backoff_s == 0


def test_restart_policy_from_the_container_definition() -> None:
    assert restart_policy_of({"name": "a"}) is None
    assert restart_policy_of({"restartPolicy": {"enabled": False}}) is None
    assert restart_policy_of({"restartPolicy": {"enabled": True}}) == EcsRestart(frozenset(), 300.0)
    ecs = restart_policy_of(
        {"restartPolicy": {"enabled": True, "ignoredExitCodes": [0, 2], "restartAttemptPeriod": 90}}
    )
    assert ecs == EcsRestart(frozenset({0, 2}), 90.0)
    both = {
        "_k8s": {"restartPolicy": "OnFailure"},
        "restartPolicy": {"enabled": True, "ignoredExitCodes": [0]},
    }
    assert restart_policy_of(both) == KubeRestart("OnFailure")  # a pod's init container


def test_probe_specs_from_the_pod_with_kubelet_defaults() -> None:
    definition = {
        "_k8s": {
            "restartPolicy": "Always",
            "livenessProbe": {
                "httpGet": {"port": "http", "path": "/healthz", "httpHeaders": [{"name": "X", "value": "1"}]}
            },
            "readinessProbe": {"tcpSocket": {"port": 5432}, "periodSeconds": 2, "successThreshold": 3},
            "startupProbe": {
                "exec": {"command": ["cat", "/ok"]},
                "failureThreshold": 30,
                "successThreshold": 5,
            },
            "ports": {"http": 8080},
        }
    }
    startup, liveness, readiness = probes_of(definition)
    assert startup == ProbeSpec(STARTUP, ExecAction(("cat", "/ok")), failure_threshold=30)  # success 1 forced
    assert liveness == ProbeSpec(LIVENESS, HttpGetAction(8080, "/healthz", "HTTP", "", (("X", "1"),)))
    assert readiness == ProbeSpec(READINESS, TcpSocketAction(5432), period_s=2, success_threshold=3)
    assert probes_of({"name": "ecs"}) == ()
    unknown = probes_of({"_k8s": {"livenessProbe": {"tcpSocket": {"port": "nope"}}}})
    assert unknown[0].action == TcpSocketAction("nope")


def test_probe_tracker_thresholds_and_initial_results() -> None:
    liveness = ProbeTracker(ProbeSpec(LIVENESS, ExecAction(("true",)), failure_threshold=3))
    assert liveness.result is True
    assert [liveness.observe(ok) for ok in (False, False, True, False, False)] == [False] * 5
    assert liveness.result is True and not liveness.done  # never three failures in a row
    assert liveness.observe(False) is True and liveness.result is False and liveness.done

    readiness = ProbeTracker(
        ProbeSpec(READINESS, ExecAction(("true",)), success_threshold=2, failure_threshold=2)
    )
    assert readiness.result is False
    assert readiness.observe(True) is False and readiness.observe(True) is True and readiness.result
    assert readiness.observe(False) is False and readiness.observe(False) is True and not readiness.result
    assert not readiness.done  # readiness keeps probing

    startup = ProbeTracker(ProbeSpec(STARTUP, ExecAction(("true",))))
    assert startup.result is False and startup.observe(True) is True and startup.done
