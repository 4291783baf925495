"""Kubernetes probes run by the agent: what a probe is, the kubelet's state machine, and the
loop that runs a container's probes on the agent's clock.

A pod container's probes reach the agent in its container definition's private ``_k8s`` member
(``livenessProbe``/``readinessProbe``/``startupProbe`` as the pod spec gives them, named ports
resolved by the control plane). Per container run, as the kubelet's probe workers do:

- the first probe runs ``initialDelaySeconds`` after the container started, then one every
  ``periodSeconds``, each given ``timeoutSeconds``;
- a result counts once it repeats: ``failureThreshold`` failures or ``successThreshold``
  successes in a row change the probe's published result;
- liveness starts out passing, readiness and startup failing; while a startup probe has not
  passed, the other two do not run; once it passes it stops;
- a liveness or startup probe whose published result turns to failure stops probing and asks
  for the container to be killed (`ContainerProber.kill`); the restart policy decides the rest.

Every failed probe is also counted (``failures``, with its message), which the control plane
turns into ``Unhealthy`` events. The probe actions themselves are `agent.probe_checks`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from stowage.agent.clock import Clock

LIVENESS = "Liveness"
READINESS = "Readiness"
STARTUP = "Startup"
_MEMBERS = {STARTUP: "startupProbe", LIVENESS: "livenessProbe", READINESS: "readinessProbe"}


@dataclass(frozen=True, slots=True)
class ExecAction:
    command: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HttpGetAction:
    port: int | str
    """A number, or a port name the pod's container does not declare (the probe then fails)."""
    path: str = "/"
    scheme: str = "HTTP"
    host: str = ""
    """"" = the pod's IP."""
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class TcpSocketAction:
    port: int | str
    host: str = ""


@dataclass(frozen=True, slots=True)
class GrpcAction:
    """``grpc.health.v1.Health/Check`` of ``service`` at the pod's IP (no host, no names)."""

    port: int
    service: str = ""


Action = ExecAction | HttpGetAction | TcpSocketAction | GrpcAction


@dataclass(frozen=True, slots=True)
class ProbeSpec:
    kind: str
    """Liveness | Readiness | Startup."""
    action: Action
    initial_delay_s: float = 0.0
    period_s: float = 10.0
    timeout_s: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3


def _port(raw: Any, ports: Mapping[str, int]) -> int | str:
    if isinstance(raw, int):
        return raw
    text = str(raw)
    if text.isdigit():
        return int(text)
    return ports.get(text, text)


def _action(probe: Mapping[str, Any], ports: Mapping[str, int]) -> Action | None:
    if isinstance(probe.get("exec"), Mapping):
        return ExecAction(tuple(str(c) for c in probe["exec"].get("command") or []))
    if isinstance(probe.get("httpGet"), Mapping):
        h = probe["httpGet"]
        return HttpGetAction(
            port=_port(h.get("port"), ports),
            path=str(h.get("path") or "/"),
            scheme=str(h.get("scheme") or "HTTP").upper(),
            host=str(h.get("host") or ""),
            headers=tuple(
                (str(x.get("name", "")), str(x.get("value", ""))) for x in h.get("httpHeaders") or []
            ),
        )
    if isinstance(probe.get("tcpSocket"), Mapping):
        t = probe["tcpSocket"]
        return TcpSocketAction(port=_port(t.get("port"), ports), host=str(t.get("host") or ""))
    if isinstance(probe.get("grpc"), Mapping):
        g = probe["grpc"]
        return GrpcAction(port=int(g.get("port") or 0), service=str(g.get("service") or ""))
    return None


def _number(probe: Mapping[str, Any], member: str, default: float, low: float) -> float:
    value = probe.get(member)
    return max(low, float(value)) if isinstance(value, int | float) and value > 0 else default


def probe_spec(kind: str, probe: Mapping[str, Any], ports: Mapping[str, int]) -> ProbeSpec | None:
    """A pod spec probe as the kubelet runs it (its defaults for what is unset), or None for
    one with no action this agent runs."""
    action = _action(probe, ports)
    if action is None:
        return None
    successes = int(_number(probe, "successThreshold", 1, 1)) if kind == READINESS else 1
    return ProbeSpec(
        kind=kind,
        action=action,
        initial_delay_s=float(probe.get("initialDelaySeconds") or 0),
        period_s=_number(probe, "periodSeconds", 10, 1),
        timeout_s=_number(probe, "timeoutSeconds", 1, 1),
        success_threshold=successes,
        failure_threshold=int(_number(probe, "failureThreshold", 3, 1)),
    )


