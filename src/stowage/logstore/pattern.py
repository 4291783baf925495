"""CloudWatch Logs filter patterns: parse one into a predicate over an event's message.

Supported, as CloudWatch Logs documents them (all matching is case-sensitive):

- ``""`` (or only spaces): every event.
- Terms: ``ERROR Exception`` : every term must occur in the message; ``"out of memory"`` : a
  quoted phrase is one term; ``-DEBUG`` : the term must not occur; ``?ERROR ?WARN`` : at least one
  of the ``?`` terms must occur (together with any plain terms, which must all occur).
- Regular expressions: ``%ERROR|WARN%`` : the message contains a match.
- JSON: ``{ $.level = "error" && ($.status >= 500 || $.retry IS TRUE) }`` : see jsonpattern.py.

Space-delimited patterns (``[ip, user, ...]``) are not supported: they raise PatternError, so a
caller is told rather than silently shown nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from stowage.logstore.jsonpattern import compile_json_pattern
from stowage.logstore.patternerror import PatternError

Matcher = Callable[[str], bool]

__all__ = ["Matcher", "PatternError", "compile_pattern"]


def compile_pattern(text: str | None) -> Matcher | None:
    """A predicate for ``text``, or None when the pattern matches everything."""
    if text is None or not text.strip():
        return None
    stripped = text.strip()
    if stripped.startswith("{"):
        return compile_json_pattern(stripped)
    if len(stripped) >= 2 and stripped.startswith("%") and stripped.endswith("%"):
        try:
            regex = re.compile(stripped[1:-1])
        except re.error as exc:
            raise PatternError(f"Invalid regular expression: {exc}") from None
        return lambda message: regex.search(message) is not None
    if stripped.startswith("["):
        raise PatternError("Space-delimited filter patterns are not supported by this server.")
    return _compile_terms(stripped)


def _compile_terms(text: str) -> Matcher:
    required: list[str] = []
    excluded: list[str] = []
    optional: list[str] = []
    for sign, term in _terms(text):
        {"": required, "-": excluded, "?": optional}[sign].append(term)

    def match(message: str) -> bool:
        if any(t in message for t in excluded):
            return False
        if not all(t in message for t in required):
            return False
        return not optional or any(t in message for t in optional)

    return match


def _terms(text: str) -> list[tuple[str, str]]:
    """(sign, term) pairs; sign is '', '-' or '?'."""
    out: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        sign = ""
        if text[i] in "-?" and i + 1 < n and not text[i + 1].isspace():
            sign = text[i]
            i += 1
        if text[i] == '"':
            term, i = _quoted(text, i)
        else:
            j = i
            while j < n and not text[j].isspace():
                j += 1
            term, i = text[i:j], j
        if term:
            out.append((sign, term))
    return out


def _quoted(text: str, i: int) -> tuple[str, int]:
    """The phrase in double quotes starting at ``text[i]``, and the index after it."""
    chars: list[str] = []
    j = i + 1
    while j < len(text):
        c = text[j]
        if c == "\\" and j + 1 < len(text):
            chars.append(text[j + 1])
            j += 2
            continue
        if c == '"':
            return "".join(chars), j + 1
        chars.append(c)
        j += 1
    raise PatternError(f"Unterminated quoted term in filter pattern: {text[i:]}")
