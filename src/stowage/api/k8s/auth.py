"""Who is calling the Kubernetes API, and what they may do: the authenticator and authorizer
hooks of ``app.K8sApp``.

- ``StaticToken``: stowage's own API server, one admin bearer token (the data dir's kubeconfig);
  its holder may do anything.
- An EKS cluster's API (``api/eks/kube_auth``) plugs in its own pair: AWS-signed tokens, and
  access entries for permissions.

Anything without a valid credential gets a 401 ``Status``; a known user without the permission
gets the API server's 403 (``forbidden``), worded as RBAC words it, so kubectl prints the
familiar ``Error from server (Forbidden): pods is forbidden: User "..." cannot create resource
"pods" in API group "" in the namespace "default"``.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Protocol

from stowage.api.k8s.http import Request
from stowage.model.k8s.errors import K8sError


@dataclass(frozen=True, slots=True)
class User:
    name: str
    groups: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Access:
    """One request as the authorizer sees it (Kubernetes' resource attributes)."""

    verb: str
    """get list watch create update patch delete deletecollection."""
    group: str
    resource: str
    subresource: str
    namespace: str
    """'' for cluster-scoped resources and all-namespace lists."""
    name: str
    namespaced: bool


class Authenticator(Protocol):
    async def authenticate(self, request: Request) -> User:
        """The caller, or a 401 ``K8sError``."""


class Authorizer(Protocol):
    def authorize(self, user: User, access: Access) -> bool: ...


ADMIN = User("kubernetes-admin", ("system:masters", "system:authenticated"))


def unauthorized() -> K8sError:
    return K8sError(401, "Unauthorized", "Unauthorized")


def bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class StaticToken:
    """One shared secret; its holder is the cluster administrator."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()

    async def authenticate(self, request: Request) -> User:
        token = bearer(request)
        if token is None or not hmac.compare_digest(token.encode(), self._token):
            raise unauthorized()
        return ADMIN


def verb_of(method: str, *, named: bool, watch: bool) -> str:
    if method in ("GET", "HEAD"):
        if watch:
            return "watch"
        return "get" if named else "list"
    if method == "POST":
        return "create"
    if method == "PUT":
        return "update"
    if method == "PATCH":
        return "patch"
    if method == "DELETE":
        return "delete" if named else "deletecollection"
    return method.lower()


def forbidden(user: User, access: Access) -> K8sError:
    resource = f"{access.resource}/{access.subresource}" if access.subresource else access.resource
    what = f'resource "{resource}" in API group "{access.group}"'
    where = f' in the namespace "{access.namespace}"' if access.namespace else " at the cluster scope"
    subject = f"{access.resource}.{access.group}" if access.group else access.resource
    if access.name:
        subject = f'{subject} "{access.name}"'
    return K8sError(
        403,
        "Forbidden",
        f'{subject} is forbidden: User "{user.name}" cannot {access.verb} {what}{where}',
        {"name": access.name, "group": access.group, "kind": access.resource},
    )
