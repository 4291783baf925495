"""EKS's Fargate admission: every pod created in an EKS cluster's object space, by a user
through the API or by a controller (ReplicaSets, Jobs), passes the Fargate webhook
(``model/eks/fargate_pods.admit``) before it is stored, against the cluster's Fargate profiles
as they are at that moment.

It is the cluster's ``K8sObjects``: the API's object service and the cluster's controllers
write through it, so no path creates a pod around it (on EKS, controllers' pods go through the
API server and its webhooks too). The profiles are read from the store on each pod create (a
range read of at most a few records), so a profile is in force as soon as it is ACTIVE.
"""

from __future__ import annotations

from typing import Any

from stowage.model.eks import fargate_pods as model
from stowage.resources import eks as eks_keys
from stowage.resources.k8s_objects import K8sObjects, Stored, parse_key
from stowage.resources.paging import collect
from stowage.resources.records import Records
from stowage.store.base import Store

Obj = dict[str, Any]


class FargateAdmission(K8sObjects):
    def __init__(self, store: Store, space: str, account: str, region: str, cluster: str) -> None:
        super().__init__(store)
        self.space = space
        self.records = Records(store)
        self.prefix = eks_keys.child_prefix(account, region, eks_keys.FARGATE, cluster)

    async def create(self, key: str, obj: Obj) -> Stored | None:
        parsed = parse_key(key)
        if parsed is not None and parsed[:3] == (self.space, "", "pods"):
            profiles = [r.doc for r in await collect(self.records, self.prefix)]
            if profiles:
                model.admit(obj, profiles)
        return await super().create(key, obj)
