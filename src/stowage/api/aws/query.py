"""The AWS query protocol (CloudWatch's original one): form-encoded requests, XML answers.

A request is ``POST /`` with ``Content-Type: application/x-www-form-urlencoded`` (or a ``GET /``
with the same pairs in the query string): ``Action=ListMetrics&Version=2010-08-01&Namespace=x&
Dimensions.member.1.Name=InstanceId``. ``QueryCodec`` is compiled per operation from its
botocore shapes, once:

* ``decode`` rebuilds the input structure from the flat pairs (``Foo.member.N`` for lists,
  ``Foo.entry.N.key/value`` for maps, a lone ``Foo=`` for an empty list) with JSON's types:
  numbers and booleans parsed from text, ISO 8601 timestamps as epoch seconds, blobs left as
  base64 text. The result then goes through the same input validator as a JSON body, so
  handlers see the same params, and constraint messages read the same, on every protocol.
  Text that is not a number where a number belongs is ``TypeMismatch`` (SerializationException).
* ``write`` renders the output, already put in shape by the JSON serializer (``serialize``:
  unknown members dropped, datetimes as epoch seconds, blobs as base64), as the XML the query
  protocol answers: ``<ListMetricsResponse xmlns="<model xmlNamespace>"><ListMetricsResult>
  ...</ListMetricsResult><ResponseMetadata><RequestId>..</RequestId></ResponseMetadata>
  </ListMetricsResponse>``, lists as ``<member>`` elements, maps as ``<entry><key/><value/>``,
  timestamps in ISO 8601.

Errors are ``<ErrorResponse><Error><Type>Sender</Type><Code>InvalidParameterValue</Code>
<Message>..</Message></Error><RequestId>..</RequestId></ErrorResponse>`` with the query code
(``compat``); authentication failures are 403 here, as query services answer them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

from botocore.model import ListShape, MapShape, Shape, StructureShape

from stowage.api.aws.shapes import TypeMismatch

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
XML_CONTENT_TYPE = "text/xml"
AUTH_CODES = frozenset(
    {
        "MissingAuthenticationTokenException",
        "IncompleteSignatureException",
        "InvalidSignatureException",
        "UnrecognizedClientException",
    }
)
"""Answered 403 by query services (400 by the JSON services)."""

_ABSENT: Any = object()
Decoder = Callable[["_Pairs", str], Any]
Writer = Callable[[Any, list[str]], None]


class _Pairs:
    """The request's pairs, plus every dotted prefix of their names (is element N there?)."""

    def __init__(self, pairs: Mapping[str, str]) -> None:
        self.values = pairs
        prefixes: set[str] = set()
        for name in pairs:
            start = 0
            while (dot := name.find(".", start)) != -1:
                prefixes.add(name[:dot])
                start = dot + 1
        self.prefixes = prefixes

    def has(self, prefix: str) -> bool:
        return prefix in self.values or prefix in self.prefixes


@dataclass(frozen=True, slots=True)
class QueryCodec:
    decode: Callable[[Mapping[str, str]], dict[str, Any]]
    write: Callable[[Any], str] | None
    """Serialized output → the result element's XML; None when the operation has no output."""
    result_wrapper: str


def compile_codec(input_shape: Shape | None, output_shape: Shape | None, result_wrapper: str) -> QueryCodec:
    decoder = _DecoderCompiler().compile(input_shape) if input_shape is not None else None

    def decode(pairs: Mapping[str, str]) -> dict[str, Any]:
        if decoder is None:
            return {}
        value = decoder(_Pairs(pairs), "")
        return {} if value is _ABSENT else dict(value)

    writer = _WriterCompiler().compile(output_shape) if output_shape is not None else None

    def write(value: Any) -> str:
        assert writer is not None
        parts: list[str] = [f"<{result_wrapper}>"]
        writer(value, parts)
        parts.append(f"</{result_wrapper}>")
        return "".join(parts)

    return QueryCodec(decode, write if writer is not None else None, result_wrapper)


def response(operation: str, namespace: str, result: str, request_id: str) -> bytes:
    return (
        f'<{operation}Response xmlns="{escape(namespace)}">{result}'
        f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"
        f"</{operation}Response>"
    ).encode()


