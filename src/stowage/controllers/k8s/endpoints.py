"""The Endpoints and EndpointSlice controller: for every Service with a selector, the pods it
selects, as an Endpoints object of the same name (ready pods in ``addresses``, the others in
``notReadyAddresses``) and as EndpointSlices (``kubernetes.io/service-name`` label, owned by
the Service). What goes in them is ``model/k8s/endpoints``.

Fed by a list+watch of Services and of pods: a pod change re-queues every Service of its
namespace whose selector matches the pod's labels before or after the change (a selector index
kept from the Service watch), so readiness, IP and label changes reach the Endpoints within one
sync. One sync per Service key, level-triggered: it lists the namespace's pods, computes the
subsets and slices, and writes only what differs. A Service without a selector is left alone
(its Endpoints are the user's), as is an ExternalName one; a deleted Service's Endpoints and
slices are removed.
"""

from __future__ import annotations

from typing import Any

from stowage.controllers.k8s.replicasets import Reconciler
from stowage.model.k8s import endpoints as em
from stowage.model.k8s import services as sv
from stowage.model.k8s.meta import generated_suffix
from stowage.resources.k8s_objects import decode, object_key, parse_key, resource_prefix
from stowage.store.base import Event, EventType

Obj = dict[str, Any]
SLICES = ("discovery.k8s.io", "endpointslices")


def _selects(selector: dict[str, str], labels: Any) -> bool:
    labels = labels if isinstance(labels, dict) else {}
    return all(labels.get(k) == v for k, v in selector.items())


def _labels_of(raw: Any) -> Any:
    return ((raw.get("metadata") or {}).get("labels")) if isinstance(raw, dict) else None


class EndpointsController(Reconciler):
    name = "endpoints"
    workers = 2

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._selectors: dict[str, dict[str, dict[str, str]]] = {}
        """namespace -> service key -> selector."""

    def prefixes(self) -> list[str]:
        return [resource_prefix(self.space, "", "services"), resource_prefix(self.space, "", "pods")]

    def keys_for(self, ev: Event) -> list[str]:
        parsed = parse_key(ev.kv.key)
        if parsed is None:
            return []
        namespace = parsed[3]
        if parsed[2] == "services":
            index = self._selectors.setdefault(namespace, {})
            if ev.type is EventType.PUT:
                self.keys.add(ev.kv.key)
                selector = (decode(ev.kv).get("spec") or {}).get("selector")
                if isinstance(selector, dict) and selector:
                    index[ev.kv.key] = {str(k): str(v) for k, v in selector.items()}
                else:
                    index.pop(ev.kv.key, None)
            else:
                self.keys.discard(ev.kv.key)
                index.pop(ev.kv.key, None)
            return [ev.kv.key]
        index = self._selectors.get(namespace) or {}
        if not index:
            return []
        label_sets = [
            _labels_of(decode(kv)) for kv in (ev.kv if ev.type is EventType.PUT else None, ev.prev_kv) if kv
        ]
        return [key for key, sel in index.items() if any(_selects(sel, labels) for labels in label_sets)]

    async def sync(self, key: str) -> None:
        parsed = parse_key(key)
        if parsed is None:
            return
        namespace, name = parsed[3], parsed[4]
        found = await self.objects.get(key)
        if found is None:
            await self.writer.delete(self.writer.key("endpoints", namespace, name))
            for stale in await self._slices(namespace, name):
                await self.writer.delete(stale["_key"])
            return
        svc = found.obj
        selector = (svc.get("spec") or {}).get("selector")
        if not isinstance(selector, dict) or not selector or sv.service_type(svc) == sv.EXTERNAL_NAME:
            return  # no selector: the user manages its Endpoints; an ExternalName has none
        page, _more, _rev = await self.objects.list(resource_prefix(self.space, "", "pods", namespace))
        pods = [s.obj for s in page if _selects(selector, _labels_of(s.obj))]
        await self._write_endpoints(svc, namespace, name, em.endpoint_subsets(svc, pods))
        await self._write_slices(svc, namespace, name, em.slice_groups(svc, pods))

    async def _write_endpoints(self, svc: Obj, namespace: str, name: str, subsets: list[Obj]) -> None:
        body: Obj = {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {"name": name, "namespace": namespace},
        }
        labels = em.managed_labels(svc)
        if labels:
            body["metadata"]["labels"] = labels
        if subsets:
            body["subsets"] = subsets

        def same(stored: Obj, wanted: Obj) -> bool:
            have = (stored.get("metadata") or {}).get("labels") or {}
            return stored.get("subsets") == wanted.get("subsets") and have == labels

        await self.writer.upsert(self.writer.key("endpoints", namespace, name), body, same)

    async def _slices(self, namespace: str, name: str) -> list[Obj]:
        """The slices this controller keeps for one service (each with its store key)."""
        prefix = resource_prefix(self.space, *SLICES, namespace)
        page, _more, _rev = await self.objects.list(prefix)
        out = []
        for stored in page:
            labels = (stored.obj.get("metadata") or {}).get("labels") or {}
            if labels.get(em.SERVICE_NAME_LABEL) == name and labels.get(em.MANAGED_BY_LABEL) == em.MANAGED_BY:
                out.append({**stored.obj, "_key": stored.key})
        return out

    async def _write_slices(
        self, svc: Obj, namespace: str, name: str, groups: list[tuple[list[Obj], list[Obj]]]
    ) -> None:
        meta = svc.get("metadata") or {}
        owner = {
            "apiVersion": "v1", "kind": "Service", "name": name, "uid": meta.get("uid"),
            "controller": True, "blockOwnerDeletion": True,
        }  # fmt: skip
        labels = {**em.managed_labels(svc), em.SERVICE_NAME_LABEL: name, em.MANAGED_BY_LABEL: em.MANAGED_BY}
        existing = await self._slices(namespace, name)
        # reuse the slices already there: same ports first, then any
        existing.sort(key=lambda s: 0 if any(s.get("ports") == ports for ports, _ in groups) else 1)
        if not groups:
            groups = [([], [])]  # a service with no endpoints still has one (empty) slice
        for ports, endpoints in groups:
            match = next((s for s in existing if s.get("ports") == ports), None) or (
                existing[0] if existing else None
            )
            if match is not None:
                existing.remove(match)
                key = str(match["_key"])
                slice_name = str((match.get("metadata") or {}).get("name"))
            else:
                slice_name = f"{name}-{generated_suffix()}"
                key = object_key(self.space, *SLICES, namespace, slice_name)
            body: Obj = {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": slice_name, "namespace": namespace, "labels": labels,
                    "ownerReferences": [owner], "generateName": f"{name}-",
                },
                "addressType": "IPv4",
                "endpoints": endpoints,
                "ports": ports,
            }  # fmt: skip

            def same(stored: Obj, wanted: Obj) -> bool:
                smeta, wmeta = stored.get("metadata") or {}, wanted["metadata"]
                return bool(
                    stored.get("endpoints") == wanted["endpoints"]
                    and stored.get("ports") == wanted["ports"]
                    and smeta.get("labels") == wmeta["labels"]
                    and smeta.get("ownerReferences") == wmeta["ownerReferences"]
                )

            await self.writer.upsert(key, body, same)
        for stale in existing:
            await self.writer.delete(str(stale["_key"]))
