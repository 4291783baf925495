"""The ASGI application of the Kubernetes API: authentication, routing, and errors as Status.

Routes::

    /version /healthz /livez /readyz
    /api  /api/v1  /apis  /apis/<g>  /apis/<g>/<v>           discovery
    /openapi/v2  /openapi/v3  /openapi/v3/<gv>               schemas
    /api/v1/[namespaces/<ns>/]<resource>[/<name>[/<sub>]]    core resources
    /apis/<g>/<v>/[namespaces/<ns>/]<resource>[/<name>[/<sub>]]
"""

from __future__ import annotations

import logging

from stowage.api.k8s import discovery, handlers, metrics
from stowage.api.k8s.apps import serve_scale
from stowage.api.k8s.auth import Access, Authenticator, Authorizer, StaticToken, User, forbidden, verb_of
from stowage.api.k8s.context import ApiContext
from stowage.api.k8s.http import Receive, Request, Scope, Send, send_error, send_json
from stowage.api.k8s.pod_exec import exec_path, serve_exec
from stowage.api.k8s.pod_logs import serve_log
from stowage.api.k8s.pod_portforward import portforward_path, refuse_plain, serve_port_forward
from stowage.api.k8s.policy import serve_eviction
from stowage.api.k8s.registry import ResourceType
from stowage.api.k8s.watch import serve_watch
from stowage.model.k8s.errors import K8sError
from stowage.store.base import StoreError

log = logging.getLogger(__name__)

_UNAUTHENTICATED = {"/healthz", "/livez", "/readyz"}


