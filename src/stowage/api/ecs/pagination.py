"""Opaque ``nextToken`` values for ECS list operations, and the ``maxResults`` rules.

A token names the last key a page returned (the next page starts after it) and the operation
that issued it, base64url-encoded so clients treat it as opaque. A token that does not decode,
or was issued by another operation, is an ``InvalidParameterException`` as in ECS.
"""

from __future__ import annotations

from stowage.api.aws import page_tokens
from stowage.api.aws.errors import AwsError
from stowage.api.ecs.errors import invalid_parameter

_VERSION = 1


def encode_token(operation: str, after: str) -> str:
    return page_tokens.encode(operation, {"v": _VERSION, "after": after})


def decode_token(operation: str, token: str | None) -> str | None:
    """The key to continue after, or None for the first page."""
    if token is None:
        return None
    after = page_tokens.decode_after(operation, token, v=_VERSION)
    if after is None:
        raise _bad_token()
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
