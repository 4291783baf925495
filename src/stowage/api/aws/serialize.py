"""Response serialization compiled from botocore shapes: what a handler's result becomes on the wire.

Serializers keep only model members, drop ``None``, turn datetimes into epoch seconds (the JSON
protocol's default; naive datetimes are UTC) and bytes into base64. Shapes whose subtree needs
no conversion compile to ``None`` and are passed through untouched, so the common case costs a
dict comprehension per structure. With ``strict=True`` (the app turns it on when
``STOWAGE_STRICT_SHAPES=1``, as tests do) an output member the model does not know, or a value
of the wrong type, raises ``OutputShapeError`` instead, so handler mistakes surface in tests
rather than as silently missing fields.

``wire="cbor"`` compiles the same shapes for Smithy RPC v2 CBOR answers instead: timestamps
become CBOR tag 1 (epoch seconds), blobs stay bytes (CBOR byte strings), and float/double
members are always floats (Smithy clients read a CBOR integer there as a type error).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from botocore.model import ListShape, MapShape, Shape, StructureShape
from cbor2 import CBORTag

Serializer = Callable[[Any], Any]
Wire = Literal["json", "cbor"]


class OutputShapeError(Exception):
    """A handler returned something its operation's output shape does not allow (strict mode)."""


class OutputCompiler:
    """Compiles output shapes into serializers; ``None`` from ``compile`` means "pass through"."""

    def __init__(self, *, strict: bool, wire: Wire = "json") -> None:
        self.strict = strict
        self.wire = wire
        self._done: dict[str, Serializer | None] = {}

    def compile(self, shape: Shape) -> Serializer | None:
        name = shape.name
        if name in self._done:
            return self._done[name]
        cell: list[Serializer | None] = []

        def forward(v: Any) -> Any:
            fn = cell[0]
            return v if fn is None else fn(v)

        self._done[name] = forward
        fn = self._build(shape)
        cell.append(fn)
        self._done[name] = fn
        return fn

    def _build(self, shape: Shape) -> Serializer | None:
        t = shape.type_name
        strict = self.strict
        if t == "structure":
            assert isinstance(shape, StructureShape)
            if shape.metadata.get("document"):
                return None
            members = {name: self.compile(m) for name, m in shape.members.items()}
            return _structure_out(shape.name, members, strict)
        if t == "list":
            assert isinstance(shape, ListShape)
            item = self.compile(shape.member)
            if item is None and not strict:
                return None
            return _list_out(shape.name, item, strict)
        if t == "map":
            assert isinstance(shape, MapShape)
            value = self.compile(shape.value)
            if value is None and not strict:
                return None
            return _map_out(shape.name, value, strict)
        if t == "timestamp":
            if self.wire == "cbor":
                return _timestamp_cbor(shape.name)
            return _timestamp_out(shape.name, shape.serialization.get("timestampFormat", "unixTimestamp"))
        if t == "blob":
            return _blob_cbor if self.wire == "cbor" else _blob_out
        if self.wire == "cbor" and t in ("double", "float"):
            return _float_cbor(shape.name)
        if not strict:
            return None
        return _scalar_check(shape.name, _SCALAR_TYPES[t])


_SCALAR_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "long": (int,),
    "boolean": (bool,),
    "double": (int, float),
    "float": (int, float),
}


def _scalar_check(shape_name: str, types: tuple[type, ...]) -> Serializer:
    def check(value: Any) -> Any:
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise OutputShapeError(
                f"{shape_name}: {type(value).__name__} {value!r} is not {types[-1].__name__}"
            )
        return value

    return check


def _structure_out(shape_name: str, members: dict[str, Serializer | None], strict: bool) -> Serializer:
    if not strict and all(fn is None for fn in members.values()):
        # Only scalars and plain lists below: a filtering comprehension is all it takes.
        names = frozenset(members)
        return lambda value: {k: v for k, v in value.items() if v is not None and k in names}
    missing = object()

    def serialize(value: Any) -> dict[str, Any]:
        if strict and not isinstance(value, dict):
            raise OutputShapeError(f"{shape_name}: expected a dict, got {type(value).__name__}")
        out: dict[str, Any] = {}
        try:
            for key, item in value.items():
                if item is None:
                    continue
                fn = members.get(key, missing)
                if fn is None:
                    out[key] = item
                elif fn is not missing:
                    out[key] = fn(item)  # type: ignore[operator]
                elif strict:
                    raise OutputShapeError(f"{shape_name} has no member {key!r}")
        except OutputShapeError as exc:
            raise OutputShapeError(f"{key}: {exc}") from None
        return out

    return serialize


def _list_out(shape_name: str, item: Serializer | None, strict: bool) -> Serializer:
    def serialize(value: Any) -> list[Any]:
        if strict and not isinstance(value, list | tuple):
            raise OutputShapeError(f"{shape_name}: expected a list, got {type(value).__name__}")
        if item is None:
            return list(value)
        return [item(x) for x in value if x is not None]

    return serialize


def _map_out(shape_name: str, value_fn: Serializer | None, strict: bool) -> Serializer:
    def serialize(value: Any) -> dict[str, Any]:
        if strict and not isinstance(value, dict):
            raise OutputShapeError(f"{shape_name}: expected a dict, got {type(value).__name__}")
        if value_fn is None:
            return dict(value)
        return {k: value_fn(v) for k, v in value.items() if v is not None}

    return serialize


def _epoch(shape_name: str) -> Serializer:
    def epoch(value: Any) -> float:
        if isinstance(value, datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=UTC)  # naive means UTC here, never local time
            return float(value.timestamp())
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise OutputShapeError(f"{shape_name}: {type(value).__name__} is not a timestamp")

    return epoch


def _timestamp_out(shape_name: str, fmt: str) -> Serializer:
    epoch = _epoch(shape_name)
    if fmt == "iso8601":
        return lambda v: datetime.fromtimestamp(epoch(v), UTC).isoformat().replace("+00:00", "Z")
    return epoch


def _blob_out(value: Any) -> str:
    if isinstance(value, str):
        value = value.encode()
    if not isinstance(value, bytes | bytearray):
        raise OutputShapeError(f"{type(value).__name__} is not a blob")
    return base64.b64encode(value).decode()


def _timestamp_cbor(shape_name: str) -> Serializer:
    # RPC v2 CBOR ignores timestampFormat: always tag 1 over epoch seconds.
    epoch = _epoch(shape_name)
    return lambda value: CBORTag(1, epoch(value))


def _blob_cbor(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode()
    if not isinstance(value, bytes | bytearray):
        raise OutputShapeError(f"{type(value).__name__} is not a blob")
    return bytes(value)


def _float_cbor(shape_name: str) -> Serializer:
    def to_float(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise OutputShapeError(f"{shape_name}: {type(value).__name__} {value!r} is not a number")
        return float(value)

    return to_float
