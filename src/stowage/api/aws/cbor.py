"""The CBOR codec of Smithy RPC v2 CBOR bodies (CloudWatch), on top of ``cbor2``.

``decode`` turns a request body into the plain values the input validators of ``shapes`` take
(the same validators as JSON): tag 1 (an epoch timestamp) becomes float seconds, CBOR
``undefined`` becomes ``None`` (the protocol says to read it as null), byte strings stay bytes.
Anything that is not exactly one well-formed CBOR map is ``SerializationException``, as a
malformed JSON body is, never a server error. Limits a hostile body could otherwise abuse:
nesting deeper than ``MAX_DEPTH`` is refused (no Smithy shape needs more), and the value-sharing
tags 28/29 are refused since they can build cyclic values no request needs.

``encode`` writes an answer that the output serializers of ``serialize`` (``wire="cbor"``) have
prepared: timestamps are already ``CBORTag(1, seconds)``; floats go out as doubles and integers
in their shortest form, which is what botocore's parser and the Smithy clients expect.
"""

from __future__ import annotations

import io
from typing import Any

import cbor2

from stowage.api.aws.errors import AwsError, serialization_error

CONTENT_TYPE = "application/cbor"
PROTOCOL = "rpc-v2-cbor"
"""The ``smithy-protocol`` header's value, in requests and answers."""
MAX_DEPTH = 64
_UNDEFINED_BYTE = b"\xf7"


def _epoch_seconds(value: Any, immutable: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("tag 1 must wrap a number of epoch seconds")
    return float(value)


def _refuse_sharing(value: Any, immutable: bool) -> Any:
    raise ValueError("shared values are not accepted")


_SEMANTIC = {1: _epoch_seconds, 28: _refuse_sharing, 29: _refuse_sharing}


def decode(body: bytes) -> dict[str, Any]:
    """A request body as a dict (empty body: ``{}``), or raise SerializationException."""
    if not body:
        return {}
    stream = io.BytesIO(body)
    decoder = cbor2.CBORDecoder(stream, semantic_decoders=_SEMANTIC, max_depth=MAX_DEPTH)
    try:
        value = decoder.decode()
    except (cbor2.CBORDecodeError, ValueError, OverflowError, RecursionError) as exc:
        raise serialization_error(f"Malformed CBOR request body: {exc}") from None
    _expect_end(decoder)
    if _UNDEFINED_BYTE in body:  # rare: only then is the walk worth its cost
        value = _undefined_to_none(value)
    if not isinstance(value, dict):
        raise serialization_error("Start of structure or map expected for the request body")
    return value


def _expect_end(decoder: cbor2.CBORDecoder) -> None:
    """One data item is the whole body: trailing bytes make it malformed."""
    try:
        decoder.decode()
    except cbor2.CBORDecodeEOF:
        return
    except (cbor2.CBORDecodeError, ValueError, OverflowError, RecursionError):
        pass
    raise serialization_error("Malformed CBOR request body: data after the end of the body's map")


def _undefined_to_none(value: Any) -> Any:
    if value is cbor2.undefined:
        return None
    if isinstance(value, dict):
        return {k: _undefined_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_undefined_to_none(v) for v in value]
    return value


def encode(value: Any) -> bytes:
    return cbor2.dumps(value)


def error_body(err: AwsError, type_name: str) -> bytes:
    """An error answer: ``__type`` (the absolute shape id) and ``message``."""
    return cbor2.dumps({"__type": type_name, "message": err.message})
