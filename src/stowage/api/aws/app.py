"""The AWS protocols as a plain ASGI app: dispatch, SigV4, validation, errors, serialization.

Constructor::

    AwsApi(
        services,                  # Sequence[AwsService]: botocore model name + handlers
        credentials,               # CredentialLookup: async access key id -> Credential | None
        *,
        max_body_bytes=4 MiB,      # larger bodies get 413 RequestEntityTooLargeException
        clock=time.time,           # epoch seconds; RequestContext.now and the 15-min skew check
        strict_shapes=None,        # None: on when STOWAGE_STRICT_SHAPES=1 (tests); then an output
                                   #   member the model lacks is a 500 and a logged bug
        rest_services=(),          # REST-JSON services (EKS): see "REST-JSON" below
    )

It answers ``POST /`` with ``X-Amz-Target: <targetPrefix>.<Operation>`` and the model's
content type (``application/x-amz-json-1.1`` for ECS and Logs). Each request goes through, in
this order, the checks AWS makes, each with its AWS answer:

1. method and path (anything but ``POST /``: 404 ``UnknownOperationException``);
2. target (unknown, or an operation without a handler: 400 ``UnknownOperationException``) and
   content type (400 ``UnknownOperationException``: no protocol matches the request);
3. body size (413 ``RequestEntityTooLargeException``, before the body is read);
4. SigV4 (``sigv4``; 400 ``MissingAuthenticationTokenException``, ``IncompleteSignatureException``,
   ``UnrecognizedClientException``, ``InvalidSignatureException``);
5. JSON and shape (400 ``SerializationException``; the operation's validation code, e.g.
   ``InvalidParameterException``, with Coral's "N validation errors detected: ..." message);
6. the handler, whose ``AwsError`` is answered as raised; any other exception is logged with its
   traceback and answered 500 ``ServerException`` with a generic message.

**REST-JSON.** A request without ``X-Amz-Target`` (other than ``POST /``) is a REST-JSON
request: ``rest.RestCatalog`` picks the operation by method and path, the members come from the
path, query string and body (``rest.decode``), and the same SigV4 check, validation and handler
call follow. Its errors carry the code in ``x-amzn-ErrorType`` and ``{"message", ...}`` in the
body, authentication failures with 403 (``rest``).

**RPC v2 CBOR.** ``POST [prefix]/service/<targetPrefix>/operation/<Operation>`` with
``smithy-protocol: rpc-v2-cbor`` (services whose model lists ``smithy-rpc-v2-cbor``, e.g.
CloudWatch): the same checks in the same order (an unknown operation is 404, a missing
``smithy-protocol``, an ``X-Amz-Target`` or another content type 400), the body decoded by
``cbor``, the answer CBOR with ``smithy-protocol`` (no body when the operation has no output).

**Query.** ``POST /`` form-encoded without ``X-Amz-Target`` (or ``GET /?Action=...``), for
services listing ``query``: ``Action`` and ``Version`` pick the operation, ``query`` decodes the
pairs and writes the XML answer. Its errors are ``<ErrorResponse>`` documents.

``awsQueryCompatible`` services (CloudWatch) answer errors of every protocol with their query
code too (``compat``: the ``x-amzn-query-error`` header, the query ``<Code>``), so handlers
raise ``AwsError("InvalidParameterValue", ...)`` or the shape name alike. A ``Content-Encoding:
gzip`` body is inflated (after SigV4, within the body limit) for every protocol.

Every answer carries ``x-amzn-RequestId`` (a UUID, also ``RequestContext.request_id``).
Errors are ``{"__type": code, "message": text}``. Nothing here caches credentials: the lookup is
awaited on every request, so a revoked key stops working at once.
"""

from __future__ import annotations

import logging
import os
import random
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any
from urllib.parse import parse_qsl

import orjson

from stowage.api.aws import cbor, query, rest
from stowage.api.aws.catalog import CBOR, JSON, QUERY, Catalog, Operation, ServiceInfo, build_catalog
from stowage.api.aws.context import RequestContext
from stowage.api.aws.errors import (
    AwsError,
    invalid_signature,
    request_too_large,
    server_error,
    throttling,
    unknown_operation,
    unrecognized_client,
)
from stowage.api.aws.serialize import Serializer
from stowage.api.aws.service import AwsService
from stowage.api.aws.shapes import ConstraintErrors, TypeMismatch
from stowage.api.aws.sigv4 import SigV4Verifier, check_request_time, parse_authorization
from stowage.model.identity import Credential
from stowage.resources.records import ContentionError

