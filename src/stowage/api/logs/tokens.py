"""Pagination tokens: opaque to clients, checked when they come back.

``nextToken`` of the Describe and Filter operations is base64url JSON naming the operation and
where to continue. GetLogEvents' tokens follow CloudWatch's visible convention, ``f/…/s`` for
forward and ``b/…/s`` for backward, with the (timestamp, event id) position in between.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

import orjson

from stowage.api.logs.errors import invalid_token
from stowage.logstore import Position

_STREAM_TOKEN = re.compile(r"^([fb])/(\d{20})(\d{20})/s$")


def encode(operation: str, state: dict[str, Any]) -> str:
    raw = orjson.dumps({"op": operation, **state})
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode(operation: str, token: str) -> dict[str, Any]:
    try:
        padded = token + "=" * (-len(token) % 4)
        value = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeEncodeError):
        raise invalid_token() from None
    if not isinstance(value, dict) or value.get("op") != operation:
        raise invalid_token()
    return value


def stream_token(forward: bool, pos: Position) -> str:
    return f"{'f' if forward else 'b'}/{max(pos.timestamp, 0):020d}{max(pos.event_id, 0):020d}/s"


def parse_stream_token(token: str) -> tuple[bool, Position]:
    """(forward?, position) of a GetLogEvents token."""
    m = _STREAM_TOKEN.match(token)
    if m is None:
        raise invalid_token()
    return m.group(1) == "f", Position(int(m.group(2)), int(m.group(3)))
