"""The REST-JSON protocol (EKS): routes, request decoding and error bodies, compiled from botocore
models once at start-up.

A REST-JSON operation is an HTTP method plus a URI template (``GET /clusters/{name}``); its input
members come from URI labels, the query string, headers, or the JSON body, as each member's
``location`` in the model says. ``RestCatalog.match`` finds the operation for a request (a
literal segment beats a label, so ``/clusters/{name}/updates`` never shadows a longer literal
route); ``decode`` gathers the members from every location into one dict that the input
validator of ``shapes`` then checks exactly as for the JSON protocol, so constraint errors read
the same. The answer is the output shape as JSON (``serialize``), with the operation's
``responseCode``.

Errors differ from AWS JSON 1.1: the code travels in the ``x-amzn-ErrorType`` header and the
body is ``{"message": ...}`` plus the modeled members of the error (``clusterName``,
``nodegroupName``...), which botocore copies into the exception's response. Authentication
failures are 403 here (REST services answer them through the front door, not with the 400 of
the JSON services).

Labels are percent-decoded one segment at a time from the raw path, so a label may hold ``/``
(an ARN in ``/tags/{resourceArn}`` arrives as one encoded segment).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from botocore.loaders import Loader
from botocore.model import OperationModel, Shape

from stowage.api.aws.catalog import ServiceInfo, default_loader, load_model, validation_code
from stowage.api.aws.errors import AwsError
from stowage.api.aws.serialize import OutputCompiler, Serializer
from stowage.api.aws.service import AwsService, Handler
from stowage.api.aws.shapes import InputCompiler, TypeMismatch, Validator

CONTENT_TYPE = "application/json"
AUTH_CODES = frozenset(
    {
        "MissingAuthenticationTokenException",
        "IncompleteSignatureException",
        "InvalidSignatureException",
        "UnrecognizedClientException",
    }
)
"""Answered 403 by REST services (400 by the JSON services)."""


class RestError(AwsError):
    """An ``AwsError`` with the error shape's extra members (``clusterName`` ...) in its body."""

    def __init__(self, code: str, message: str, status: int = 400, **fields: str | None) -> None:
        super().__init__(code, message, status)
        self.fields = {k: v for k, v in fields.items() if v is not None}


@dataclass(frozen=True, slots=True)
class _Query:
    member: str
    kind: str
    """``string``, ``integer``, ``boolean``, ``list`` (of strings) or ``map`` (every other
    parameter, string to string)."""


@dataclass(frozen=True, slots=True)
class RestOperation:
    name: str
    service: ServiceInfo
    method: str
    segments: tuple[str, ...]
    """The URI template's segments; a label is ``{member}`` (``{member+}``: the rest of the path)."""
    labels: tuple[tuple[int, str], ...]
    greedy: str | None
    query: Mapping[str, _Query]
    query_map: str | None
    headers: Mapping[str, tuple[str, str]]
    """Lower-cased header name → (member, type)."""
    located: frozenset[str]
    """Members that never come from the body."""
    handler: Handler
    validate: Validator | None
    serialize: Serializer | None
    has_output: bool
    validation_code: str
    status: int

    @property
    def literals(self) -> int:
        return sum(1 for s in self.segments if not s.startswith("{"))


def error_body(err: AwsError) -> dict[str, Any]:
    """The REST-JSON error body: the message plus the error shape's members."""
    fields = err.fields if isinstance(err, RestError) else {}
    return {"message": err.message, **fields}


def error_status(err: AwsError) -> int:
    return 403 if err.code in AUTH_CODES else err.status


class RestCatalog:
    """Every REST-JSON operation with a handler, by method, for ``match``."""

    def __init__(self, services: Sequence[AwsService], *, strict: bool, loader: Loader | None = None) -> None:
        loader = loader or default_loader()
        self.services: dict[str, ServiceInfo] = {}
        self._routes: dict[str, list[RestOperation]] = {}
        for service in services:
            model = load_model(service.service_name, loader)
            if model.protocol != "rest-json":
                raise ValueError(f"{service.service_name}: protocol {model.protocol!r} is not REST-JSON")
            meta = model.metadata
            info = ServiceInfo(
                service_name=service.service_name,
                target_prefix="",
                signing_name=meta.get("signingName") or meta["endpointPrefix"],
                content_type=CONTENT_TYPE,
            )
            self.services[info.signing_name] = info
            unknown = set(service.handlers) - set(model.operation_names)
            if unknown:
                raise ValueError(
                    f"{service.service_name}: handlers for operations not in the model: {sorted(unknown)}"
                )
            inputs, outputs = InputCompiler(), OutputCompiler(strict=strict)
            for name, handler in service.handlers.items():
                op = _compile(model.operation_model(name), info, handler, inputs, outputs)
                self._routes.setdefault(op.method, []).append(op)
        for routes in self._routes.values():
            # literal segments first: a label must never capture a route's fixed word
            routes.sort(key=lambda op: (-len(op.segments), -op.literals))

    @property
    def empty(self) -> bool:
        return not self._routes

    def match(self, method: str, raw_path: str) -> tuple[RestOperation, dict[str, str]]:
        """The operation for ``method raw_path`` and its decoded labels, or 404
        ``UnknownOperationException`` (405 when the path exists under another method)."""
        path = raw_path.split("?", 1)[0]
        parts = [unquote(p) for p in path.strip("/").split("/")] if path.strip("/") else []
        for op in self._routes.get(method, ()):
            labels = _bind(op, parts)
            if labels is not None:
                return op, labels
        for other, routes in self._routes.items():
            if other != method and any(_bind(op, parts) is not None for op in routes):
                raise AwsError("UnknownOperationException", f"Method {method} is not allowed on {path}", 405)
        raise AwsError("UnknownOperationException", f"No operation is served at {method} {path}", 404)


