"""A task's state as the agent tracks it, and the pure decisions made on it.

`ContainerRun` is one container's record (ECS status PENDING → RUNNING → STOPPED, runtime id,
exit code, reason, health, bindings; for a container that restarts, its attempt, the previous
run's exit and the probes of the current run). The functions decide, without I/O:

- `dependency_verdict`: may a container start yet (``dependsOn`` START, COMPLETE, SUCCESS,
  HEALTHY, as the ECS agent resolves them: START is met by a dependency that started, even if
  it stopped since; COMPLETE/SUCCESS by its exit; HEALTHY by its health), or never.
- `stop_levels`: shutdown order, the reverse of the dependency order (a container is stopped
  before the ones it depends on, so a log router outlives the app that writes to it).
- `task_health`: ECS's task ``healthStatus`` from the essential containers' health.
- reasons in ECS's words (`OOM_REASON`, `dependency_reason`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from stowage.agent import labels as lbl
from stowage.agent.probes import READINESS, STARTUP, ContainerProber
from stowage.agent.restarts import RestartTracker
from stowage.agent.translate import ContainerPlan
from stowage.runtime.base import ContainerState, HealthStatus

JSON = dict[str, Any]

OOM_REASON = "OutOfMemoryError: Container killed due to memory usage"
ESSENTIAL_EXITED = "Essential container in task exited"

PENDING = "PENDING"
RUNNING = "RUNNING"
STOPPED = "STOPPED"
RESTARTING = "RESTARTING"
"""The agent's own: the container exited and will start again; ECS sees it RUNNING."""
CRASH_LOOP = "CrashLoopBackOff"


