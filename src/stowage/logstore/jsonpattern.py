"""CloudWatch Logs JSON filter patterns: ``{ SELECTOR OP VALUE }`` combined with ``&&``, ``||``
and parentheses, matched against messages that are JSON objects (others never match).

- Selectors: ``$.a.b``, ``$.list[0].name``.
- ``=`` / ``!=`` with a quoted or bare string (``*`` is a wildcard) compare strings; with a
  number, numbers. ``<`` ``<=`` ``>`` ``>=`` compare numbers only.
- ``IS NULL``, ``IS TRUE``, ``IS FALSE``, ``NOT EXISTS``, ``EXISTS``.
- A selector that names no field fails every comparison except ``NOT EXISTS``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson

from stowage.logstore.patternerror import PatternError

_MISSING = object()
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<punct>&&|\|\||!=|<=|>=|=|<|>|\(|\)|\{|\})
      | (?P<word>[^\s()=!<>&|{}"]+)
    )""",
    re.VERBOSE,
)
_PATH_PART = re.compile(r"\.([A-Za-z0-9_\-@:]+)|\[(\d+)\]")

Node = Callable[[Any], bool]


def compile_json_pattern(text: str) -> Callable[[str], bool]:
    tokens = _tokenize(text)
    parser = _Parser(tokens)
    parser.expect("{")
    node = parser.expr()
    parser.expect("}")
    if parser.peek() is not None:
        raise PatternError(f"Unexpected text after the closing brace in filter pattern: {text}")

    def match(message: str) -> bool:
        if not message.lstrip().startswith("{"):
            return False
        try:
            doc = orjson.loads(message)
        except orjson.JSONDecodeError:
            return False
        return isinstance(doc, dict) and node(doc)

    return match


def _tokenize(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise PatternError(f"Invalid character in filter pattern at position {pos}: {text[pos:]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.i = 0

    def peek(self) -> str | None:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        if self.i >= len(self.tokens):
            raise PatternError("Unexpected end of filter pattern.")
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect(self, value: str) -> None:
        _, got = self.take()
        if got != value:
            raise PatternError(f"Expected {value!r} in filter pattern, found {got!r}.")

    def expr(self) -> Node:
        left = self.conj()
        while self.peek() == "||":
            self.take()
            right = self.conj()
            left = _or(left, right)
        return left

    def conj(self) -> Node:
        left = self.unary()
        while self.peek() == "&&":
            self.take()
            right = self.unary()
            left = _and(left, right)
        return left

    def unary(self) -> Node:
        if self.peek() == "(":
            self.take()
            node = self.expr()
            self.expect(")")
            return node
        return self.comparison()

    def comparison(self) -> Node:
        kind, selector = self.take()
        if kind != "word" or not selector.startswith("$"):
            raise PatternError(f"Expected a selector such as $.field in filter pattern, found {selector!r}.")
        path = _parse_path(selector)
        kind, op = self.take()
        if kind == "word":
            keyword = op.upper()
            if keyword == "IS":
                _, what = self.take()
                return _is(path, what.upper())
            if keyword == "NOT":
                _, what = self.take()
                if what.upper() != "EXISTS":
                    raise PatternError(f"Expected EXISTS after NOT in filter pattern, found {what!r}.")
                return lambda doc: _lookup(doc, path) is _MISSING
            if keyword == "EXISTS":
                return lambda doc: _lookup(doc, path) is not _MISSING
            raise PatternError(f"Expected an operator after {selector} in filter pattern, found {op!r}.")
        if op not in ("=", "!=", "<", "<=", ">", ">="):
            raise PatternError(f"Expected an operator after {selector} in filter pattern, found {op!r}.")
        vkind, raw = self.take()
        if vkind == "punct":
            raise PatternError(f"Expected a value after {selector} {op} in filter pattern, found {raw!r}.")
        return _compare(path, op, vkind, raw)


def _parse_path(selector: str) -> list[str | int]:
    rest = selector[1:]
    parts: list[str | int] = []
    pos = 0
    while pos < len(rest):
        m = _PATH_PART.match(rest, pos)
        if m is None:
            raise PatternError(f"Invalid selector in filter pattern: {selector}")
        parts.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        pos = m.end()
    if not parts:
        raise PatternError(f"Invalid selector in filter pattern: {selector}")
    return parts


def _lookup(doc: Any, path: list[str | int]) -> Any:
    cur = doc
    for part in path:
        if isinstance(part, int):
            if not isinstance(cur, list) or part >= len(cur):
                return _MISSING
            cur = cur[part]
        else:
            if not isinstance(cur, dict) or part not in cur:
                return _MISSING
            cur = cur[part]
    return cur


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _compare(path: list[str | int], op: str, kind: str, raw: str) -> Node:
    if kind == "word":
        try:
            number = float(raw)
        except ValueError:
            number = None
        if number is not None:
            return _numeric(path, op, number)
        text = raw
    else:
        text = orjson.loads(raw)  # a JSON string literal: unescapes \" and friends
    if op not in ("=", "!="):
        raise PatternError(f"Operator {op} needs a numeric value in filter pattern, found {raw}.")
    regex = re.compile("^" + ".*".join(re.escape(p) for p in text.split("*")) + "$", re.DOTALL)

    def string_match(doc: Any) -> bool:
        value = _lookup(doc, path)
        if value is _MISSING:
            return False
        if not isinstance(value, str):
            # Lenient: a non-string field is compared by its JSON text ({"code": 404} ~ "404").
            value = "null" if value is None else orjson.dumps(value).decode()
        equal = regex.match(value) is not None
        return equal if op == "=" else not equal

    return string_match


def _numeric(path: list[str | int], op: str, number: float) -> Node:
    def numeric_match(doc: Any) -> bool:
        value = _lookup(doc, path)
        if not _is_number(value):
            return False
        v = float(value)
        if op == "=":
            return v == number
        if op == "!=":
            return v != number
        if op == "<":
            return v < number
        if op == "<=":
            return v <= number
        if op == ">":
            return v > number
        return v >= number

    return numeric_match


def _is(path: list[str | int], what: str) -> Node:
    if what == "NULL":
        return lambda doc: _lookup(doc, path) is None
    if what == "TRUE":
        return lambda doc: _lookup(doc, path) is True
    if what == "FALSE":
        return lambda doc: _lookup(doc, path) is False
    raise PatternError(f"Expected NULL, TRUE or FALSE after IS in filter pattern, found {what!r}.")


def _and(a: Node, b: Node) -> Node:
    return lambda doc: a(doc) and b(doc)


def _or(a: Node, b: Node) -> Node:
    return lambda doc: a(doc) or b(doc)