def _bind(op: RestOperation, parts: list[str]) -> dict[str, str] | None:
    segments = op.segments
    if op.greedy is None and len(parts) != len(segments):
        return None
    if op.greedy is not None and len(parts) < len(segments):
        return None
    labels: dict[str, str] = {}
    for i, seg in enumerate(segments):
        if seg.startswith("{"):
            member = seg[1:-1]
            if member.endswith("+"):
                labels[member[:-1]] = "/".join(parts[i:])
                return labels
            if not parts[i]:
                return None
            labels[member] = parts[i]
        elif seg != parts[i]:
            return None
    return labels


def _compile(
    model: OperationModel,
    info: ServiceInfo,
    handler: Handler,
    inputs: InputCompiler,
    outputs: OutputCompiler,
) -> RestOperation:
    uri = str(model.http["requestUri"]).split("?", 1)[0]
    segments = tuple(s for s in uri.strip("/").split("/") if s)
    labels = tuple((i, s[1:-1].rstrip("+")) for i, s in enumerate(segments) if s.startswith("{"))
    greedy = next((s[1:-2] for s in segments if s.endswith("+}")), None)
    query: dict[str, _Query] = {}
    headers: dict[str, tuple[str, str]] = {}
    query_map: str | None = None
    located: set[str] = set()
    shape = model.input_shape
    by_label: dict[str, str] = {}
    if shape is not None:
        if shape.serialization.get("payload"):
            raise ValueError(f"{model.name}: body payload members are not supported")
        for member, sub in shape.members.items():
            where = sub.serialization.get("location")
            wire = str(sub.serialization.get("name") or member)
            if where is None:
                continue
            located.add(member)
            if where == "uri":
                by_label[wire] = member
            elif where == "querystring":
                kind = _query_kind(model.name, sub)
                if kind == "map":
                    query_map = member
                else:
                    query[wire] = _Query(member, kind)
            elif where == "header":
                headers[wire.lower()] = (member, sub.type_name)
            else:
                raise ValueError(f"{model.name}: member location {where!r} is not supported")
    # labels name the wire name; the handler sees member names
    labels = tuple((i, by_label.get(name, name)) for i, name in labels)
    segments = tuple(
        "{" + by_label.get(s[1:-1].rstrip("+"), s[1:-1].rstrip("+")) + ("+}" if s.endswith("+}") else "}")
        if s.startswith("{")
        else s
        for s in segments
    )
    if greedy is not None:
        greedy = by_label.get(greedy, greedy)
    return RestOperation(
        name=model.name,
        service=info,
        method=str(model.http["method"]).upper(),
        segments=segments,
        labels=labels,
        greedy=greedy,
        query=query,
        query_map=query_map,
        headers=headers,
        located=frozenset(located),
        handler=handler,
        validate=inputs.compile(shape) if shape is not None else None,
        serialize=outputs.compile(model.output_shape) if model.output_shape is not None else None,
        has_output=model.output_shape is not None,
        validation_code=validation_code(model),
        status=int(model.http.get("responseCode") or 200),
    )


def _query_kind(op: str, shape: Shape) -> str:
    t = shape.type_name
    if t in ("string", "integer", "long", "boolean"):
        return "integer" if t == "long" else t
    if t == "list" and shape.member.type_name == "string":
        return "list"
    if t == "map":
        return "map"
    raise ValueError(f"{op}: query member of type {t} is not supported")


def decode(
    op: RestOperation, labels: Mapping[str, str], query_string: str, headers: Mapping[str, str], body: Any
) -> dict[str, Any]:
    """Every input member from its location, before validation; body members the model places
    elsewhere are ignored (a client cannot smuggle a label in the body). Raises ``TypeMismatch``
    for a query value that is not of its member's type."""
    params: dict[str, Any] = {}
    if isinstance(body, dict):
        params.update((k, v) for k, v in body.items() if k not in op.located)
    params.update(labels)
    extra: dict[str, str] = {}
    for name, value in parse_qsl(query_string, keep_blank_values=True):
        spec = op.query.get(name)
        if spec is None:
            extra[name] = value
            continue
        if spec.kind == "list":
            params.setdefault(spec.member, []).append(value)
        else:
            params[spec.member] = _scalar(spec.kind, value, name)
    if op.query_map is not None and extra:
        params[op.query_map] = extra
    for header, (member, kind) in op.headers.items():
        if header in headers:
            params[member] = _scalar(kind, headers[header], header)
    return params


def _scalar(kind: str, value: str, name: str) -> Any:
    if kind == "integer":
        try:
            return int(value)
        except ValueError:
            raise TypeMismatch(f"Value '{value}' of {name} can not be converted to Integer") from None
    if kind == "boolean":
        if value not in ("true", "false"):
            raise TypeMismatch(f"Value '{value}' of {name} can not be converted to Boolean")
        return value == "true"
    return value
