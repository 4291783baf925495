"""The disruption controller: every PodDisruptionBudget's ``status`` (disruptionsAllowed,
currentHealthy, desiredHealthy, expectedPods, the DisruptionAllowed condition), as
``model/k8s/disruption`` counts it, so ``kubectl get pdb`` shows ALLOWED DISRUPTIONS.

Fed by list+watch of budgets, pods and ReplicaSets: a change in a namespace re-queues that
namespace's budgets. The eviction subresource does not read this status: it counts afresh at
the moment of the eviction (``api/k8s/policy``).
"""

from __future__ import annotations

from typing import Any

from stowage.controllers.k8s.replicasets import Reconciler
from stowage.model.k8s import disruption as dm
from stowage.model.k8s.meta import rfc3339
from stowage.resources.k8s_objects import parse_key, resource_prefix
from stowage.store.base import Event, EventType

Obj = dict[str, Any]
PDBS = ("policy", "poddisruptionbudgets")


class DisruptionController(Reconciler):
    name = "disruption"
    workers = 1

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._budgets: dict[str, set[str]] = {}
        """namespace -> budget keys."""

    def prefixes(self) -> list[str]:
        return [
            resource_prefix(self.space, *PDBS),
            resource_prefix(self.space, "", "pods"),
            resource_prefix(self.space, "apps", "replicasets"),
        ]

    def keys_for(self, ev: Event) -> list[str]:
        parsed = parse_key(ev.kv.key)
        if parsed is None:
            return []
        namespace = parsed[3]
        if (parsed[1], parsed[2]) == PDBS:
            known = self._budgets.setdefault(namespace, set())
            if ev.type is EventType.PUT:
                known.add(ev.kv.key)
            else:
                known.discard(ev.kv.key)
            return [ev.kv.key]
        return sorted(self._budgets.get(namespace) or ())

    async def sync(self, key: str) -> None:
        found = await self.objects.get(key)
        parsed = parse_key(key)
        if found is None or parsed is None:
            return
        ns = parsed[3]
        pods, _more, _rev = await self.objects.list(resource_prefix(self.space, "", "pods", ns))
        sets, _more, _rev = await self.objects.list(resource_prefix(self.space, "apps", "replicasets", ns))
        replicas = {
            ("ReplicaSet", str((s.obj.get("metadata") or {}).get("name"))): int(
                (s.obj.get("spec") or {}).get("replicas", 1)
            )
            for s in sets
        }
        budget = dm.budget(found.obj, [p.obj for p in pods], lambda kind, name: replicas.get((kind, name)))

        def change(pdb: Obj) -> Obj | None:
            status = dm.status(pdb, budget, now_text=rfc3339(self.clock()))
            if status == pdb.get("status"):
                return None
            pdb["status"] = status
            return pdb

        await self.writer.update(key, change)
