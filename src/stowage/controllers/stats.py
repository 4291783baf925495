"""The latest usage sample of every container, as agents report them (ReportStats).

In memory only for now: a later issue builds metrics on it. ``latest`` is the read function.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Sample = dict[str, Any]


class StatsBook:
    def __init__(self) -> None:
        self._latest: dict[str, dict[str, Sample]] = {}

    def record(self, instance_arn: str, samples: Iterable[Mapping[str, Any]]) -> int:
        """Keep each sample unless a newer one for the container is already held."""
        kept = 0
        for s in samples:
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