CredentialLookup = Callable[[str], Awaitable[Credential | None]]
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
"""Room for CloudWatch Logs' largest PutLogEvents (1 MiB of events, JSON-escaped) with margin."""
STRICT_ENV = "STOWAGE_STRICT_SHAPES"
_DEFAULT_CONTENT_TYPE = "application/x-amz-json-1.1"

log = logging.getLogger("stowage.api.aws")


class _Disconnected(Exception):
    """The client went away before sending the whole body: nothing to answer."""


def new_request_id() -> str:
    """A version-4 UUID for ``x-amzn-RequestId``: from the PRNG, not ``os.urandom`` (a system
    call per request), since a request id only needs to be unique, not unguessable."""
    return str(uuid.UUID(int=random.getrandbits(128), version=4))


def _unexpected(op: Operation | rest.RestOperation, request_id: str, exc: Exception) -> AwsError:
    """The answer to an exception a handler did not turn into an AWS error (called while it is
    being handled, so the log has its traceback)."""
    if isinstance(exc, ContentionError):
        # Many writers raced for one record and this one lost every compare-and-swap: AWS
        # answers such bursts with throttling, which every SDK retries with back-off.
        log.info("%s.%s lost too many races (request %s)", op.service.service_name, op.name, request_id)
        return throttling("Rate exceeded: too many concurrent changes to one resource.")
    log.exception("%s.%s failed (request %s)", op.service.service_name, op.name, request_id)
    return server_error()