def error_response(namespace: str, code: str, message: str, sender: bool, request_id: str) -> bytes:
    xmlns = f' xmlns="{escape(namespace)}"' if namespace else ""
    return (
        f"<ErrorResponse{xmlns}><Error><Type>{'Sender' if sender else 'Receiver'}</Type>"
        f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode()


# --------------------------------------------------------------------------- request decoding


def _name(shape: Shape, default: str) -> str:
    return str(shape.serialization.get("name", default))


class _DecoderCompiler:
    def __init__(self) -> None:
        self._done: dict[str, Decoder] = {}

    def compile(self, shape: Shape) -> Decoder:
        if shape.name in self._done:
            return self._done[shape.name]
        cell: list[Decoder] = []  # a forwarding cell first: shapes may recurse

        def forward(pairs: _Pairs, prefix: str) -> Any:
            return cell[0](pairs, prefix)

        self._done[shape.name] = forward
        fn = self._build(shape)
        cell.append(fn)
        self._done[shape.name] = fn
        return fn

    def _build(self, shape: Shape) -> Decoder:
        t = shape.type_name
        if t == "structure":
            assert isinstance(shape, StructureShape)
            members = tuple((name, _name(m, name), self.compile(m)) for name, m in shape.members.items())
            return _structure_in(members)
        if t == "list":
            assert isinstance(shape, ListShape)
            flat = bool(shape.serialization.get("flattened"))
            return _list_in(self.compile(shape.member), None if flat else _name(shape.member, "member"))
        if t == "map":
            assert isinstance(shape, MapShape)
            flat = bool(shape.serialization.get("flattened"))
            return _map_in(
                self.compile(shape.key),
                self.compile(shape.value),
                _name(shape.key, "key"),
                _name(shape.value, "value"),
                flat,
            )
        return _scalar_in(_SCALARS.get(t, _text))


def _structure_in(members: tuple[tuple[str, str, Decoder], ...]) -> Decoder:
    def decode(pairs: _Pairs, prefix: str) -> Any:
        if prefix and not pairs.has(prefix):
            return _ABSENT
        out: dict[str, Any] = {}
        for member, wire, fn in members:
            value = fn(pairs, f"{prefix}.{wire}" if prefix else wire)
            if value is not _ABSENT:
                out[member] = value
        return out

    return decode


def _list_in(item: Decoder, member: str | None) -> Decoder:
    def decode(pairs: _Pairs, prefix: str) -> Any:
        if pairs.values.get(prefix) == "":
            return []  # "Foo=": the query protocol's empty list
        base = f"{prefix}.{member}" if member else prefix
        if not pairs.has(base):
            return _ABSENT
        out: list[Any] = []
        i = 1
        while pairs.has(f"{base}.{i}"):
            out.append(item(pairs, f"{base}.{i}"))
            i += 1
        return out

    return decode


def _map_in(key: Decoder, value: Decoder, key_name: str, value_name: str, flat: bool) -> Decoder:
    def decode(pairs: _Pairs, prefix: str) -> Any:
        base = prefix if flat else f"{prefix}.entry"
        if not pairs.has(base):
            return _ABSENT
        out: dict[Any, Any] = {}
        i = 1
        while pairs.has(f"{base}.{i}"):
            k = key(pairs, f"{base}.{i}.{key_name}")
            v = value(pairs, f"{base}.{i}.{value_name}")
            if k is not _ABSENT:
                out[k] = None if v is _ABSENT else v
            i += 1
        return out

    return decode


def _scalar_in(convert: Callable[[str], Any]) -> Decoder:
    def decode(pairs: _Pairs, prefix: str) -> Any:
        text = pairs.values.get(prefix)
        if text is None:
            return _ABSENT
        try:
            return convert(text)
        except (ValueError, OverflowError) as exc:
            raise TypeMismatch(str(exc), prefix) from None

    return decode


def _text(text: str) -> str:
    return text


def _integer(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"Value '{text}' can not be converted to an integer") from None


def _number(text: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise ValueError(f"Value '{text}' can not be converted to a number") from None


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise ValueError(f"Value '{text}' can not be converted to a boolean")
    return lowered == "true"


def _timestamp(text: str) -> float:
    value = text.strip()
    try:
        return float(value)  # epoch seconds are accepted too
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"Value '{text}' can not be converted to a timestamp") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


_SCALARS: dict[str, Callable[[str], Any]] = {
    "integer": _integer,
    "long": _integer,
    "double": _number,
    "float": _number,
    "boolean": _boolean,
    "timestamp": _timestamp,
}


# --------------------------------------------------------------------------- response writing


class _WriterCompiler:
    def __init__(self) -> None:
        self._done: dict[str, Writer] = {}

    def compile(self, shape: Shape) -> Writer:
        if shape.name in self._done:
            return self._done[shape.name]
        cell: list[Writer] = []

        def forward(value: Any, parts: list[str]) -> None:
            cell[0](value, parts)

        self._done[shape.name] = forward
        fn = self._build(shape)
        cell.append(fn)
        self._done[shape.name] = fn
        return fn

    def _build(self, shape: Shape) -> Writer:
        t = shape.type_name
        if t == "structure":
            assert isinstance(shape, StructureShape)
            members: dict[str, tuple[str, Writer, bool]] = {}
            for name, m in shape.members.items():
                if isinstance(m, ListShape) and m.serialization.get("flattened"):
                    # A flattened list repeats its element directly, under the member's name.
                    members[name] = (_name(m, name), self.compile(m.member), True)
                else:
                    members[name] = (_name(m, name), self.compile(m), False)
            return _structure_out(members)
        if t == "list":
            assert isinstance(shape, ListShape)
            return _list_out(self.compile(shape.member), _name(shape.member, "member"))
        if t == "map":
            assert isinstance(shape, MapShape)
            return _map_out(
                self.compile(shape.key),
                self.compile(shape.value),
                _name(shape.key, "key"),
                _name(shape.value, "value"),
                bool(shape.serialization.get("flattened")),
            )
        if t == "timestamp":
            return _timestamp_out
        if t == "boolean":
            return lambda value, parts: parts.append("true" if value else "false")
        if t in ("double", "float"):
            return _float_out
        return lambda value, parts: parts.append(escape(str(value)))


def _structure_out(members: dict[str, tuple[str, Writer, bool]]) -> Writer:
    def write(value: Any, parts: list[str]) -> None:
        for key, item in value.items():
            found = members.get(key)
            if found is None or item is None:
                continue
            tag, fn, flat = found
            if flat:
                for element in item:
                    parts.append(f"<{tag}>")
                    fn(element, parts)
                    parts.append(f"</{tag}>")
                continue
            parts.append(f"<{tag}>")
            fn(item, parts)
            parts.append(f"</{tag}>")

    return write


def _list_out(item: Writer, tag: str) -> Writer:
    def write(value: Any, parts: list[str]) -> None:
        for element in value:
            parts.append(f"<{tag}>")
            item(element, parts)
            parts.append(f"</{tag}>")

    return write


def _map_out(key: Writer, value: Writer, key_tag: str, value_tag: str, flat: bool) -> Writer:
    def write(mapping: Any, parts: list[str]) -> None:
        for k, v in mapping.items():
            if not flat:
                parts.append("<entry>")
            parts.append(f"<{key_tag}>")
            key(k, parts)
            parts.append(f"</{key_tag}><{value_tag}>")
            value(v, parts)
            parts.append(f"</{value_tag}>")
            if not flat:
                parts.append("</entry>")

    return write


def _timestamp_out(value: Any, parts: list[str]) -> None:
    if isinstance(value, str):  # already ISO 8601 (a timestampFormat: iso8601 member)
        parts.append(escape(value))
        return
    moment = datetime.fromtimestamp(float(value), UTC)
    parts.append(moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"))


def _float_out(value: Any, parts: list[str]) -> None:
    number = float(value)
    if math.isnan(number):
        parts.append("NaN")
    elif math.isinf(number):
        parts.append("Infinity" if number > 0 else "-Infinity")
    else:
        parts.append(repr(number))
