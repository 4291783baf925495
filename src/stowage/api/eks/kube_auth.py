"""An EKS cluster's Kubernetes authentication and authorization.

- ``EksAuthenticator``: the bearer token must be an EKS token (``k8s-aws-v1.``) that
  ``tokens.TokenVerifier`` accepts for this cluster's name; the user is the access entry's
  ``username`` (the principal ARN when there is no entry), the principal ARN rides along in
  ``extra["arn"]``. Anything else (the local admin token included) is a 401.
- ``AccessIndex``: the cluster's access entries in memory, kept by a list+watch of their
  records, so authorizing a request is a dict lookup and a few comparisons
  (``model/eks/access.allows``). It also knows the cluster record (authentication mode,
  creator) from the runtime, which pushes every new version of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from stowage.api.eks.tokens import TokenRefused, TokenVerifier
from stowage.api.k8s.auth import Access, User, bearer, unauthorized
from stowage.api.k8s.http import Request
from stowage.model.eks import access as model
from stowage.model.eks.tokens import is_eks_token
from stowage.resources import eks as keys
from stowage.resources.paging import collect
from stowage.resources.records import Doc, Records, decode
from stowage.store.base import Compacted, EventType, StoreError

log = logging.getLogger(__name__)


class AccessIndex:
    def __init__(self, records: Records, account: str, region: str, cluster: Doc) -> None:
        self.records = records
        self.prefix = keys.child_prefix(account, region, keys.ACCESS, str(cluster["name"]))
        self.cluster = cluster
        self.entries: dict[str, Doc] = {}
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._watch(), name=f"eks-access-{self.cluster['name']}")
        await asyncio.wait_for(self._ready.wait(), timeout=30)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _watch(self) -> None:
        while True:
            try:
                revision = await self.records.store.revision()
                found = await collect(self.records, self.prefix)
                self.entries = {r.doc["principalArn"]: r.doc for r in found}
                self._ready.set()
                watch = self.records.store.watch(self.prefix, start_revision=revision + 1)
                try:
                    async for batch in watch:
                        for ev in batch:
                            if ev.type is EventType.PUT:
                                doc = decode(ev.kv.value)
                                self.entries[doc["principalArn"]] = doc
                            elif ev.prev_kv is not None:
                                self.entries.pop(decode(ev.prev_kv.value).get("principalArn", ""), None)
                            else:
                                parsed = keys.parse(ev.kv.key)
                                if parsed is not None:
                                    self.entries.pop(parsed[4], None)
                finally:
                    await watch.close()
            except (Compacted, StoreError) as exc:
                log.info("access entries of %s re-listing after %s", self.cluster.get("name"), exc)
                await asyncio.sleep(0.5)

    def username(self, principal: str) -> str:
        entry = self.entries.get(principal)
        return str(entry.get("username") or principal) if entry else principal

    def grants(self, principal: str) -> list[model.Grant]:
        access = self.cluster.get("accessConfig") or {}
        mode = access.get("authenticationMode")
        out: list[model.Grant] = []
        if (
            mode == "CONFIG_MAP"
            and access.get("bootstrapClusterCreatorAdminPermissions")
            and principal == self.cluster.get("_creator")
        ):
            out.append(model.Grant(model.CLUSTER_ADMIN, None))
        entry = self.entries.get(principal) if mode in model.API_MODES else None
        if entry is not None:
            out.extend(model.grant(p["policyArn"], p["accessScope"]) for p in entry["_policies"].values())
        return out

    def authorize(self, user: User, access: Access) -> bool:
        request = model.Request(access.verb, access.resource, access.namespace, access.namespaced)
        return model.allows(self.grants(user.extra.get("arn", "")), request)


class EksAuthenticator:
    def __init__(self, verifier: TokenVerifier, cluster_name: str, index: AccessIndex) -> None:
        self.verifier = verifier
        self.cluster_name = cluster_name
        self.index = index

    async def authenticate(self, request: Request) -> User:
        token = bearer(request)
        if token is None or not is_eks_token(token):
            raise unauthorized()
        try:
            identity = await self.verifier.verify(token, self.cluster_name)
        except TokenRefused as exc:
            log.info("EKS cluster %s refused a token: %s", self.cluster_name, exc)
            raise unauthorized() from None
        principal = identity.principal_arn
        return User(self.index.username(principal), ("system:authenticated",), {"arn": principal})