def probes_of(definition: Mapping[str, Any]) -> tuple[ProbeSpec, ...]:
    """The probes of a container definition (startup first), from its ``_k8s`` member."""
    k8s = definition.get("_k8s")
    if not isinstance(k8s, Mapping):
        return ()
    ports = {str(k): int(v) for k, v in (k8s.get("ports") or {}).items()}
    out: list[ProbeSpec] = []
    for kind, member in _MEMBERS.items():
        raw = k8s.get(member)
        if isinstance(raw, Mapping) and (spec := probe_spec(kind, raw, ports)) is not None:
            out.append(spec)
    return tuple(out)


class ProbeTracker:
    """One probe's results for one container run (the kubelet's worker bookkeeping)."""

    def __init__(self, spec: ProbeSpec) -> None:
        self.spec = spec
        self.result = spec.kind == LIVENESS
        """The published result: liveness passes until proven otherwise; readiness and
        startup fail until they pass."""
        self.done = False
        """No more probing in this run: startup passed, or liveness/startup failed."""
        self._last: bool | None = None
        self._run = 0

    def observe(self, ok: bool) -> bool:
        """Count one probe result; True when the published result changed."""
        if ok == self._last:
            self._run += 1
        else:
            self._last, self._run = ok, 1
        needed = self.spec.success_threshold if ok else self.spec.failure_threshold
        if self._run < needed:
            return False
        changed = ok != self.result
        self.result = ok
        if ok and self.spec.kind == STARTUP:
            self.done = True
        if not ok and self.spec.kind in (LIVENESS, STARTUP):
            self.done = True
        return changed


Check = Callable[[ProbeSpec], Awaitable[tuple[bool | None, str]]]
"""Runs one probe: (passed, message); passed None when it could not run (not counted)."""


class ContainerProber:
    """The probes of one container run: one loop per probe on the agent's clock, their trackers,
    and what they add up to (``started``, ``ready``, ``kill``). ``on_change`` is called when any
    of those changes, ``on_failure(kind, message)`` on every failed probe."""

    def __init__(
        self,
        specs: tuple[ProbeSpec, ...],
        *,
        check: Check,
        clock: Clock,
        started_at: float,
        on_change: Callable[[], None],
        on_failure: Callable[[str, str], None],
    ) -> None:
        self.trackers = {s.kind: ProbeTracker(s) for s in specs}
        self._check = check
        self._clock = clock
        self._started_at = started_at
        self._on_change = on_change
        self._on_failure = on_failure
        self._tasks: list[asyncio.Task[None]] = []
        self.kill = ""
        """Liveness or Startup once that probe failed for good: the container must go."""

    @property
    def started(self) -> bool:
        startup = self.trackers.get(STARTUP)
        return startup is None or startup.result

    @property
    def ready(self) -> bool:
        readiness = self.trackers.get(READINESS)
        return self.started and not self.kill and (readiness is None or readiness.result)

    def start(self) -> None:
        for tracker in self.trackers.values():
            self._tasks.append(asyncio.create_task(self._loop(tracker), name=f"probe-{tracker.spec.kind}"))

    def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()

    async def close(self) -> None:
        """Stop, and let the loops see their cancellation."""
        tasks = list(self._tasks)
        self.stop()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _loop(self, tracker: ProbeTracker) -> None:
        spec = tracker.spec
        await self._clock.sleep(self._started_at + spec.initial_delay_s - self._clock.now())
        while not tracker.done and not self.kill:
            if spec.kind == STARTUP or self.started:
                await self._probe(tracker)
            if tracker.done or self.kill:
                return
            await self._clock.sleep(spec.period_s)

    async def _probe(self, tracker: ProbeTracker) -> None:
        try:
            ok, message = await self._check(tracker.spec)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a probe that cannot run is not a verdict on the container
            ok, message = None, str(exc)
        if ok is None:
            return
        if not ok:
            self._on_failure(tracker.spec.kind, message)
        changed = tracker.observe(ok)
        if not tracker.result and tracker.done and not self.kill:
            self.kill = tracker.spec.kind
            changed = True
        if changed:
            self._on_change()
