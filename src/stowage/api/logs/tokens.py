"""Pagination tokens: opaque to clients, checked when they come back.

``nextToken`` of the Describe and Filter operations is base64url JSON naming the operation and
where to continue. GetLogEvents' tokens follow CloudWatch's visible convention, ``f/…/s`` for
forward and ``b/…/s`` for backward, with the (timestamp, event id) position in between.
"""

from __future__ import annotations

import re
from typing import Any

from stowage.api.aws import page_tokens
from stowage.api.logs.errors import invalid_token
from stowage.logstore import Position

_STREAM_TOKEN = re.compile(r"^([fb])/(\d{20})(\d{20})/s$")


def encode(operation: str, state: dict[str, Any]) -> str:
    return page_tokens.encode(operation, state)


def decode(operation: str, token: str) -> dict[str, Any]:
    value = page_tokens.decode(operation, token)
    if value is None:
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
