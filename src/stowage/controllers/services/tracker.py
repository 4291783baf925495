"""The tasks of each service, kept from the task index's change feed (no store reads).

A service's tasks are the tasks of its cluster whose ``group`` is ``service:<name>`` (ECS's own
convention). Every change to such a task, and every change to an instance of a cluster, is
handed to ``on_service`` / ``on_cluster`` so the controller queues the right keys.
"""

from __future__ import annotations

from collections.abc import Callable

from stowage.controllers.ecs_index import EcsIndex
from stowage.model import services as model
from stowage.resources import ecs_keys
from stowage.resources.records import Record

ServiceRef = tuple[str, str, str, str]
"""(account, region, cluster, service name)"""


class ServiceTasks:
    def __init__(
        self,
        index: EcsIndex,
        on_service: Callable[[ServiceRef], None],
        on_cluster: Callable[[tuple[str, str, str]], None],
    ) -> None:
        self.index = index
        self._on_service = on_service
        self._on_cluster = on_cluster
        self._tasks: dict[ServiceRef, dict[str, Record]] = {}
        index.subscribe(self)

    @staticmethod
    def _ref(key: str, rec: Record) -> ServiceRef | None:
        group = str(rec.doc.get("group", ""))
        if not group.startswith(model.GROUP_PREFIX):
            return None
        parsed = ecs_keys.parse(key)
        if parsed is None:
            return None
        return parsed[0], parsed[1], parsed[3], group[len(model.GROUP_PREFIX) :]

    def task_changed(self, key: str, old: Record | None, new: Record | None) -> None:
        ref = self._ref(key, (new or old))  # type: ignore[arg-type]
        if ref is None:
            return
        if new is None:
            self._tasks.get(ref, {}).pop(key, None)
        else:
            self._tasks.setdefault(ref, {})[key] = new
        self._on_service(ref)

    def instance_changed(self, key: str, rec: Record | None) -> None:
        parsed = ecs_keys.parse(key)
        if parsed is not None:
            self._on_cluster((parsed[0], parsed[1], parsed[3]))

    def reset(self) -> None:
        self._tasks = {}
        for rec in self.index.tasks():
            ref = self._ref(rec.key, rec)
            if ref is not None:
                self._tasks.setdefault(ref, {})[rec.key] = rec
        for ref in list(self._tasks):
            self._on_service(ref)

    def of(self, ref: ServiceRef) -> list[Record]:
        return list(self._tasks.get(ref, {}).values())
