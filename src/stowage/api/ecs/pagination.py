"""Opaque ``nextToken`` values for ECS list operations, and the ``maxResults`` rules.

A token names the last key a page returned (the next page starts after it) and the operation
that issued it, base64url-encoded so clients treat it as opaque. A token that does not decode,
or was issued by another operation, is an ``InvalidParameterException`` as in ECS.
"""

from __future__ import annotations

import base64
import binascii

import orjson

from stowage.api.aws.errors import AwsError
from stowage.api.ecs.errors import invalid_parameter

_VERSION = 1


def encode_token(operation: str, after: str) -> str:
    raw = orjson.dumps({"v": _VERSION, "op": operation, "after": after})
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_token(operation: str, token: str | None) -> str | None:
    """The key to continue after, or None for the first page."""
    if token is None:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        value = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeEncodeError):
        raise _bad_token() from None
    if (
        not isinstance(value, dict)
        or value.get("v") != _VERSION
        or value.get("op") != operation
        or not isinstance(value.get("after"), str)
    ):
        raise _bad_token()
    after: str = value["after"]
    return after


def page_size(max_results: int | None, *, default: int, maximum: int) -> int:
    """``maxResults`` checked against ECS's range for the operation (1..maximum)."""
    if max_results is None:
        return default
    if not 1 <= max_results <= maximum:
        raise invalid_parameter(f"maxResults must be between 1 and {maximum}.")
    return max_results


def _bad_token() -> AwsError:
    return invalid_parameter("Invalid nextToken value.")
