"""An EKS cluster's Kubernetes authentication and authorization.

- ``EksAuthenticator``: the bearer token must be an EKS token (``k8s-aws-v1.``) that
  ``tokens.TokenVerifier`` accepts for this cluster's name; the user is the access entry's
  ``username`` (the principal ARN when there is no entry), the principal ARN rides along in
  ``extra["arn"]``. Anything else (the local admin token included) is a 401.
- ``AccessIndex``: the cluster's access entries and its ``kube-system/aws-auth`` ConfigMap
  (``model/eks/aws_auth``) in memory, each kept by a list+watch, so authorizing a request is a
  dict lookup and a few comparisons (``model/eks/access.allows``). It also knows the cluster
  record (authentication mode, creator) from the runtime, which pushes every new version of it.

Which identities the cluster knows depends on the authentication mode, as on EKS: access
entries in API and API_AND_CONFIG_MAP, aws-auth mappings in CONFIG_MAP and API_AND_CONFIG_MAP
(an access entry wins where both map a principal), and the creator in CONFIG_MAP mode when
``bootstrapClusterCreatorAdminPermissions`` holds. A valid token of any other identity is a 401,
as EKS answers it ("You must be logged in to the server"); a known identity without the
permission gets a 403. aws-auth's ``system:masters`` group is cluster-admin.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from stowage.api.eks.tokens import TokenRefused, TokenVerifier
from stowage.api.k8s.auth import Access, User, bearer, unauthorized
from stowage.api.k8s.http import Request
from stowage.model.eks import access as model
from stowage.model.eks import aws_auth
from stowage.model.eks.clusters import space_of
from stowage.model.eks.tokens import is_eks_token
from stowage.resources import eks as keys
from stowage.resources.k8s_objects import decode as decode_object
from stowage.resources.k8s_objects import object_key
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
        self.aws_auth = aws_auth.EMPTY
        self._aws_auth_key = object_key(
            space_of(cluster), "", "configmaps", aws_auth.NAMESPACE, aws_auth.NAME
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._ready = asyncio.Event()
        self._aws_auth_ready = asyncio.Event()

    async def start(self) -> None:
        name = self.cluster["name"]
        self._tasks.append(asyncio.create_task(self._watch(), name=f"eks-access-{name}"))
        self._tasks.append(asyncio.create_task(self._watch_aws_auth(), name=f"eks-aws-auth-{name}"))
        await asyncio.wait_for(self._ready.wait(), timeout=30)
        await asyncio.wait_for(self._aws_auth_ready.wait(), timeout=30)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    async def _watch_aws_auth(self) -> None:
        store, key = self.records.store, self._aws_auth_key
        while True:
            try:
                found = await store.get(key)
                self._set_aws_auth(decode_object(found) if found is not None else None)
                self._aws_auth_ready.set()
                revision = found.mod_revision if found is not None else await store.revision()
                watch = store.watch(key, start_revision=revision + 1)
                try:
                    async for batch in watch:
                        for ev in batch:
                            if ev.kv.key == key:
                                put = ev.type is EventType.PUT
                                self._set_aws_auth(decode_object(ev.kv) if put else None)
                finally:
                    await watch.close()
            except (Compacted, StoreError) as exc:
                log.info("aws-auth of %s re-reading after %s", self.cluster.get("name"), exc)
                await asyncio.sleep(0.5)

    def _set_aws_auth(self, configmap: Doc | None) -> None:
        self.aws_auth = aws_auth.parse(configmap)
        for problem in self.aws_auth.problems:
            log.warning("aws-auth of EKS cluster %s: skipped %s", self.cluster.get("name"), problem)

    def _mode(self) -> str:
        return str((self.cluster.get("accessConfig") or {}).get("authenticationMode") or "CONFIG_MAP")

    def _mapped(self, principal: str) -> aws_auth.KubeIdentity | None:
        return self.aws_auth.lookup(principal) if self._mode() != "API" else None

    def _creator_admin(self, principal: str) -> bool:
        access = self.cluster.get("accessConfig") or {}
        return (
            self._mode() == "CONFIG_MAP"
            and bool(access.get("bootstrapClusterCreatorAdminPermissions"))
            and principal == self.cluster.get("_creator")
        )

    def knows(self, principal: str) -> bool:
        """Whether the cluster authenticates this principal at all (else 401)."""
        in_entries = self._mode() in model.API_MODES and principal in self.entries
        return in_entries or self._creator_admin(principal) or self._mapped(principal) is not None

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
        entry = self.entries.get(principal) if self._mode() in model.API_MODES else None
        if entry:
            return str(entry.get("username") or principal)
        mapped = self._mapped(principal)
        return mapped.username if mapped is not None else principal

    def groups(self, principal: str) -> tuple[str, ...]:
        entry = self.entries.get(principal) if self._mode() in model.API_MODES else None
        if entry:
            return tuple(entry.get("kubernetesGroups") or ())
        mapped = self._mapped(principal)
        return mapped.groups if mapped is not None else ()

    def grants(self, principal: str) -> list[model.Grant]:
        out: list[model.Grant] = []
        if self._creator_admin(principal):
            out.append(model.Grant(model.CLUSTER_ADMIN, None))
        entry = self.entries.get(principal) if self._mode() in model.API_MODES else None
        if entry is not None:
            out.extend(model.grant(p["policyArn"], p["accessScope"]) for p in entry["_policies"].values())
        mapped = self._mapped(principal)
        if mapped is not None and aws_auth.MASTERS in mapped.groups:
            out.append(model.Grant(model.CLUSTER_ADMIN, None))
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
        if not self.index.knows(principal):
            log.info(
                "EKS cluster %s: %s has no access entry or aws-auth mapping", self.cluster_name, principal
            )
            raise unauthorized()
        groups = (*self.index.groups(principal), "system:authenticated")
        return User(self.index.username(principal), groups, {"arn": principal})
