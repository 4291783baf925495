"""Where agents' usage samples (ReportStats) go: the ``StatsSink`` protocol, and ``StatsBook``.

The control plane's sink is the metrics pipeline (``controllers/metrics.py``: latest values,
the time-series store, derived metrics). ``StatsBook`` is the minimal sink a ``TaskPlane``
gets when none is given (unit tests of the task plane): the latest sample of every container,
in memory; ``latest`` is its read function.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from stowage.model.agent_stats import PackedBatch

Sample = dict[str, Any]


class StatsSink(Protocol):
    def record(self, instance_arn: str, samples: Sequence[Mapping[str, Any]] | PackedBatch) -> int:
        """Take a validated batch, JSON samples or packed (task ARNs resolved); returns how many
        samples it accepted or queued. Must be cheap: it runs on the event loop."""
        ...

    def forget(self, task_arn: str) -> None:
        """The task's record is gone (reaped)."""
        ...


class StatsBook:
    def __init__(self) -> None:
        self._latest: dict[str, dict[str, Sample]] = {}

    def record(self, instance_arn: str, samples: Sequence[Mapping[str, Any]] | PackedBatch) -> int:
        """Keep each sample unless a newer one for the container is already held."""
        kept = 0
        for s in samples.as_samples() if isinstance(samples, PackedBatch) else samples:
            per_task = self._latest.setdefault(str(s["task"]), {})
            name = str(s["containerName"])
            held = per_task.get(name)
            if held is not None and float(held["timestamp"]) > float(s["timestamp"]):
                continue
            per_task[name] = {**s, "containerInstanceArn": instance_arn}
            kept += 1
        return kept

    def latest(self, task_arn: str) -> dict[str, Sample]:
        """Container name → its latest sample (``{}`` when none was reported)."""
        return dict(self._latest.get(task_arn, {}))

    def forget(self, task_arn: str) -> None:
        self._latest.pop(task_arn, None)
