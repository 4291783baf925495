"""The kubelet's ``Unhealthy`` and ``Killing`` events, from what the agent reports of a pod
container's probes. Pure.

The agent counts every failed probe of a container (``lifecycle.probeFailure``: the probe, its
message, how many so far) and says when it kills a container for one (``lifecycle.killing``).
Neither is part of the pod's status, so unlike the other events (``pod_status``) these are
derived by comparing the task's report with what the pod controller saw last of it (`Seen`,
kept in memory per pod): a grown count is one ``Unhealthy`` event ("Liveness probe failed:
HTTP probe failed with statuscode: 500", the latest message when several failures arrived
together), a new kill one ``Killing`` event ("Container app failed liveness probe, will be
restarted"). After a control-plane restart the latest of each may be announced once more.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stowage.model.k8s.pod_status import PodEvent
from stowage.model.tasks import private_container


@dataclass(frozen=True, slots=True)
class Seen:
    failures: int = 0
    kill: str = ""
    """``<restartCount>:<probe>`` of the last kill announced."""


@dataclass(frozen=True, slots=True)
class ProbeChange:
    kind: str
    """Unhealthy | Killing."""
    container: str
    probe: str
    message: str = ""


def probe_changes(
    task: Mapping[str, Any], seen: Mapping[str, Seen]
) -> tuple[list[ProbeChange], dict[str, Seen]]:
    """What is new in the task's probe reports since ``seen`` (per container name), and what has
    been seen now."""
    changes: list[ProbeChange] = []
    now: dict[str, Seen] = {}
    for c in task.get("containers") or []:
        name = str(c.get("name", ""))
        private = private_container(task, name)
        life = private.get("lifecycle")
        if not isinstance(life, Mapping):
            continue
        before = seen.get(name, Seen())
        failure = life.get("probeFailure") if isinstance(life.get("probeFailure"), Mapping) else None
        failures = before.failures
        if failure is not None:
            count = int(failure.get("count") or 0)
            if count > failures:
                probe, message = str(failure.get("probe", "")), str(failure.get("message", ""))
                changes.append(ProbeChange("Unhealthy", name, probe, message))
            failures = max(failures, count)
        kill = before.kill
        if life.get("killing"):
            key = f"{int(private.get('restartCount') or 0)}:{life['killing']}"
            if key != kill:
                changes.append(ProbeChange("Killing", name, str(life["killing"])))
            kill = key
        now[name] = Seen(failures, kill)
    return changes, now


def probe_event(change: ProbeChange, restart_policy: str) -> PodEvent:
    """The event a change means, in the kubelet's words."""
    if change.kind == "Unhealthy":
        text = f"{change.probe} probe failed: {change.message}"
        return PodEvent("Unhealthy", text, "Warning", change.container)
    text = f"Container {change.container} failed {change.probe.lower()} probe"
    if restart_policy != "Never":
        text += ", will be restarted"
    return PodEvent("Killing", text, container=change.container)
