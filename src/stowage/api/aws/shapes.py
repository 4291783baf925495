"""Request validation compiled from botocore shapes: what a request body may contain.

Each shape is compiled once, at startup, into a closure; requests then run straight-line
checks with no model lookups. Behaviour follows the AWS JSON services (Coral):

* A value of the wrong JSON type (a number where a string belongs, a list where a structure
  belongs, an integer out of 32/64-bit range, bad base64) cannot be deserialized at all:
  ``SerializationException``, and nothing else is checked.
* Constraint failures (a missing required member, a ``min``/``max`` length or range, an enum
  value outside the model's set, a ``pattern``, a union with not exactly one member) are all
  collected and answered together in Coral's words: ``2 validation errors detected: Value null
  at 'cluster' failed to satisfy constraint: Member must not be null; ...``. The error code is
  the operation's own validation error, chosen from its model error list by the caller
  (``InvalidParameterException`` for ECS and most of CloudWatch Logs).
* Unknown members are ignored (and dropped), as Coral does: SDKs newer than the service send
  members it does not know yet. JSON ``null`` counts as absent.

Validated params come out as plain dicts/lists, with timestamps as float epoch seconds and blobs
as bytes. The output side is ``serialize``.

The same validators check CBOR bodies (``cbor`` decodes them): there a blob arrives as a byte
string (taken as is, where JSON sends base64 text) and a tag-1 timestamp already as epoch
seconds, so nothing else differs between the protocols.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Any

from botocore.model import ListShape, MapShape, Shape, StructureShape

Validator = Callable[[Any], Any]
"""Returns the converted value; raises ``TypeMismatch`` or ``ConstraintErrors``."""

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_MAX_REPORTED = 10


class TypeMismatch(Exception):
    """The body cannot be read as the shape: the answer is SerializationException."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    def under(self, prefix: str) -> TypeMismatch:
        self.path = f"{prefix}.{self.path}" if self.path else prefix
        return self

    def __str__(self) -> str:
        return f"{self.message} at '{self.path}'" if self.path else self.message


class ConstraintErrors(Exception):
    """One or more constraint violations; ``items`` are (path, value text, constraint)."""

    def __init__(self, items: list[tuple[str, str, str]]) -> None:
        super().__init__(items)
        self.items = items

    def under(self, prefix: str) -> ConstraintErrors:
        self.items = [(f"{prefix}.{p}" if p else prefix, v, c) for p, v, c in self.items]
        return self

    def message(self) -> str:
        n = len(self.items)
        head = f"{n} validation error{'s' if n != 1 else ''} detected: "
        return head + "; ".join(
            f"Value {v} at '{p}' failed to satisfy constraint: {c}" for p, v, c in self.items[:_MAX_REPORTED]
        )


def _show(value: Any) -> str:
    """A value as Coral prints it in a validation message: quoted strings, truncated."""
    if value is None:
        return "null"
    text = f"'{value}'" if isinstance(value, str) else str(value)
    return text if len(text) <= 200 else text[:200] + "...'"


def _kind(value: Any) -> str:
    """The JSON token Coral names when it cannot convert a value."""
    if isinstance(value, bool):
        return "VALUE_BOOLEAN"
    if isinstance(value, int | float):
        return "NUMBER_VALUE"
    if isinstance(value, str):
        return "STRING_VALUE"
    if isinstance(value, list):
        return "Start of list"
    if isinstance(value, dict):
        return "Start of structure or map"
    if value is None:
        return "null"
    if isinstance(value, bytes):
        return "Byte string"  # CBOR only: JSON has no byte strings
    return type(value).__name__


def _mismatch(value: Any, expected: str) -> TypeMismatch:
    return TypeMismatch(f"{_kind(value)} can not be converted to {expected}")


# --------------------------------------------------------------------------- input validation


class InputCompiler:
    """Compiles input shapes into validators, memoised by shape name (shapes may recurse)."""

    def __init__(self) -> None:
        self._done: dict[str, Validator] = {}

    def compile(self, shape: Shape) -> Validator:
        name = shape.name
        if name in self._done:
            return self._done[name]
        # A forwarding cell first, so a recursive reference to this shape finds something.
        cell: list[Validator] = []

        def forward(v: Any) -> Any:
            return cell[0](v)

        self._done[name] = forward
        fn = self._build(shape)
        cell.append(fn)
        self._done[name] = fn
        return fn

    def _build(self, shape: Shape) -> Validator:
        t = shape.type_name
        meta = shape.metadata
        if t == "structure":
            assert isinstance(shape, StructureShape)
            if meta.get("document"):
                return _identity
            return self._structure(shape)
        if t == "list":
            assert isinstance(shape, ListShape)
            return _list(self.compile(shape.member), meta.get("min"), meta.get("max"))
        if t == "map":
            assert isinstance(shape, MapShape)
            return _map(self.compile(shape.key), self.compile(shape.value), meta.get("min"), meta.get("max"))
        if t == "string":
            return _string(meta.get("min"), meta.get("max"), shape.enum or None, meta.get("pattern"))
        if t in ("integer", "long"):
            return _integer(t, meta.get("min"), meta.get("max"))
        if t in ("double", "float"):
            return _double(meta.get("min"), meta.get("max"))
        if t == "boolean":
            return _boolean
        if t == "timestamp":
            return _timestamp_in
        if t == "blob":
            return _blob_in
        raise ValueError(f"the protocol layer has no validator for shape type {t} ({shape.name})")

    def _structure(self, shape: StructureShape) -> Validator:
        members = {name: self.compile(m) for name, m in shape.members.items()}
        required = tuple(shape.required_members)
        is_union = bool(shape.metadata.get("union"))

        def validate(value: Any) -> dict[str, Any]:
            if not isinstance(value, dict):
                raise _mismatch(value, "a structure")
            out: dict[str, Any] = {}
            errors: list[tuple[str, str, str]] = []
            for key, item in value.items():
                if item is None:
                    continue
                fn = members.get(key)
                if fn is None:
                    continue  # unknown member: ignored, as AWS does
                try:
                    out[key] = fn(item)
                except TypeMismatch as exc:
                    raise exc.under(key) from None
                except ConstraintErrors as exc:
                    errors.extend(exc.under(key).items)
            for key in required:
                if key not in out and value.get(key) is None:  # present but invalid: reported above
                    errors.append((key, "null", "Member must not be null"))
            if is_union and len(out) != 1:
                errors.append(("", _show(value), "Member must have exactly one member set"))
            if errors:
                raise ConstraintErrors(errors)
            return out

        return validate


