"""ECS resource tags: the rules every taggable resource shares, and merge/remove arithmetic.

Tags are stored on every record as ``[{"key": k, "value": v}]`` in the order they were first
set. The rules are ECS's: at most 50 user tags per resource, keys 1..128 and values 0..256
characters of letters, digits, spaces and ``+ - = . _ : / @``, and the ``aws:`` prefix (in any
case) reserved for AWS on keys and values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from stowage.model.validation import Invalid

MAX_TAGS = 50
MAX_KEY_LENGTH = 128
MAX_VALUE_LENGTH = 256
_ALLOWED_PUNCTUATION = frozenset("+-=._:/@")

Tag = dict[str, str]


class TagError(Invalid):
    """A tag list breaks a rule; the message is what the API answers."""


def _allowed(text: str) -> bool:
    return all(ch.isalnum() or ch.isspace() or ch in _ALLOWED_PUNCTUATION for ch in text)


def _reserved(text: str) -> bool:
    return text.lower().startswith("aws:")


def check_tag(tag: Mapping[str, Any]) -> Tag:
    """One request tag as stored; raises ``TagError`` if it breaks a rule."""
    key = tag.get("key")
    value = tag.get("value", "")
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise TagError(f"Tag keys must be between 1 and {MAX_KEY_LENGTH} characters in length.")
    if not isinstance(value, str) or len(value) > MAX_VALUE_LENGTH:
        raise TagError(f"Tag values must be at most {MAX_VALUE_LENGTH} characters in length.")
    if not _allowed(key) or not _allowed(value):
        raise TagError(
            "Tag keys and values can only contain letters, numbers, spaces and the characters "
            "+ - = . _ : / @."
        )
    if _reserved(key) or _reserved(value):
        raise TagError("Tag keys and values prefixed with 'aws:' are reserved for AWS use.")
    return {"key": key, "value": value}


def check_tags(tags: Sequence[Mapping[str, Any]]) -> list[Tag]:
    """A request's tag list, validated, with no duplicate keys."""
    out: list[Tag] = []
    seen: set[str] = set()
    for raw in tags:
        tag = check_tag(raw)
        if tag["key"] in seen:
            raise TagError(f"Duplicate tag key '{tag['key']}' in the request.")
        seen.add(tag["key"])
        out.append(tag)
    if len(out) > MAX_TAGS:
        raise TagError(f"A resource can have at most {MAX_TAGS} tags.")
    return out


def merge_tags(existing: Iterable[Mapping[str, str]], new: Sequence[Tag]) -> list[Tag]:
    """``existing`` with ``new`` applied: same key overwrites in place, new keys append.
    Raises ``TagError`` if the result would pass the per-resource limit."""
    merged: dict[str, str] = {t["key"]: t.get("value", "") for t in existing}
    for tag in new:
        merged[tag["key"]] = tag["value"]
    if sum(1 for k in merged if not _reserved(k)) > MAX_TAGS:
        raise TagError(f"A resource can have at most {MAX_TAGS} tags.")
    return [{"key": k, "value": v} for k, v in merged.items()]


def remove_tags(existing: Iterable[Mapping[str, str]], keys: Iterable[str]) -> list[Tag]:
    drop = set(keys)
    return [{"key": t["key"], "value": t.get("value", "")} for t in existing if t["key"] not in drop]


def check_tag_keys(keys: Sequence[str]) -> None:
    for key in keys:
        if not 1 <= len(key) <= MAX_KEY_LENGTH:
            raise TagError(f"Tag keys must be between 1 and {MAX_KEY_LENGTH} characters in length.")
        if _reserved(key):
            raise TagError("Tag keys prefixed with 'aws:' are reserved for AWS use.")
