"""The Deployment controller: a Deployment owns one ReplicaSet per pod template (named
``<deployment>-<pod-template-hash>``) and moves replicas from the old ones to the new one.

Fed by a list+watch of Deployments and of ReplicaSets (a ReplicaSet re-queues its controlling
Deployment; ReplicaSet status follows its pods, so pod readiness reaches us through it). One
sync per Deployment key, level-triggered, each a step computed from what is stored:

- the new ReplicaSet is the owned one whose template equals the Deployment's (so ``rollout
  undo``, which copies an old template back, revives that ReplicaSet); if none, it is created.
  It carries ``deployment.kubernetes.io/revision`` = highest revision + 1 (copied to the
  Deployment), which ``kubectl rollout history|undo`` read.
- RollingUpdate: the new ReplicaSet grows within ``replicas + maxSurge`` pods, old ones shrink
  keeping ``replicas - maxUnavailable`` available (``model/k8s/deployments``). Recreate: old
  ones go to 0, and the new one is scaled up once their pods are gone.
- ``paused``: no rollout step (scaling the current ReplicaSet still applies when there is no
  rollout in progress); Progressing is Unknown/DeploymentPaused.
- old ReplicaSets at 0 beyond ``revisionHistoryLimit`` (default 10) are deleted.
- status: replicas, updated/ready/available/unavailable, observedGeneration, and the
  Available and Progressing conditions with upstream's reasons and messages
  (ProgressDeadlineExceeded once ``progressDeadlineSeconds`` pass without progress).
"""

from __future__ import annotations

import copy
from typing import Any

from stowage.controllers.k8s.objects import EventSpec
from stowage.controllers.k8s.replicasets import Reconciler, orphan_claimants, owner_key
from stowage.model.k8s import controller_refs as refs
from stowage.model.k8s import deployments as dm
from stowage.model.k8s import replicasets as rsm
from stowage.model.k8s.meta import new_uid, parse_rfc3339, rfc3339
from stowage.model.k8s.selectors import selector_from_object
from stowage.resources.k8s_objects import object_key, resource_prefix
from stowage.store.base import Event, EventType

Obj = dict[str, Any]
DEFAULT_HISTORY = 10
DEFAULT_DEADLINE = 600


def _spec_replicas(rs: Obj) -> int:
    return int((rs.get("spec") or {}).get("replicas", 0))


def _status(rs: Obj, member: str) -> int:
    return int((rs.get("status") or {}).get(member) or 0)