class K8sApp:
    def __init__(
        self, ctx: ApiContext, auth: str | Authenticator, authorizer: Authorizer | None = None
    ) -> None:
        """``auth``: the admin bearer token, or an authenticator (an EKS cluster's); with no
        ``authorizer`` every authenticated user may do anything."""
        self.ctx = ctx
        self._authn: Authenticator = StaticToken(auth) if isinstance(auth, str) else auth
        self._authz = authorizer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        request = Request.from_scope(scope, receive)
        try:
            user = None
            if request.path not in _UNAUTHENTICATED:
                user = await self._authn.authenticate(request)
            await self._route(request, send, user)
        except K8sError as err:
            await send_error(send, err)
        except StoreError as err:
            log.warning("store error serving %s %s: %s", request.method, request.path, err)
            await send_error(send, K8sError(503, "ServiceUnavailable", "the state store is unavailable"))
        except RecursionError:
            # a body nested hundreds of levels deep (a real object never is) overflows the
            # recursive merge/copy code: the client's fault, and Python recovers from it
            log.info("too deeply nested body in %s %s", request.method, request.path)
            await send_error(send, K8sError(400, "BadRequest", "the request body is nested too deeply"))
        except Exception:
            log.exception("internal error serving %s %s", request.method, request.path)
            await send_error(send, K8sError(500, "InternalError", "an internal error occurred"))

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """WebSocket upgrades: ``pods/exec`` and ``pods/portforward``. Refusals close the
        handshake (the client sees 403), as there is no body to carry a Status before the upgrade."""
        parts = [p for p in str(scope["path"]).split("/") if p]
        target, sub = exec_path(parts), "exec"
        if target is None:
            target, sub = portforward_path(parts), "portforward"
        try:
            if target is None:
                raise K8sError(404, "NotFound", "the server could not find the requested resource")
            user = await self._authn.authenticate(Request.from_scope({**scope, "method": "GET"}, receive))
            access = Access("create", "", "pods", sub, target[0], target[1], True)
            if self._authz is not None and not self._authz.authorize(user, access):
                raise K8sError(403, "Forbidden", f"{sub} is forbidden")
        except K8sError:
            await receive()
            await send({"type": "websocket.close", "code": 1008})
            return
        if sub == "portforward":
            await serve_port_forward(self.ctx, scope, receive, send, target=target)
            return
        await serve_exec(self.ctx, scope, receive, send, target=target)

    async def _route(self, request: Request, send: Send, user: User | None) -> None:
        path = request.path.rstrip("/") or "/"
        parts = [p for p in path.split("/") if p]
        accept = request.headers.get("accept", "")
        ctx = self.ctx
        if path in ("/healthz", "/livez", "/readyz"):
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
            )
            await send({"type": "http.response.body", "body": b"ok"})
            return
        if request.method == "GET":
            if path == "/version":
                await send_json(send, 200, discovery.version_info())
                return
            if path in ("/api", "/apis"):
                agg = discovery.wants_aggregated(accept)
                if agg:
                    body = discovery.aggregated(ctx.registry, path == "/api", agg)
                    await send_json(
                        send, 200, body,
                        content_type=f"application/json;g=apidiscovery.k8s.io;v={agg};as=APIGroupDiscoveryList",
                    )  # fmt: skip
                elif path == "/api":
                    await send_json(send, 200, discovery.core_versions(request.headers.get("host", "")))
                else:
                    await send_json(send, 200, discovery.group_list(ctx.registry))
                return
            if path == "/api/v1":
                await send_json(send, 200, discovery.resource_list(ctx.registry, "", "v1"))
                return
            if len(parts) == 2 and parts[0] == "apis":
                group = discovery.group(ctx.registry, parts[1])
                if group is None:
                    raise K8sError(404, "NotFound", "the server could not find the requested resource")
                await send_json(send, 200, group)
                return
            if len(parts) == 3 and parts[0] == "apis":
                if not ctx.registry.in_version(parts[1], parts[2]):
                    raise K8sError(404, "NotFound", "the server could not find the requested resource")
                await send_json(send, 200, discovery.resource_list(ctx.registry, parts[1], parts[2]))
                return
            if path == "/openapi/v2":
                if "protobuf" in accept and "json" not in accept:
                    raise K8sError(406, "NotAcceptable", "only application/json is served")
                await send_json(send, 200, ctx.openapi.v2)
                return
            if path == "/openapi/v3":
                await send_json(send, 200, ctx.openapi.v3_index)
                return
            if parts[:2] == ["openapi", "v3"]:
                doc = ctx.openapi.v3.get("/".join(parts[2:]))
                if doc is None:
                    raise K8sError(404, "NotFound", "the server could not find the requested resource")
                await send_json(send, 200, doc)
                return
        if (forward := portforward_path(parts)) is not None:  # not an upgrade: kubectl's SPDY fallback
            access = Access("create", "", "pods", "portforward", forward[0], forward[1], True)
            if self._authz is not None and user is not None and not self._authz.authorize(user, access):
                raise forbidden(user, access)
            raise await refuse_plain(ctx, *forward)
        await self._resource(request, parts, send, user)

    async def _resource(self, request: Request, parts: list[str], send: Send, user: User | None) -> None:
        if parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise K8sError(404, "NotFound", "the server could not find the requested resource")
        namespace: str | None = None
        reg = self.ctx.registry
        if len(rest) >= 3 and rest[0] == "namespaces" and reg.lookup(group, version, rest[2]) is not None:
            namespace, rest = rest[1], rest[2:]
        if not rest:
            raise K8sError(404, "NotFound", "the server could not find the requested resource")
        rt = reg.lookup(group, version, rest[0])
        if rt is None or len(rest) > 3:
            raise K8sError(404, "NotFound", "the server could not find the requested resource")
        if rt.namespaced is False and namespace is not None:
            raise K8sError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else ""
        if sub and rt.subresource(sub) is None:
            raise K8sError(404, "NotFound", "the server could not find the requested resource")
        if sub == "log" and request.method != "GET":
            raise handlers.method_not_allowed(request.method)
        if self._authz is not None and user is not None:
            where = Access("", "", "", sub, namespace or "", name or "", rt.namespaced)
            self._authorize(user, request, rt, where)
        if request.method in ("POST", "PUT", "PATCH", "DELETE"):
            await request.read_body()
        reply = await self._dispatch(request, rt, namespace, name, sub=sub, send=send)
        if reply is not None:
            await send_json(
                send, reply.status, reply.body, content_type=reply.content_type, warnings=reply.warnings
            )

    def _authorize(self, user: User, request: Request, rt: ResourceType, where: Access) -> None:
        assert self._authz is not None
        access = Access(
            verb=verb_of(request.method, named=bool(where.name), watch=request.flag("watch")),
            group=rt.group,
            resource=rt.plural,
            subresource=where.subresource,
            namespace=where.namespace,
            name=where.name,
            namespaced=rt.namespaced,
        )
        if not self._authz.authorize(user, access):
            raise forbidden(user, access)

    async def _dispatch(
        self,
        request: Request,
        rt: ResourceType,
        namespace: str | None,
        name: str | None,
        *,
        sub: str,
        send: Send,
    ) -> handlers.Reply | None:
        ctx = self.ctx
        method = request.method
        ns = namespace or ""
        if rt.group == metrics.GROUP:  # computed from samples, not stored objects
            return await metrics.serve(ctx, rt, namespace, name, request)
        if rt.namespaced and namespace is None and (name is not None or method not in ("GET",)):
            if method == "POST" and name is None:
                raise K8sError(405, "MethodNotAllowed", "a namespace is required to create this resource")
            if method != "GET":
                raise handlers.method_not_allowed(method)
            raise K8sError(404, "NotFound", "the server could not find the requested resource")
        if name is None:
            if method == "GET":
                if request.flag("watch"):
                    await serve_watch(ctx, rt, namespace if rt.namespaced else None, request, send)
                    return None
                return await handlers.list_objects(ctx, rt, namespace if rt.namespaced else None, request)
            if method == "POST":
                return await handlers.create(ctx, rt, ns, request)
            if method == "DELETE" and "deletecollection" in rt.verbs:
                return await handlers.delete_collection(
                    ctx, rt, namespace if rt.namespaced else None, request
                )
            raise handlers.method_not_allowed(method)
        if sub == "scale":
            return await serve_scale(ctx, rt, ns, name, request)
        if sub == "eviction":
            return await serve_eviction(ctx, rt, ns, name, request)
        if method == "GET":
            if sub == "log":
                await serve_log(ctx, rt, ns, name, request=request, send=send)
                return None
            if request.flag("watch"):
                request.query["fieldSelector"] = f"metadata.name={name}"
                await serve_watch(ctx, rt, namespace if rt.namespaced else None, request, send)
                return None
            return await handlers.get(ctx, rt, ns, name, request)
        if method == "PUT":
            return await handlers.update(ctx, rt, ns, name, sub=sub, request=request)
        if method == "PATCH":
            return await handlers.patch(ctx, rt, ns, name, sub=sub, request=request)
        if method == "DELETE" and not sub:
            return await handlers.delete(ctx, rt, ns, name, request)
        raise handlers.method_not_allowed(method)
