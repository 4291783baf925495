"""HTTP plumbing of the Kubernetes API: the parsed request, JSON responses, ``Status`` bodies,
and body decoding (JSON, YAML; size-limited; malformed input is a 400, never a 500)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import orjson
import yaml

from stowage.model.k8s.errors import K8sError
from stowage.model.k8s.protobuf import decode_object

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

MAX_BODY = 3 * 1024 * 1024  # the API server's request size limit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    receive: Receive
    body: bytes = b""
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def from_scope(cls, scope: Scope, receive: Receive) -> Request:
        raw = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        return cls(scope["method"], scope["path"], {k: v[-1] for k, v in raw.items()}, headers, receive)

    async def read_body(self) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY:
                raise K8sError(413, "RequestEntityTooLarge", "the request is too large")
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        self.body = b"".join(chunks)
        return self.body

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "application/json").split(";", 1)[0].strip().lower()

    def flag(self, name: str) -> bool:
        return self.query.get(name, "").lower() in ("true", "1")

    def int_param(self, name: str) -> int | None:
        value = self.query.get(name)
        if value in (None, ""):
            return None
        try:
            return int(value)
        except ValueError:
            raise K8sError(400, "BadRequest", f"invalid {name} {value!r}: not an integer") from None


def decode_body(raw: bytes, content_type: str) -> Any:
    """JSON or YAML (YAML is a superset; apply-patch bodies are YAML). 400 on garbage."""
    if "protobuf" in content_type:
        return decode_object(raw)
    if "cbor" in content_type:
        raise K8sError(
            415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {content_type}"
        )
    if not raw.strip():
        raise K8sError(400, "BadRequest", "the request body is empty")
    if "yaml" not in content_type:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise K8sError(400, "BadRequest", f"error decoding JSON: {e}") from None
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as e:
        raise K8sError(400, "BadRequest", f"error decoding YAML: {e}") from None
    except RecursionError:
        raise K8sError(400, "BadRequest", "error decoding YAML: the document is nested too deeply") from None
    except ValueError as e:  # a scalar YAML resolves but cannot build, e.g. 2026-13-45 as a date
        raise K8sError(400, "BadRequest", f"error decoding YAML: {e}") from None


def status_body(
    code: int, reason: str, message: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success" if code < 400 else "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


def error_body(err: K8sError) -> dict[str, Any]:
    details = dict(err.details)
    if err.causes:
        details["causes"] = [
            {k: v for k, v in (("reason", c.reason), ("message", c.message), ("field", c.field)) if v}
            for c in err.causes
        ]
    return status_body(err.code, err.reason, err.message, details or None)


async def send_json(
    send: Send,
    status: int,
    body: Any,
    *,
    content_type: str = "application/json",
    warnings: list[str] | None = None,
) -> None:
    payload = body if isinstance(body, bytes) else orjson.dumps(body)
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(payload)).encode())]
    headers += [(b"warning", f'299 - "{_quote(w)}"'.encode()) for w in warnings or []]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


async def send_error(send: Send, err: K8sError) -> None:
    await send_json(send, err.code, error_body(err))