class DeploymentController(Reconciler):
    name = "deployments"
    workers = 2

    def prefixes(self) -> list[str]:
        return [
            resource_prefix(self.space, "apps", "deployments"),
            resource_prefix(self.space, "apps", "replicasets"),
        ]

    def keys_for(self, ev: Event) -> list[str]:
        if ev.kv.key.startswith(resource_prefix(self.space, "apps", "deployments")):
            if ev.type is EventType.PUT:
                self.keys.add(ev.kv.key)
            else:
                self.keys.discard(ev.kv.key)
            return [ev.kv.key]
        owner = owner_key(ev, self.space, "Deployment", "apps", "deployments")
        if owner is None:
            return orphan_claimants(ev, self.keys, self.space, "apps", "deployments")
        return [owner]

    def _rs_key(self, namespace: str, name: str) -> str:
        return object_key(self.space, "apps", "replicasets", namespace, name)

    async def sync(self, key: str) -> None:
        found = await self.objects.get(key)
        if found is None:
            return  # its ReplicaSets go through the garbage collector
        dep = found.obj
        meta = dep.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            return
        namespace = str(meta.get("namespace"))
        spec = dep.get("spec") or {}
        page, _more, _rev = await self.objects.list(
            resource_prefix(self.space, "apps", "replicasets", namespace)
        )
        uid = str(meta.get("uid"))
        claimed = refs.claim(dep, selector_from_object(spec.get("selector")), (s.obj for s in page))
        owned = claimed.owned + await self.settle_claim(
            claimed, uid, rsm.owner_ref(dep, "Deployment", "apps/v1"), "apps", "replicasets"
        )
        template = dm.normalized_template(spec.get("template") or {})
        new = next(
            (
                rs
                for rs in owned
                if dm.normalized_template((rs.get("spec") or {}).get("template") or {}) == template
            ),
            None,
        )
        old = sorted(
            (rs for rs in owned if rs is not new),
            key=lambda rs: str((rs.get("metadata") or {}).get("creationTimestamp") or ""),
        )
        max_old = max((dm.revision_of(rs) for rs in old), default=0)
        paused = bool(spec.get("paused"))
        created = False
        if new is None and not paused:
            new = await self._create_rs(dep, namespace, max_old + 1)
            created = new is not None
        elif new is not None and dm.revision_of(new) <= max_old and not paused:
            new = await self._set_rs(dep, namespace, new, revision=max_old + 1)
        if new is not None and not paused:
            await self._roll(dep, namespace, new, old)
        elif new is not None and paused and not any(_spec_replicas(rs) for rs in old):
            await self._set_rs(dep, namespace, new, replicas=int(spec.get("replicas", 1)))
        await self._cleanup(spec, namespace, old)
        await self._write_status(key, dep, new, old, created)

    async def _create_rs(self, dep: Obj, namespace: str, revision: int) -> Obj | None:
        meta = dep.get("metadata") or {}
        spec = dep.get("spec") or {}
        collisions = int((dep.get("status") or {}).get("collisionCount") or 0)
        template = copy.deepcopy(spec.get("template") or {})
        hash_ = dm.template_hash(template, collisions)
        tmeta = template.setdefault("metadata", {})
        tmeta.setdefault("labels", {})[dm.HASH_LABEL] = hash_
        selector = copy.deepcopy(spec.get("selector") or {})
        selector.setdefault("matchLabels", {})[dm.HASH_LABEL] = hash_
        replicas = int(spec.get("replicas", 1))
        strategy = (spec.get("strategy") or {}).get("type", "RollingUpdate")
        name = f"{meta.get('name')}-{hash_}"
        rs: Obj = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": new_uid(),
                "generation": 1,
                "creationTimestamp": rfc3339(self.clock()),
                "labels": dict(tmeta["labels"]),
                "annotations": {
                    dm.REVISION: str(revision),
                    "deployment.kubernetes.io/desired-replicas": str(replicas),
                    "deployment.kubernetes.io/max-replicas": str(
                        replicas + (dm.surge_and_unavailable(spec)[0] if strategy == "RollingUpdate" else 0)
                    ),
                },
                "ownerReferences": [rsm.owner_ref(dep, "Deployment", "apps/v1")],
            },
            "spec": {
                "replicas": 0,
                "minReadySeconds": int(spec.get("minReadySeconds") or 0),
                "selector": selector,
                "template": template,
            },
        }
        stored = await self.objects.create(self._rs_key(namespace, name), rs)
        if stored is None:
            # a ReplicaSet of that name with another template: a hash collision; the next
            # sync hashes with the bumped collisionCount
            def bump(obj: Obj) -> Obj:
                status = obj.setdefault("status", {})
                status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
                return obj

            await self.update(
                object_key(self.space, "apps", "deployments", namespace, str(meta.get("name"))), bump
            )
            return None
        return stored.obj

    async def _set_rs(
        self, dep: Obj, namespace: str, rs: Obj, *, replicas: int | None = None, revision: int | None = None
    ) -> Obj:
        name = str((rs.get("metadata") or {}).get("name"))

        scaled_from: list[int] = []  # the replicas the written change replaced (last attempt)

        def change(obj: Obj) -> Obj | None:
            meta = obj.setdefault("metadata", {})
            spec = obj.setdefault("spec", {})
            changed = False
            scaled_from.clear()
            if replicas is not None and int(spec.get("replicas", 0)) != replicas:
                scaled_from.append(int(spec.get("replicas", 0)))
                spec["replicas"] = replicas
                meta["generation"] = int(meta.get("generation") or 1) + 1
                changed = True
            if revision is not None and dm.revision_of(obj) != revision:
                meta.setdefault("annotations", {})[dm.REVISION] = str(revision)
                changed = True
            return obj if changed else None

        written = await self.update(self._rs_key(namespace, name), change) or rs
        if replicas is not None and scaled_from:
            before = scaled_from[0]
            direction = "up" if replicas > before else "down"
            message = f"Scaled {direction} replica set {name} from {before} to {replicas}"
            await self.writer.event(
                dep, EventSpec("ScalingReplicaSet", message, component="deployment-controller")
            )
        return written

    async def _roll(self, dep: Obj, namespace: str, new: Obj, old: list[Obj]) -> None:
        spec = dep.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        active_old = [rs for rs in old if _spec_replicas(rs) or _status(rs, "replicas")]
        if (spec.get("strategy") or {}).get("type") == "Recreate":
            for rs in active_old:
                if _spec_replicas(rs):
                    await self._set_rs(dep, namespace, rs, replicas=0)
            if not any(_status(rs, "replicas") for rs in old) and not any(_spec_replicas(rs) for rs in old):
                await self._set_rs(dep, namespace, new, replicas=replicas)
            return
        if not active_old:
            await self._set_rs(dep, namespace, new, replicas=replicas)  # no rollout: plain scaling
            return
        surge, unavailable = dm.surge_and_unavailable(spec)
        new_spec = _spec_replicas(new)
        total_spec = new_spec + sum(_spec_replicas(rs) for rs in old)
        if new_spec > replicas:
            new_spec = replicas
        else:
            new_spec += dm.scale_up_room(replicas, surge, total_spec, new_spec)
        new = await self._set_rs(dep, namespace, new, replicas=new_spec)
        all_pods = _status(new, "replicas") + sum(_status(rs, "replicas") for rs in old)
        targets = dm.old_scale_down(
            replicas,
            unavailable,
            old=[(_spec_replicas(rs), _status(rs, "availableReplicas")) for rs in old],
            new_spec=new_spec,
            new_available=_status(new, "availableReplicas"),
            all_pods=all_pods,
        )
        for rs, target in zip(old, targets, strict=True):
            if target != _spec_replicas(rs):
                await self._set_rs(dep, namespace, rs, replicas=target)

    async def _cleanup(self, spec: Obj, namespace: str, old: list[Obj]) -> None:
        limit = int(spec.get("revisionHistoryLimit", DEFAULT_HISTORY))
        idle = [rs for rs in old if not _spec_replicas(rs) and not _status(rs, "replicas")]
        idle.sort(key=dm.revision_of)
        for rs in idle[: max(len(idle) - limit, 0)]:
            key = self._rs_key(namespace, str((rs.get("metadata") or {}).get("name")))
            current = await self.objects.get(key)
            if current is not None and not _spec_replicas(current.obj):
                await self.objects.delete(key, current.revision)

    async def _write_status(self, key: str, dep: Obj, new: Obj | None, old: list[Obj], created: bool) -> None:
        spec = dep.get("spec") or {}
        meta = dep.get("metadata") or {}
        replicas = int(spec.get("replicas", 1))
        every = ([new] if new is not None else []) + old
        total = sum(_status(rs, "replicas") for rs in every)
        available = sum(_status(rs, "availableReplicas") for rs in every)
        updated = _status(new, "replicas") if new is not None else 0
        status: Obj = {
            "observedGeneration": int(meta.get("generation") or 1),
            "replicas": total,
            "updatedReplicas": updated,
            "readyReplicas": sum(_status(rs, "readyReplicas") for rs in every),
            "availableReplicas": available,
            "unavailableReplicas": max(sum(_spec_replicas(rs) for rs in every) - available, 0),
        }
        status = {k: v for k, v in status.items() if v or k == "observedGeneration"}
        now = self.clock()
        _, max_unavailable = dm.surge_and_unavailable(spec)
        if (spec.get("strategy") or {}).get("type") == "Recreate":
            max_unavailable = replicas
        rs_name = str((new.get("metadata") or {}).get("name")) if new is not None else ""
        complete = new is not None and updated == replicas and total == replicas and available >= replicas
        deadline = int(spec.get("progressDeadlineSeconds", DEFAULT_DEADLINE))
        previous = {c.get("type"): c for c in (dep.get("status") or {}).get("conditions") or []}
        progress_before = previous.get("Progressing") or {}
        counts_before = {
            k: (dep.get("status") or {}).get(k) for k in ("replicas", "updatedReplicas", "availableReplicas")
        }
        counts_now = {k: status.get(k) for k in counts_before}
        if spec.get("paused"):
            progressing = ("Unknown", "DeploymentPaused", "Deployment is paused")
        elif complete:
            progressing = (
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{rs_name}" has successfully progressed.',
            )
        elif created:
            progressing = ("True", "NewReplicaSetCreated", f'Created new replica set "{rs_name}"')
        else:
            progressing = ("True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.')
            last = parse_rfc3339(str(progress_before.get("lastUpdateTime") or ""))
            stalled = counts_before == counts_now and progress_before.get("status") != "Unknown"
            if progress_before.get("reason") == "ProgressDeadlineExceeded" and stalled:
                progressing = ("False", "ProgressDeadlineExceeded", str(progress_before.get("message")))
            elif stalled and last is not None and progress_before.get("reason") != "NewReplicaSetAvailable":
                if now >= last + deadline:
                    progressing = (
                        "False",
                        "ProgressDeadlineExceeded",
                        f'ReplicaSet "{rs_name}" has timed out progressing.',
                    )
                else:
                    self.queue.add_after(key, last + deadline - now + 0.5)
            elif not stalled:
                self.queue.add_after(key, float(deadline) + 0.5)
        availability = (
            ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
            if available >= replicas - max_unavailable
            else ("False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.")
        )
        moved = counts_before != counts_now
        conditions = [
            _condition(previous.get("Available"), "Available", availability, now, False),
            _condition(progress_before or None, "Progressing", progressing, now, moved),
        ]
        status["conditions"] = conditions
        if (dep.get("status") or {}).get("collisionCount"):
            status["collisionCount"] = dep["status"]["collisionCount"]
        revision = dm.revision_of(new) if new is not None else 0

        def change(obj: Obj) -> Obj | None:
            changed = False
            if revision and dm.revision_of(obj) != revision:
                obj.setdefault("metadata", {}).setdefault("annotations", {})[dm.REVISION] = str(revision)
                changed = True
            current = dict(obj.get("status") or {})
            keep = current.get("collisionCount")
            if keep and not status.get("collisionCount"):
                status["collisionCount"] = keep
            if current != status:
                obj["status"] = status
                changed = True
            return obj if changed else None

        await self.update(key, change)


def _condition(before: Obj | None, kind: str, value: tuple[str, str, str], now: float, moved: bool) -> Obj:
    """A condition; ``lastTransitionTime`` changes with its status, ``lastUpdateTime`` with its
    reason or message, or (``moved``) when the rollout made progress."""
    status, reason, message = value
    stamp = rfc3339(now)
    if before is None:
        return {
            "type": kind,
            "status": status,
            "lastUpdateTime": stamp,
            "lastTransitionTime": stamp,
            "reason": reason,
            "message": message,
        }
    same = before.get("status") == status
    unchanged = same and before.get("reason") == reason and before.get("message") == message and not moved
    return {
        "type": kind,
        "status": status,
        "lastUpdateTime": before.get("lastUpdateTime", stamp) if unchanged else stamp,
        "lastTransitionTime": before.get("lastTransitionTime", stamp) if same else stamp,
        "reason": reason,
        "message": message,
    }