@dataclass
class ContainerRun:
    name: str
    plan: ContainerPlan
    container_id: str | None = None
    status: str = PENDING
    started: bool = False
    """Ever started (START dependencies stay met after it stops)."""
    exit_code: int | None = None
    reason: str | None = None
    health: HealthStatus = HealthStatus.NONE
    bindings: list[JSON] = field(default_factory=list)
    image_digest: str = ""
    waiting_since: float | None = None
    """When it first waited on a dependency (for ``startTimeout``)."""
    restarts: RestartTracker | None = None
    """Its restart policy and count (None: an exit is final)."""
    restart_at: float | None = None
    """RESTARTING: when the next attempt starts."""
    backing_off: bool = False
    """RESTARTING and waiting for the back-off (Kubernetes' CrashLoopBackOff)."""
    run_started_at: float | None = None
    finished_at: float | None = None
    last_exit: JSON | None = None
    """How the previous run ended (``lastExit`` in reports)."""
    previous_id: str | None = None
    """The previous attempt's container, kept (as the kubelet keeps one) until the next one."""
    settled: bool = False
    """STOPPED and judged final by its restart policy (judged once per exit)."""
    killing: str = ""
    """Liveness/Startup: the agent is killing this run for that probe."""
    prober: ContainerProber | None = None
    probe_failures: int = 0
    probe_failure: tuple[str, str] | None = None
    """(probe, message) of the latest failed probe."""

    def __post_init__(self) -> None:
        if self.plan.restart is not None and self.restarts is None:
            self.restarts = RestartTracker(self.plan.restart)

    @property
    def restart_count(self) -> int:
        return self.restarts.count if self.restarts is not None else 0

    def begin_restart(self, at: float, *, backing_off: bool) -> None:
        """The run that just exited will be followed by another at ``at``: its end becomes
        ``last_exit`` and the container is RESTARTING."""
        last: JSON = {"runtimeId": self.container_id or ""}
        for key, value in (
            ("exitCode", self.exit_code),
            ("reason", self.reason),
            ("startedAt", self.run_started_at),
            ("finishedAt", self.finished_at),
        ):
            if value is not None:
                last[key] = value
        if self.killing:
            last["cause"] = self.killing
        self.last_exit = last
        self.exit_code, self.reason, self.health = None, None, HealthStatus.NONE
        self.status, self.restart_at, self.backing_off = RESTARTING, at, backing_off

    def end_restart(self) -> None:
        """The task stops while a restart is pending: the last run's end is the container's."""
        last = self.last_exit or {}
        self.status, self.restart_at, self.backing_off = STOPPED, None, False
        self.exit_code = last.get("exitCode")
        self.reason = last.get("reason")

    def next_attempt(self, now: float) -> str | None:
        """The restart happens now: count it and clear the run for its next container (which
        the runner creates). Returns the container to remove (the attempt before the previous)."""
        assert self.restarts is not None
        finished = (self.last_exit or {}).get("finishedAt", now)
        self.restarts.record(float(finished), now)
        stale, self.previous_id = self.previous_id, self.container_id
        self.container_id = None
        self.status, self.restart_at, self.backing_off = PENDING, None, False
        self.settled, self.killing, self.finished_at, self.run_started_at = False, "", None, None
        return stale

    @property
    def health_status(self) -> str:
        """ECS's container ``healthStatus``: HEALTHY, UNHEALTHY or UNKNOWN."""
        if self.health is HealthStatus.HEALTHY:
            return "HEALTHY"
        if self.health is HealthStatus.UNHEALTHY:
            return "UNHEALTHY"
        return "UNKNOWN"

    def report(self, *, network_interfaces: list[JSON] | None = None) -> JSON:
        status = RUNNING if self.status == RESTARTING else self.status
        out: JSON = {"name": self.name, "lastStatus": status, "healthStatus": self.health_status}
        if self.container_id:
            out["runtimeId"] = self.container_id
        if self.exit_code is not None:
            out["exitCode"] = self.exit_code
        if self.reason:
            out["reason"] = self.reason[:1024]
        if self.bindings:
            out["networkBindings"] = self.bindings
        if self.image_digest:
            out["imageDigest"] = self.image_digest
        if network_interfaces:
            out["networkInterfaces"] = network_interfaces
        if self.restarts is not None or self.plan.k8s:
            out["restartCount"] = self.restart_count
            if self.last_exit is not None:
                out["lastExit"] = dict(self.last_exit)
            if self.run_started_at is not None and self.status == RUNNING:
                out["startedAt"] = self.run_started_at
        if self.plan.k8s:
            out["lifecycle"] = self.lifecycle()
        return out

    def lifecycle(self) -> JSON:
        """The Kubernetes view of this container: started/ready as its probes say, waiting in
        back-off, being killed for a probe, its latest probe failure."""
        running = self.status == RUNNING and not self.killing
        kinds = {p.kind for p in self.plan.probes}
        if self.prober is not None:
            started, ready = self.prober.started, self.prober.ready
        else:
            started = STARTUP not in kinds
            ready = started and READINESS not in kinds
        out: JSON = {"ready": running and ready, "started": self.status == RUNNING and started}
        if self.status == RESTARTING and self.backing_off and self.restarts is not None:
            out["waitingReason"] = CRASH_LOOP
            out["backOffSeconds"] = int(self.restarts.backoff_s)
        if self.killing:
            out["killing"] = self.killing
        if self.probe_failure is not None:
            probe, message = self.probe_failure
            out["probeFailure"] = {"probe": probe, "message": message[:1024], "count": self.probe_failures}
        return out


def attempt_of(state: ContainerState) -> int:
    """Which restart of its task container a container found on the host is (0: the first)."""
    raw = state.labels.get(lbl.ATTEMPT, "0")
    return int(raw) if raw.isdigit() else 0


def exit_of(state: ContainerState) -> JSON:
    """``lastExit`` from an ended container found on the host."""
    out: JSON = {"runtimeId": state.id}
    if state.exit_code is not None:
        out["exitCode"] = state.exit_code
    if state.oom_killed:
        out["reason"] = OOM_REASON
    if state.started_at is not None:
        out["startedAt"] = state.started_at.timestamp()
    if state.finished_at is not None:
        out["finishedAt"] = state.finished_at.timestamp()
    return out


class Verdict(StrEnum):
    READY = "ready"
    WAIT = "wait"
    NEVER = "never"


