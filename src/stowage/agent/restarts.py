"""When an exited container of a running task starts again, and when it does not. Pure.

One mechanism serves both APIs (the runner starts the container's next attempt in the same
task, in the same network namespace); the decision follows the policy the container carries:

- **Kubernetes** (the pod's ``restartPolicy``, carried in the container definition's private
  ``_k8s`` member): ``Always`` restarts whatever the exit code, ``OnFailure`` only after a
  non-zero one, ``Never`` never. A container the agent killed for a failed liveness or startup
  probe restarts unless the policy is Never. Restarts wait the kubelet's back-off
  (`KubeBackoff`): the first restart is immediate, then 10 s doubling to 5 min, counted from
  the exit; a container that ran 10 minutes since its last restart starts over.
- **ECS** (the container definition's ``restartPolicy``): when ``enabled``, a container that
  exits is restarted at once unless its exit code is in ``ignoredExitCodes`` or it has not run
  for ``restartAttemptPeriod`` seconds (60 to 1800, default 300) since it started or was last
  restarted, which is how the ECS agent decides; a container not restarted ends as it would
  without the policy (an essential one stops the task).

Neither applies once the task is stopping (StopTask, pod deletion): the runner checks that.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

KUBE_BACKOFF_INITIAL_S = 10.0
KUBE_BACKOFF_MAX_S = 300.0
KUBE_BACKOFF_RESET_S = 2 * KUBE_BACKOFF_MAX_S
"""A container that exits this long after its last restart starts its back-off over."""
ECS_DEFAULT_ATTEMPT_PERIOD_S = 300.0

KUBE_POLICIES = ("Always", "OnFailure", "Never")
PROBE_KILLS = ("Liveness", "Startup")


@dataclass(frozen=True, slots=True)
class KubeRestart:
    policy: str
    """Always | OnFailure | Never."""


@dataclass(frozen=True, slots=True)
class EcsRestart:
    ignored_exit_codes: frozenset[int]
    attempt_period_s: float


RestartPolicy = KubeRestart | EcsRestart


def restart_policy_of(definition: Mapping[str, Any]) -> RestartPolicy | None:
    """The restart policy of a container definition: a pod's (``_k8s.restartPolicy``) first,
    else ECS's ``restartPolicy`` when enabled; None: an exit is final."""
    k8s = definition.get("_k8s")
    if isinstance(k8s, Mapping) and k8s.get("restartPolicy") in KUBE_POLICIES:
        return KubeRestart(str(k8s["restartPolicy"]))
    ecs = definition.get("restartPolicy")
    if isinstance(ecs, Mapping) and ecs.get("enabled"):
        period = ecs.get("restartAttemptPeriod")
        return EcsRestart(
            frozenset(int(c) for c in ecs.get("ignoredExitCodes") or []),
            float(period) if period is not None else ECS_DEFAULT_ATTEMPT_PERIOD_S,
        )
    return None


@dataclass(slots=True)
class KubeBackoff:
    """The kubelet's per-container back-off (its ``flowcontrol.Backoff``): an entry with the
    current delay and when it last moved. No entry, or one older than ``KUBE_BACKOFF_RESET_S``
    at the exit: restart at once (and start the entry at 10 s). Otherwise wait until the exit
    plus the current delay, then double it (at most 5 min)."""

    delay_s: float = 0.0
    updated_at: float | None = None

    def _expired(self, finished_at: float) -> bool:
        return self.updated_at is None or finished_at - self.updated_at > KUBE_BACKOFF_RESET_S

    def remaining(self, finished_at: float, now: float) -> float:
        """How long a restart of a container that exited at ``finished_at`` must still wait."""
        if self._expired(finished_at):
            return 0.0
        return max(0.0, finished_at + self.delay_s - now)

    def advance(self, finished_at: float, now: float) -> None:
        """A restart happens now (of the run that exited at ``finished_at``)."""
        if self._expired(finished_at):
            self.delay_s = KUBE_BACKOFF_INITIAL_S
        else:
            self.delay_s = min(self.delay_s * 2, KUBE_BACKOFF_MAX_S)
        self.updated_at = now


@dataclass(frozen=True, slots=True)
class Decision:
    restart: bool
    delay_s: float = 0.0
    why_not: str = ""


@dataclass(slots=True)
class RestartTracker:
    """One container's restarts: the policy, how many so far, and the state the next
    decision needs."""

    policy: RestartPolicy
    count: int = 0
    last_restart_at: float | None = None
    backoff: KubeBackoff = field(default_factory=KubeBackoff)

    def decide(
        self,
        *,
        exit_code: int | None,
        killed_by: str,
        started_at: float | None,
        finished_at: float,
        now: float,
    ) -> Decision:
        """Restart the run that exited at ``finished_at`` (with ``exit_code``; ``killed_by``
        names the probe the agent killed it for, "" if none)? And after how long."""
        policy = self.policy
        if isinstance(policy, KubeRestart):
            if policy.policy == "Never":
                return Decision(False, why_not="restartPolicy Never")
            if policy.policy == "OnFailure" and exit_code == 0 and killed_by not in PROBE_KILLS:
                return Decision(False, why_not="restartPolicy OnFailure and exit code 0")
            return Decision(True, self.backoff.remaining(finished_at, now))
        if exit_code is None:
            return Decision(False, why_not="exit code is unknown")
        if exit_code in policy.ignored_exit_codes:
            return Decision(False, why_not=f"exit code {exit_code} is ignored")
        since = self.last_restart_at if self.last_restart_at is not None else started_at
        if since is None or now - since < policy.attempt_period_s:
            return Decision(False, why_not="restartAttemptPeriod has not elapsed")
        return Decision(True)

    def record(self, finished_at: float, now: float) -> None:
        """The restart happens now."""
        self.count += 1
        self.last_restart_at = now
        if isinstance(self.policy, KubeRestart):
            self.backoff.advance(finished_at, now)

    @property
    def backoff_s(self) -> float:
        """The back-off a pending Kubernetes restart waits (kubelet's ``back-off 20s``)."""
        return self.backoff.delay_s if isinstance(self.policy, KubeRestart) else 0.0