def _identity(value: Any) -> Any:
    return value


def _list(item: Validator, lo: int | None, hi: int | None) -> Validator:
    def validate(value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise _mismatch(value, "a list")
        out: list[Any] = []
        errors: list[tuple[str, str, str]] = []
        for i, element in enumerate(value):
            if element is None:
                continue  # Coral drops null list members
            try:
                out.append(item(element))
            except TypeMismatch as exc:
                raise exc.under(f"{i + 1}.member") from None
            except ConstraintErrors as exc:
                errors.extend(exc.under(f"{i + 1}.member").items)
        _check_size(len(value), lo, hi, value, errors)
        if errors:
            raise ConstraintErrors(errors)
        return out

    return validate


def _map(key_fn: Validator, value_fn: Validator, lo: int | None, hi: int | None) -> Validator:
    def validate(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _mismatch(value, "a map")
        out: dict[str, Any] = {}
        errors: list[tuple[str, str, str]] = []
        for k, v in value.items():
            if v is None:
                continue
            try:
                out[key_fn(k)] = value_fn(v)
            except TypeMismatch as exc:
                raise exc.under(k) from None
            except ConstraintErrors as exc:
                errors.extend(exc.under(k).items)
        _check_size(len(value), lo, hi, value, errors)
        if errors:
            raise ConstraintErrors(errors)
        return out

    return validate


def _check_size(
    n: int, lo: int | None, hi: int | None, value: Any, errors: list[tuple[str, str, str]]
) -> None:
    if lo is not None and n < lo:
        errors.append(("", _show(value), f"Member must have length greater than or equal to {lo}"))
    if hi is not None and n > hi:
        errors.append(("", _show(value), f"Member must have length less than or equal to {hi}"))


def _compile_pattern(pattern: str | None) -> re.Pattern[str] | None:
    if not pattern:
        return None
    try:
        return re.compile(pattern)
    except re.error:
        return None  # a Java-only construct: skip the check rather than reject valid input


def _string(lo: int | None, hi: int | None, enum: list[str] | None, pattern: str | None) -> Validator:
    allowed = frozenset(enum) if enum else None
    regex = _compile_pattern(pattern)
    if lo is None and hi is None and allowed is None and regex is None:

        def plain(value: Any) -> str:
            if type(value) is not str:
                raise _mismatch(value, "String")
            return value

        return plain

    def validate(value: Any) -> str:
        if type(value) is not str:
            raise _mismatch(value, "String")
        errors: list[tuple[str, str, str]] = []
        _check_size(len(value), lo, hi, value, errors)
        if allowed is not None and value not in allowed:
            errors.append(
                ("", _show(value), f"Member must satisfy enum value set: [{', '.join(enum or ())}]")
            )
        if regex is not None and regex.fullmatch(value) is None:
            errors.append(("", _show(value), f"Member must satisfy regular expression pattern: {pattern}"))
        if errors:
            raise ConstraintErrors(errors)
        return value

    return validate


def _integer(type_name: str, lo: int | None, hi: int | None) -> Validator:
    bits_lo, bits_hi = _INT32 if type_name == "integer" else _INT64
    expected = "Integer" if type_name == "integer" else "Long"

    def validate(value: Any) -> int:
        if type(value) is not int:
            raise _mismatch(value, expected)
        if value < bits_lo or value > bits_hi:
            raise TypeMismatch(f"Numeric value ({value}) out of range of {expected}")
        if lo is not None and value < lo:
            raise ConstraintErrors(
                [("", str(value), f"Member must have value greater than or equal to {lo}")]
            )
        if hi is not None and value > hi:
            raise ConstraintErrors([("", str(value), f"Member must have value less than or equal to {hi}")])
        return value

    return validate


def _double(lo: float | None, hi: float | None) -> Validator:
    def validate(value: Any) -> float:
        if type(value) is not float and type(value) is not int:
            raise _mismatch(value, "Double")
        number = float(value)
        if lo is not None and number < lo:
            raise ConstraintErrors(
                [("", str(value), f"Member must have value greater than or equal to {lo}")]
            )
        if hi is not None and number > hi:
            raise ConstraintErrors([("", str(value), f"Member must have value less than or equal to {hi}")])
        return number

    return validate


def _boolean(value: Any) -> bool:
    if type(value) is not bool:
        raise _mismatch(value, "Boolean")
    return value


def _timestamp_in(value: Any) -> float:
    # The JSON protocols send timestamps as epoch seconds (a JSON number).
    if type(value) is not float and type(value) is not int:
        raise _mismatch(value, "Timestamp")
    return float(value)


def _blob_in(value: Any) -> bytes:
    if type(value) is bytes:
        return value  # a CBOR byte string
    if type(value) is not str:
        raise _mismatch(value, "Blob")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise TypeMismatch("Base64 encoded value can not be decoded") from None