def dependency_verdict(run: ContainerRun, others: Mapping[str, ContainerRun]) -> tuple[Verdict, str]:
    """(verdict, the unmet dependency for WAIT/NEVER)."""
    waiting = ""
    for dep in run.plan.depends_on:
        other = others.get(dep.container)
        if other is None:
            return Verdict.NEVER, f"{dep.container} ({dep.condition}): no such container"
        verdict = _one(dep.condition, other)
        if verdict is Verdict.NEVER:
            return Verdict.NEVER, _describe(dep.condition, other)
        if verdict is Verdict.WAIT and not waiting:
            waiting = _describe(dep.condition, other)
    for source, _ro in run.plan.volumes_from:
        other = others.get(source)
        if other is None:
            return Verdict.NEVER, f"{source} (volumesFrom): no such container"
        if other.container_id is None:
            if other.status == STOPPED:
                return Verdict.NEVER, f"{source} (volumesFrom): never created"
            waiting = waiting or f"{source} (volumesFrom)"
    return (Verdict.WAIT, waiting) if waiting else (Verdict.READY, "")


def _one(condition: str, dep: ContainerRun) -> Verdict:
    stopped = dep.status == STOPPED
    if condition == "START":
        if dep.started:
            return Verdict.READY
        return Verdict.NEVER if stopped else Verdict.WAIT
    if condition == "COMPLETE":
        if stopped:
            return Verdict.READY if dep.started else Verdict.NEVER
        return Verdict.WAIT
    if condition == "SUCCESS":
        if stopped:
            return Verdict.READY if dep.started and dep.exit_code == 0 else Verdict.NEVER
        return Verdict.WAIT
    if condition == "HEALTHY":
        if dep.health is HealthStatus.HEALTHY and not stopped:
            return Verdict.READY
        if stopped or (dep.started and dep.health is HealthStatus.NONE):
            return Verdict.NEVER  # stopped, or it has no health check to ever pass
        return Verdict.WAIT
    return Verdict.NEVER


def _describe(condition: str, dep: ContainerRun) -> str:
    exit_part = f" - Exit: {dep.exit_code}" if dep.exit_code is not None else ""
    return f"{dep.name} ({dep.status}->{condition}){exit_part}"


def dependency_reason(target: str, unmet: str) -> str:
    """ECS agent's words for a dependency that can never be met."""
    return (
        "CannotStartContainerError: dependency graph: failed to resolve container ordering "
        f"dependency [{unmet}] for target [{target}]"
    )


def stop_levels(runs: Sequence[ContainerRun]) -> list[list[ContainerRun]]:
    """Containers grouped for shutdown: each group only after the previous one has stopped.
    A container comes after every container that depends on it (dependsOn or volumesFrom)."""
    by_name = {r.name: r for r in runs}
    dependents: dict[str, set[str]] = {r.name: set() for r in runs}
    for r in runs:
        for dep in r.plan.depends_on:
            if dep.container in dependents:
                dependents[dep.container].add(r.name)
        for source, _ in r.plan.volumes_from:
            if source in dependents:
                dependents[source].add(r.name)
    levels: list[list[ContainerRun]] = []
    done: set[str] = set()
    remaining = [r.name for r in runs]
    while remaining:
        level = [n for n in remaining if dependents[n] <= done]
        if not level:  # a cycle (the control plane should refuse it): stop the rest together
            level = list(remaining)
        levels.append([by_name[n] for n in level])
        done.update(level)
        remaining = [n for n in remaining if n not in done]
    return levels


def task_health(runs: Sequence[ContainerRun]) -> str:
    """UNHEALTHY if an essential container is; HEALTHY if every essential container with a
    health check is healthy (and there is one); else UNKNOWN."""
    checked = [r for r in runs if r.plan.essential and r.plan.spec.healthcheck is not None]
    if not checked:
        return "UNKNOWN"
    if any(r.health is HealthStatus.UNHEALTHY for r in checked):
        return "UNHEALTHY"
    if all(r.health is HealthStatus.HEALTHY for r in checked):
        return "HEALTHY"
    return "UNKNOWN"