class AwsApi:
    """ASGI application serving the AWS JSON protocol for the given services."""

    def __init__(
        self,
        services: Sequence[AwsService],
        credentials: CredentialLookup,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        clock: Callable[[], float] = time.time,
        strict_shapes: bool | None = None,
        rest_services: Sequence[AwsService] = (),
    ) -> None:
        if strict_shapes is None:
            strict_shapes = os.environ.get(STRICT_ENV, "") not in ("", "0", "false")
        self.catalog: Catalog = build_catalog(services, strict=strict_shapes)
        self.rest = rest.RestCatalog(rest_services, strict=strict_shapes)
        self._credentials = credentials
        self._max_body = max_body_bytes
        self._clock = clock
        self._verifier = SigV4Verifier()
        # Content-type header values, encoded once.
        self._ctype = {
            info.content_type: info.content_type.encode() for info in self.catalog.services.values()
        }
        self._cbor = any(CBOR in info.protocols for info in self.catalog.services.values())
        # The X-Amz-Target table: the operations of the services that speak AWS JSON.
        self._json_ops = {t: op for t, op in self.catalog.operations.items() if JSON in op.service.protocols}
        self._query = any(QUERY in info.protocols for info in self.catalog.query_services.values())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request_id = new_request_id()
        if scope["path"] != "/":
            if self._cbor and (target := _cbor_target(scope["path"])) is not None:
                await self._call_cbor(target, scope, receive, send, request_id)
                return
            if not self.rest.empty and _is_rest(scope):
                await self._call_rest(scope, receive, send, request_id)
                return
        content_type = _DEFAULT_CONTENT_TYPE
        service: ServiceInfo | None = None
        try:
            op = self._route(scope)
            if op is None:
                await self._call_query(scope, receive, send, request_id)
                return
            service = op.service
            content_type = service.content_type
            status, body = await self._serve(op, scope, receive, request_id)
        except AwsError as err:
            if service is None:
                service = self._service_of_target(scope)
            if service is not None and service.query_errors is not None:
                await self._send_query_compatible_json(send, err, service, request_id)
                return
            status, body = err.status, _error_body(err)
        except _Disconnected:
            return
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", self._ctype.get(content_type) or content_type.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"x-amzn-requestid", request_id.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _service_of_target(self, scope: Scope) -> ServiceInfo | None:
        """The service an X-Amz-Target names, even when its operation is unknown."""
        for name, value in scope["headers"]:
            if name == b"x-amz-target":
                return self.catalog.services.get(value.decode("latin-1").partition(".")[0])
        return None

    async def _send_query_compatible_json(
        self, send: Send, err: AwsError, service: ServiceInfo, request_id: str
    ) -> None:
        """A JSON error of an ``awsQueryCompatible`` service: shape name, query code header."""
        assert service.query_errors is not None
        form = service.query_errors.resolve(err)
        body = orjson.dumps({"__type": form.shape, "message": err.message})
        headers = [
            (b"content-type", service.content_type.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"x-amzn-requestid", request_id.encode()),
            (b"x-amzn-query-error", form.header.encode()),
        ]
        await send({"type": "http.response.start", "status": form.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _call_cbor(
        self, target: tuple[str, str], scope: Scope, receive: Receive, send: Send, request_id: str
    ) -> None:
        """Smithy RPC v2 CBOR: ``POST [prefix]/service/<Service>/operation/<Operation>``."""
        service = self.catalog.services.get(target[0])
        headers = [(b"smithy-protocol", cbor.PROTOCOL.encode()), (b"x-amzn-requestid", request_id.encode())]
        try:
            op = self._route_cbor(scope, service, target)
            status, body = await self._serve_cbor(op, scope, receive, request_id)
            if op.has_output:
                headers.append((b"content-type", cbor.CONTENT_TYPE.encode()))
        except AwsError as err:
            status, type_name = err.status, err.code
            if service is not None and service.query_errors is not None:
                form = service.query_errors.resolve(err)
                status, type_name = form.status, form.shape
                headers.append((b"x-amzn-query-error", form.header.encode()))
            if service is not None:
                type_name = f"{service.shape_namespace}#{type_name}"
            body = cbor.error_body(err, type_name)
            headers.append((b"content-type", cbor.CONTENT_TYPE.encode()))
        except _Disconnected:
            return
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _call_query(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        """The AWS query protocol: form pairs in, XML out (``query``)."""
        service = self._query_service(None)  # for errors before the Version is read
        try:
            now = self._clock()
            headers = _header_map(scope["headers"])
            body = await self._read_body(headers, receive)
            # Inflated before SigV4 here (bounded like any body): the action, hence the service
            # whose signing name the signature must carry, is inside.
            text = body if scope["method"] == "POST" else scope.get("query_string", b"")
            if scope["method"] == "POST" and "content-encoding" in headers:
                text = self._decompressed(headers["content-encoding"], body)
            pairs = _form_pairs(text)
            version, action = pairs.get("Version"), pairs.get("Action")
            service = self._query_service(version) if version else service
            if not action:
                raise AwsError("MissingAction", "The request must contain the parameter Action.")
            op = self.catalog.query_actions.get((service.api_version, action)) if service else None
            if op is None or op.query is None:
                raise unknown_operation(f"The action {action} is not valid for this web service.")
            credential, region = await self._authenticate(op.service, scope, headers, body, now)
            try:
                data = op.query.decode(pairs)
            except TypeMismatch as exc:
                raise AwsError("SerializationException", str(exc)) from None
            params = _validate(op, data)
            result = await _invoke(op, params, _context(credential, region, request_id, now))
            xml = ""
            if op.query.write is not None:
                if op.serialize is not None:
                    result = _serialized(op, op.serialize, result, request_id)
                xml = op.query.write(result or {})
            status, out = 200, query.response(op.name, op.service.xml_namespace, xml, request_id)
        except AwsError as err:
            status, out = _query_error(err, service, request_id)
        except _Disconnected:
            return
        headers_out = [
            (b"content-type", query.XML_CONTENT_TYPE.encode()),
            (b"content-length", str(len(out)).encode()),
            (b"x-amzn-requestid", request_id.encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers_out})
        await send({"type": "http.response.body", "body": out})

    def _query_service(self, version: str | None) -> ServiceInfo | None:
        """The query service a ``Version`` names; without one, the only query service, if one."""
        if version:
            return self.catalog.query_services.get(version)
        services = self.catalog.query_services
        return next(iter(services.values())) if len(services) == 1 else None

    def _route_cbor(self, scope: Scope, service: ServiceInfo | None, target: tuple[str, str]) -> Operation:
        """The operation of an RPC v2 CBOR request, or the error its method, path or headers earn."""
        method = scope["method"]
        if method != "POST":
            raise AwsError(
                "UnknownOperationException", f"No operation is served at {method} {scope['path']}", 404
            )
        op = self.catalog.operations.get(f"{target[0]}.{target[1]}")
        if service is None or CBOR not in service.protocols or op is None:
            raise AwsError("UnknownOperationException", f"Unknown operation {target[0]}.{target[1]}", 404)
        protocol = content_type = None
        for name, value in scope["headers"]:
            if name == b"smithy-protocol":
                protocol = value.decode("latin-1").strip()
            elif name == b"content-type":
                content_type = value.decode("latin-1").partition(";")[0].strip()
            elif name in (b"x-amz-target", b"x-amzn-target"):
                # The protocol forbids them: a request must not be routable two ways.
                raise unknown_operation("X-Amz-Target is not allowed in an RPC v2 CBOR request")
        if protocol != cbor.PROTOCOL:
            raise unknown_operation(f"Missing or unsupported smithy-protocol header; use {cbor.PROTOCOL}")
        if content_type is not None and content_type != cbor.CONTENT_TYPE:
            raise unknown_operation(f"Unsupported Content-Type {content_type}; use {cbor.CONTENT_TYPE}")
        return op

    async def _serve_cbor(
        self, op: Operation, scope: Scope, receive: Receive, request_id: str
    ) -> tuple[int, bytes]:
        now = self._clock()
        headers = _header_map(scope["headers"])
        body = await self._read_body(headers, receive)
        credential, region = await self._authenticate(op.service, scope, headers, body, now)
        if "content-encoding" in headers:
            body = self._decompressed(headers["content-encoding"], body)
        params = _validate(op, cbor.decode(body))
        result = await _invoke(op, params, _context(credential, region, request_id, now))
        if not op.has_output:
            return 200, b""
        if op.serialize_cbor is not None:
            result = _serialized(op, op.serialize_cbor, result, request_id)
        return 200, cbor.encode(result or {})

    async def _call_rest(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        headers = [(b"x-amzn-requestid", request_id.encode())]
        try:
            raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
            op, labels = self.rest.match(scope["method"], raw_path)
            status, body = await self._serve_rest(op, labels, scope, receive, request_id)
        except AwsError as err:
            status, body = rest.error_status(err), orjson.dumps(rest.error_body(err))
            headers.append((b"x-amzn-errortype", err.code.encode()))
        except _Disconnected:
            return
        headers.append((b"content-type", b"application/json"))
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _serve_rest(
        self,
        op: rest.RestOperation,
        labels: dict[str, str],
        scope: Scope,
        receive: Receive,
        request_id: str,
    ) -> tuple[int, bytes]:
        now = self._clock()
        headers = _header_map(scope["headers"])
        body = await self._read_body(headers, receive)
        credential, region = await self._authenticate(op.service, scope, headers, body, now)
        if "content-encoding" in headers:
            body = self._decompressed(headers["content-encoding"], body)
        try:
            data = orjson.loads(body) if body.strip() else {}
        except orjson.JSONDecodeError as exc:
            raise AwsError("SerializationException", f"Malformed JSON request body: {exc}") from None
        data = _require_object(data)
        query = scope.get("query_string", b"").decode("latin-1")
        try:
            members = rest.decode(op, labels, query, headers, data)
            params: dict[str, Any] = op.validate(members) if op.validate is not None else {}
        except TypeMismatch as exc:
            raise AwsError("SerializationException", str(exc)) from None
        except ConstraintErrors as exc:
            raise AwsError(op.validation_code, exc.message()) from None
        ctx = RequestContext(
            account_id=credential.account_id,
            region=region,
            request_id=request_id,
            access_key_id=credential.access_key_id,
            principal_arn=credential.principal_arn,
            now=now,
        )
        try:
            result = await op.handler(ctx, params)
        except AwsError:
            raise
        except Exception as exc:
            raise _unexpected(op, request_id, exc) from None
        if not op.has_output:
            return op.status, b"{}"
        if op.serialize is not None:
            result = op.serialize(result or {})
        return op.status, orjson.dumps(result or {})

    def _route(self, scope: Scope) -> Operation | None:
        """The operation an AWS JSON request names; ``None`` for a query-protocol request."""
        method, path = scope["method"], scope["path"]
        if method != "POST" or path != "/":
            if self._query and method == "GET" and path == "/" and scope.get("query_string"):
                return None
            raise AwsError("UnknownOperationException", f"No operation is served at {method} {path}", 404)
        headers = scope["headers"]
        target = content_type = None
        for name, value in headers:
            if name == b"x-amz-target":
                target = value.decode("latin-1")
            elif name == b"content-type":
                content_type = value.decode("latin-1")
        if target is None:
            if self._query and (content_type or "").partition(";")[0].strip() == query.FORM_CONTENT_TYPE:
                return None
            raise unknown_operation("Missing X-Amz-Target header")
        op = self._json_ops.get(target)
        if op is None:
            raise unknown_operation(f"Unknown operation {target}")
        if content_type is not None and content_type.partition(";")[0].strip() != op.service.content_type:
            raise unknown_operation(f"Unsupported Content-Type {content_type}; use {op.service.content_type}")
        return op

    async def _serve(
        self, op: Operation, scope: Scope, receive: Receive, request_id: str
    ) -> tuple[int, bytes]:
        now = self._clock()
        headers = _header_map(scope["headers"])
        body = await self._read_body(headers, receive)
        credential, region = await self._authenticate(op.service, scope, headers, body, now)
        if "content-encoding" in headers:
            body = self._decompressed(headers["content-encoding"], body)
        params = _parse(op, body)
        # The handler call is inlined here rather than going through _invoke: this is the hot
        # path (ECS, Logs), and an extra coroutine per request shows in bench/aws_protocol.py.
        ctx = RequestContext(
            account_id=credential.account_id,
            region=region,
            request_id=request_id,
            access_key_id=credential.access_key_id,
            principal_arn=credential.principal_arn,
            now=now,
        )
        try:
            result = await op.handler(ctx, params)
            if not op.has_output:
                return 200, b"{}"
            if op.serialize is not None:
                result = op.serialize(result or {})
            return 200, orjson.dumps(result or {})
        except AwsError:
            raise
        except Exception as exc:
            raise _unexpected(op, request_id, exc) from None

    async def authenticate_upgrade(
        self, service: ServiceInfo, scope: Scope, now: float
    ) -> tuple[Credential, str]:
        """SigV4 of a WebSocket upgrade (a ``GET`` without a body) for ``service``: the signing
        credential and region, or the AWS authentication error (``channel``)."""
        return await self._authenticate(
            service, {**scope, "method": "GET"}, _header_map(scope["headers"]), b"", now
        )

    async def lookup_credential(self, access_key_id: str) -> Credential | None:
        """The key as the credential lookup has it now (``None`` once revoked)."""
        return await self._credentials(access_key_id)

    async def invoke(self, op: Operation, data: object, ctx: RequestContext) -> Any:
        """``op`` called outside HTTP (``channel``): a decoded body through the same validation,
        handler and output serialization as a request; raises the AWS error to answer."""
        params = _validate(op, _require_object(data))
        try:
            result = await op.handler(ctx, params)
        except AwsError:
            raise
        except Exception as exc:
            raise _unexpected(op, ctx.request_id, exc) from None
        if not op.has_output:
            return {}
        return op.serialize(result or {}) if op.serialize is not None else (result or {})

    async def _authenticate(
        self, service: ServiceInfo, scope: Scope, headers: dict[str, str], body: bytes, now: float
    ) -> tuple[Credential, str]:
        """The signing credential and the region of its scope, or the AWS authentication error."""
        auth = parse_authorization(headers)
        if auth.service != service.signing_name:
            raise invalid_signature(
                f"Credential should be scoped to correct service: '{service.signing_name}'. "
            )
        credential = await self._credentials(auth.access_key_id)
        if credential is None:
            raise unrecognized_client()
        check_request_time(auth.amz_date, now)
        raw_path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string", b"")
        self._verifier.verify(
            auth,
            credential.secret_access_key,
            method=scope["method"],
            raw_path=raw_path.decode("latin-1"),
            query=query.decode("latin-1"),
            headers=headers,
            body=body,
        )
        return credential, auth.region

    def _decompressed(self, encoding: str, body: bytes) -> bytes:
        """A gzip body (botocore compresses PutMetricData bodies over 10 KiB) after SigV4 has
        checked it as sent; the inflated size is held to the same limit as a plain body."""
        coding = encoding.strip().lower()
        if coding in ("", "identity"):
            return body
        if coding != "gzip":
            raise AwsError("SerializationException", f"Unsupported Content-Encoding {encoding}")
        inflater = zlib.decompressobj(wbits=31)
        try:
            data = inflater.decompress(body, self._max_body + 1)
        except zlib.error as exc:
            raise AwsError("SerializationException", f"Malformed gzip request body: {exc}") from None
        if len(data) > self._max_body:
            raise request_too_large(self._max_body)
        if not inflater.eof:
            raise AwsError("SerializationException", "Malformed gzip request body: truncated")
        return data

    async def _read_body(self, headers: dict[str, str], receive: Receive) -> bytes:
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self._max_body:
            raise request_too_large(self._max_body)
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        body: bytes = message.get("body", b"")
        if not message.get("more_body"):
            if len(body) > self._max_body:
                raise request_too_large(self._max_body)
            return body
        chunks = [body]
        size = len(body)
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max_body:
                raise request_too_large(self._max_body)
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)


def _context(credential: Credential, region: str, request_id: str, now: float) -> RequestContext:
    return RequestContext(
        account_id=credential.account_id,
        region=region,
        request_id=request_id,
        access_key_id=credential.access_key_id,
        principal_arn=credential.principal_arn,
        now=now,
    )


async def _invoke(op: Operation, params: dict[str, Any], ctx: RequestContext) -> Any:
    """The handler's result; an exception other than ``AwsError`` is logged and becomes a 500."""
    try:
        return await op.handler(ctx, params)
    except AwsError:
        raise
    except Exception:
        log.exception("%s.%s failed (request %s)", op.service.service_name, op.name, ctx.request_id)
        raise server_error() from None


def _serialized(op: Operation, serialize: Serializer, result: Any, request_id: str) -> Any:
    """The handler's result in its output shape; a result the shape refuses is a logged 500."""
    try:
        return serialize(result or {})
    except Exception:
        log.exception("%s.%s: bad output (request %s)", op.service.service_name, op.name, request_id)
        raise server_error() from None


def _form_pairs(text: bytes) -> dict[str, str]:
    """Form-encoded pairs (the last of repeated names wins), or SerializationException."""
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError:
        raise AwsError("SerializationException", "The request body is not valid UTF-8") from None
    return dict(parse_qsl(decoded, keep_blank_values=True))


def _query_error(err: AwsError, service: ServiceInfo | None, request_id: str) -> tuple[int, bytes]:
    """An ``<ErrorResponse>`` with the query code; authentication failures are 403 here."""
    status, code, sender = err.status, err.code, err.status < 500
    if service is not None and service.query_errors is not None:
        form = service.query_errors.resolve(err)
        status, code, sender = form.status, form.query_code, form.sender
    if err.code in query.AUTH_CODES:
        status = 403
    namespace = service.xml_namespace if service is not None else ""
    return status, query.error_response(namespace, code, err.message, sender, request_id)


def _cbor_target(path: str) -> tuple[str, str] | None:
    """(service, operation) from ``[prefix]/service/<Service>/operation/<Operation>``, else None.

    Only the last four segments route; the service may also be written as its absolute shape
    id with ``.`` for ``#`` (``com.amazonaws.cloudwatch.GraniteServiceVersion20100801``).
    """
    parts = path.rsplit("/", 4)
    if len(parts) != 5 or parts[1] != "service" or parts[3] != "operation" or not parts[4]:
        return None
    return parts[2].rpartition(".")[2], parts[4]


def _is_rest(scope: Scope) -> bool:
    """No ``X-Amz-Target`` and not ``POST /``: a REST-JSON request."""
    if scope["method"] == "POST" and scope["path"] == "/":
        return False
    return all(name != b"x-amz-target" for name, _ in scope["headers"])


def _parse(op: Operation, body: bytes) -> dict[str, Any]:
    """Body bytes → validated params, or SerializationException / the operation's validation error."""
    try:
        data = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError as exc:
        raise AwsError("SerializationException", f"Malformed JSON request body: {exc}") from None
    return _validate(op, _require_object(data))


def _require_object(data: object) -> dict[str, Any]:
    """A decoded body that must be a JSON object, as every operation's input is."""
    if not isinstance(data, dict):
        raise AwsError("SerializationException", "Start of structure or map expected for the request body")
    return data


def _validate(op: Operation, data: dict[str, Any]) -> dict[str, Any]:
    """A decoded body → validated params, or SerializationException / the validation error."""
    if op.validate is None:
        return {}
    try:
        params: dict[str, Any] = op.validate(data)
    except TypeMismatch as exc:
        raise AwsError("SerializationException", str(exc)) from None
    except ConstraintErrors as exc:
        raise AwsError(op.validation_code, exc.message()) from None
    return params


def _header_map(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Lower-cased names → values; repeated headers joined with ',' as SigV4 canonicalises them."""
    headers: dict[str, str] = {}
    for name, value in raw:
        key, text = name.decode("latin-1").lower(), value.decode("latin-1").strip()
        headers[key] = f"{headers[key]},{text}" if key in headers else text
    return headers


def _error_body(err: AwsError) -> bytes:
    return orjson.dumps({"__type": err.code, "message": err.message})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
