"""Opaque pagination tokens shared by the AWS services: base64url JSON naming the operation that
issued the token and the state to continue from (``{"op": ..., **state}``).

Clients treat tokens as opaque; a token that does not decode, or that another operation issued,
is refused by the caller with its service's own error (``InvalidParameterException`` in ECS,
``InvalidNextToken`` in CloudWatch, ``InvalidNextTokenException`` in Application Auto Scaling,
``InvalidParameterException`` in CloudWatch Logs): ``decode`` returns None for those.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson


def encode(operation: str, state: dict[str, Any]) -> str:
    raw = orjson.dumps({"op": operation, **state})
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode(operation: str, token: str) -> dict[str, Any] | None:
    """The state ``token`` carries, or None when it is not one of ``operation``'s tokens."""
    try:
        padded = token + "=" * (-len(token) % 4)
        value = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeEncodeError):
        return None
    if not isinstance(value, dict) or value.get("op") != operation:
        return None
    return value


def decode_after(operation: str, token: str, **expect: Any) -> str | None:
    """For tokens whose state is a key to continue after (``{"after": key}``), plus fields that
    must match (``expect``, e.g. a format version): that key, or None when the token is bad."""
    value = decode(operation, token)
    if value is None or not isinstance(value.get("after"), str):
        return None
    if any(value.get(k) != v for k, v in expect.items()):
        return None
    after: str = value["after"]
    return after
