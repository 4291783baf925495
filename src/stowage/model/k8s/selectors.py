"""Label and field selectors: the ``labelSelector``/``fieldSelector`` query grammar and the
``LabelSelector`` object (``matchLabels``/``matchExpressions``) that workloads carry.

Label selector grammar (apimachinery ``labels.Parse``): comma-separated requirements, each one
of ``key``, ``!key``, ``key=v``, ``key==v``, ``key!=v``, ``key in (a,b)``, ``key notin (a,b)``,
``key>n``, ``key<n``. An object matches when it satisfies every requirement. Field selectors
are ``field=v``, ``field==v``, ``field!=v`` joined by commas, with ``\\`` escaping.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from stowage.model.k8s.errors import K8sError, bad_request

_KEY = re.compile(r"^([a-z0-9A-Z]([-a-z0-9A-Z.]*[a-z0-9A-Z])?/)?[a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?$")
_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    op: str  # exists, !, =, !=, in, notin, gt, lt
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        has = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return has
        if self.op == "!":
            return not has
        if self.op in ("=", "in"):
            return has and value in self.values
        if self.op in ("!=", "notin"):
            # like Kubernetes: a missing key satisfies != and notin
            return not has or value not in self.values
        if self.op in ("gt", "lt"):
            try:
                have, want = int(value or ""), int(self.values[0])
            except ValueError:
                return False
            return have > want if self.op == "gt" else have < want
        return False


@dataclass(frozen=True, slots=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements


_TOKEN = re.compile(r"\s*(!=|==|=|!|\(|\)|,|>|<|[^\s!=,()<>]+)")


def _check_key(key: str) -> None:
    name = key.rsplit("/", 1)[-1]
    if not _KEY.match(key) or len(name) > 63:
        raise bad_request(f"unable to parse requirement: invalid label key {key!r}")


def _check_value(value: str) -> None:
    if len(value) > 63 or not _VALUE.match(value):
        raise bad_request(f"unable to parse requirement: invalid label value {value!r}")


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse a ``labelSelector`` query value; raises a 400 ``K8sError`` on bad syntax."""
    if not text or not text.strip():
        return LabelSelector()
    tokens: list[str] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or not m.group(1):
            if text[pos:].strip() == "":
                break
            raise bad_request(f"unable to parse label selector {text!r}")
        tokens.append(m.group(1))
        pos = m.end()
    reqs: list[Requirement] = []
    i = 0

    def take() -> str:
        nonlocal i
        if i >= len(tokens):
            raise bad_request(f"unable to parse label selector {text!r}: unexpected end")
        i += 1
        return tokens[i - 1]

    while i < len(tokens):
        tok = take()
        if tok == "!":
            key = take()
            _check_key(key)
            reqs.append(Requirement(key, "!"))
        else:
            key = tok
            _check_key(key)
            nxt = tokens[i] if i < len(tokens) else ","
            if nxt == ",":
                reqs.append(Requirement(key, "exists"))
            elif nxt in ("=", "==", "!="):
                i += 1
                value = tokens[i] if i < len(tokens) and tokens[i] != "," else ""
                if value:
                    i += 1
                _check_value(value)
                reqs.append(Requirement(key, "!=" if nxt == "!=" else "=", (value,)))
            elif nxt in (">", "<"):
                i += 1
                value = take()
                if not value.lstrip("-").isdigit():
                    raise bad_request(f"unable to parse requirement: {value!r} is not an integer")
                reqs.append(Requirement(key, "gt" if nxt == ">" else "lt", (value,)))
            elif nxt in ("in", "notin"):
                i += 1
                if take() != "(":
                    raise bad_request(f"unable to parse label selector {text!r}: expected '('")
                values: list[str] = []
                while True:
                    tok = take()
                    if tok == ")":
                        break
                    if tok == ",":
                        continue
                    _check_value(tok)
                    values.append(tok)
                reqs.append(Requirement(key, nxt, tuple(values)))
            else:
                raise bad_request(f"unable to parse label selector {text!r} near {nxt!r}")
        if i < len(tokens):
            if tokens[i] != ",":
                raise bad_request(f"unable to parse label selector {text!r} near {tokens[i]!r}")
            i += 1
    return LabelSelector(tuple(reqs))


_EXPR_OPS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}


def selector_from_object(obj: Mapping[str, Any] | None) -> LabelSelector:
    """A ``metav1.LabelSelector`` (``matchLabels`` + ``matchExpressions``) as a selector."""
    if not obj:
        return LabelSelector()
    reqs = [Requirement(k, "=", (str(v),)) for k, v in (obj.get("matchLabels") or {}).items()]
    for expr in obj.get("matchExpressions") or []:
        op = _EXPR_OPS.get(str(expr.get("operator")))
        if op is None:
            raise bad_request(f"{expr.get('operator')!r} is not a valid label selector operator")
        reqs.append(Requirement(str(expr.get("key")), op, tuple(str(v) for v in expr.get("values") or [])))
    return LabelSelector(tuple(reqs))


# -- field selectors ---------------------------------------------------------------------------

FieldGetter = Callable[[Mapping[str, Any]], str | None]


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    field: str
    value: str
    equal: bool


@dataclass(frozen=True, slots=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, obj: Mapping[str, Any], getters: Mapping[str, FieldGetter]) -> bool:
        for r in self.requirements:
            have = getters[r.field](obj) or ""
            if (have == r.value) != r.equal:
                return False
        return True

    def check(self, getters: Mapping[str, FieldGetter], kind: str) -> None:
        """Reject fields this resource does not index, with the API server's message."""
        for r in self.requirements:
            if r.field not in getters:
                raise K8sError(
                    400,
                    "BadRequest",
                    f"field label not supported: {r.field}",
                    {"kind": kind},
                )


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, cur, esc = [], [], False
    for ch in text:
        if esc:
            cur.append(ch)
            esc = False
        elif ch == "\\":
            cur.append(ch)
            esc = True
        elif ch == sep:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def parse_field_selector(text: str | None) -> FieldSelector:
    if not text or not text.strip():
        return FieldSelector()
    reqs: list[FieldRequirement] = []
    for raw_part in _split_unescaped(text, ","):
        part = raw_part.strip()
        if not part:
            continue
        m = re.match(r"^(.*?)(?<!\\)(!=|==|=)(.*)$", part)
        if not m or not m.group(1):
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        reqs.append(FieldRequirement(m.group(1).strip(), _unescape(m.group(3)), m.group(2) != "!="))
    return FieldSelector(tuple(reqs))
