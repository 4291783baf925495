"""The ECS cluster query language: a parser to an expression tree, and its evaluator.

ListContainerInstances' ``filter`` and ``memberOf`` placement constraints use it::

    attribute:ecs.instance-type =~ t2.* and (runningTasksCount < 4 or not task:group == web)
    ec2InstanceId in ['i-0123456789abcdef0', i-0fedcba9876543210]
    attribute:color exists && registeredAt >= 2026-01-01

Subjects: ``attribute:NAME``, ``ec2InstanceId``, ``registeredAt``, ``runningTasksCount``,
``task:group`` (true when *some* task on the instance matches; ``!=``/``not_in``/``!~`` are true
when *none* does). Operators, with ECS's word aliases: ``==`` equals, ``!=`` not_equals, ``>``
greater_than, ``>=`` greater_than_equal, ``<`` less_than, ``<=`` less_than_equal, ``exists``,
``!exists`` not_exists, ``in``, ``!in`` not_in, ``=~`` matches, ``!~`` not_matches (``*`` is the
only wildcard, the whole value must match). Combine with ``and``/``&&``, ``or``/``||``,
``not``/``!`` and parentheses; ``and`` binds tighter than ``or``. Ordering compares numbers as
numbers, ``registeredAt`` as a date or date-time (UTC unless an offset is given), anything else as
text. A comparison on an attribute the instance lacks is false, except the negative operators,
which are true.

Pure: ``parse`` raises ``QueryError`` (a ``ValueError`` whose message is the API's), ``evaluate``
never raises. The scheduler reuses both for placement constraints.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

MAX_LENGTH = 2000


class QueryError(ValueError):
    """The expression is not valid cluster query language; ``str(exc)`` says why."""


@dataclass(frozen=True, slots=True)
class QueryTarget:
    """What an expression can see of one container instance."""

    attributes: Mapping[str, str | None] = field(default_factory=dict)
    ec2_instance_id: str | None = None
    registered_at: float | None = None
    running_tasks_count: int = 0
    task_groups: frozenset[str] = frozenset()


# -- tree ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Compare:
    subject: str
    """``attribute:NAME`` or one of the fixed subjects."""
    op: str
    """Canonical: == != > >= < <= exists not_exists in not_in =~ !~"""
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class And:
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Or:
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr


Expr = Compare | And | Or | Not

_FIXED_SUBJECTS = frozenset({"ec2InstanceId", "registeredAt", "runningTasksCount", "task:group"})
_BINARY = {
    "==": "==",
    "equals": "==",
    "!=": "!=",
    "not_equals": "!=",
    ">": ">",
    "greater_than": ">",
    ">=": ">=",
    "greater_than_equal": ">=",
    "<": "<",
    "less_than": "<",
    "<=": "<=",
    "less_than_equal": "<=",
    "=~": "=~",
    "matches": "=~",
    "!~": "!~",
    "not_matches": "!~",
}
_LIST = {"in": "in", "not_in": "not_in"}
_UNARY = {"exists": "exists", "not_exists": "not_exists"}
_NEGATIVE = frozenset({"!=", "not_in", "!~", "not_exists"})

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<op>==|!=|>=|<=|=~|!~|&&|\|\||>|<|\(|\)|\[|\]|,|!)
      | '(?P<sq>[^']*)'
      | "(?P<dq>[^"]*)"
      | (?P<word>[^\s()\[\],'"=!<>~&|]+)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str
    """``op``, ``str`` (quoted) or ``word``."""
    text: str


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise QueryError(f"Invalid query expression: unexpected character at position {pos}.")
        if m["op"] is not None:
            out.append(_Tok("op", m["op"]))
        elif m["sq"] is not None or m["dq"] is not None:
            out.append(_Tok("str", m["sq"] if m["sq"] is not None else m["dq"]))
        else:
            out.append(_Tok("word", m["word"]))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, tokens: list[_Tok]) -> None:
        self.toks = tokens
        self.i = 0

    def peek(self, offset: int = 0) -> _Tok | None:
        j = self.i + offset
        return self.toks[j] if j < len(self.toks) else None

    def take(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise QueryError("Invalid query expression: unexpected end of expression.")
        self.i += 1
        return tok

    def is_(self, *texts: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind != "str" and tok.text in texts

    def parse(self) -> Expr:
        if not self.toks:
            raise QueryError("Invalid query expression: the expression is empty.")
        expr = self.or_()
        if self.peek() is not None:
            raise QueryError(f"Invalid query expression: unexpected '{self.take().text}'.")
        return expr

    def or_(self) -> Expr:
        left = self.and_()
        while self.is_("or", "||"):
            self.take()
            left = Or(left, self.and_())
        return left

    def and_(self) -> Expr:
        left = self.unary()
        while self.is_("and", "&&"):
            self.take()
            left = And(left, self.unary())
        return left

    def unary(self) -> Expr:
        if self.is_("not", "!"):
            self.take()
            return Not(self.unary())
        if self.is_("("):
            self.take()
            inner = self.or_()
            if not self.is_(")"):
                raise QueryError("Invalid query expression: missing ')'.")
            self.take()
            return inner
        return self.comparison()

    def comparison(self) -> Compare:
        tok = self.take()
        if tok.kind != "word" or not _valid_subject(tok.text):
            raise QueryError(f"Invalid query expression: '{tok.text}' is not a valid subject.")
        subject = tok.text
        op_tok = self.take()
        op = op_tok.text if op_tok.kind != "str" else ""
        if op == "!" and self.is_("exists", "in"):  # the "!exists" / "!in" spellings
            op = "not_" + self.take().text
        if op in _UNARY:
            return Compare(subject, _UNARY[op])
        if op in _LIST:
            return Compare(subject, _LIST[op], self.value_list())
        if op in _BINARY:
            value = self.take()
            if value.kind == "op":
                raise QueryError(f"Invalid query expression: expected a value after '{op_tok.text}'.")
            canonical = _BINARY[op]
            if canonical in (">", ">=", "<", "<=") and subject == "runningTasksCount":
                _number(value.text)
            return Compare(subject, canonical, (value.text,))
        raise QueryError(f"Invalid query expression: '{op_tok.text}' is not a valid operator.")

    def value_list(self) -> tuple[str, ...]:
        if not self.is_("["):
            raise QueryError("Invalid query expression: expected '[' to start a list of values.")
        self.take()
        values: list[str] = []
        while True:
            tok = self.take()
            if tok.kind == "op":
                raise QueryError("Invalid query expression: expected a value in the list.")
            values.append(tok.text)
            sep = self.take()
            if sep.kind == "op" and sep.text == "]":
                return tuple(values)
            if not (sep.kind == "op" and sep.text == ","):
                raise QueryError("Invalid query expression: expected ',' or ']' in the list.")


def _valid_subject(text: str) -> bool:
    if text in _FIXED_SUBJECTS:
        return True
    return text.startswith("attribute:") and len(text) > len("attribute:")


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise QueryError(f"Invalid query expression: '{text}' is not a number.") from None


def parse(text: str) -> Expr:
    if len(text) > MAX_LENGTH:
        raise QueryError(f"Invalid query expression: longer than {MAX_LENGTH} characters.")
    return _Parser(_tokens(text)).parse()


# -- evaluation ------------------------------------------------------------------------------
def evaluate(expr: Expr, target: QueryTarget) -> bool:
    if isinstance(expr, And):
        return evaluate(expr.left, target) and evaluate(expr.right, target)
    if isinstance(expr, Or):
        return evaluate(expr.left, target) or evaluate(expr.right, target)
    if isinstance(expr, Not):
        return not evaluate(expr.operand, target)
    return _compare(expr, target)


def matches(text: str, target: QueryTarget) -> bool:
    """Parse and evaluate in one step (callers evaluating many targets parse once)."""
    return evaluate(parse(text), target)


def _subject_values(subject: str, target: QueryTarget) -> list[str] | None:
    """The subject's values on the target (several for task:group), None when absent."""
    if subject.startswith("attribute:"):
        name = subject[len("attribute:") :]
        if name not in target.attributes:
            return None
        value = target.attributes[name]
        return [value if value is not None else ""]
    if subject == "ec2InstanceId":
        return None if target.ec2_instance_id is None else [target.ec2_instance_id]
    if subject == "registeredAt":
        return None if target.registered_at is None else [repr(target.registered_at)]
    if subject == "runningTasksCount":
        return [str(target.running_tasks_count)]
    return sorted(target.task_groups) or None  # task:group


def _compare(expr: Compare, target: QueryTarget) -> bool:
    values = _subject_values(expr.subject, target)
    if expr.op in ("exists", "not_exists"):
        return (values is not None) == (expr.op == "exists")
    if values is None:
        return expr.op in _NEGATIVE
    if expr.op in _NEGATIVE:
        positive = {"!=": "==", "not_in": "in", "!~": "=~"}[expr.op]
        return not any(_test(positive, v, expr.values, expr.subject) for v in values)
    return any(_test(expr.op, v, expr.values, expr.subject) for v in values)


def _test(op: str, value: str, operands: tuple[str, ...], subject: str) -> bool:
    if op == "in":
        return any(_equal(value, o, subject) for o in operands)
    operand = operands[0]
    if op == "==":
        return _equal(value, operand, subject)
    if op == "=~":
        return _wildcard(operand).fullmatch(value) is not None
    key = _ORDERINGS[op]
    left, right = _ordered(value, operand, subject)
    if left is None or right is None:
        return False
    return key(left, right)


_ORDERINGS: dict[str, Callable[[float | str, float | str], bool]] = {
    ">": lambda a, b: a > b,  # type: ignore[operator]
    ">=": lambda a, b: a >= b,  # type: ignore[operator]
    "<": lambda a, b: a < b,  # type: ignore[operator]
    "<=": lambda a, b: a <= b,  # type: ignore[operator]
}


def _equal(value: str, operand: str, subject: str) -> bool:
    if subject in ("registeredAt", "runningTasksCount"):
        left, right = _ordered(value, operand, subject)
        return left is not None and left == right
    return value == operand


def _ordered(value: str, operand: str, subject: str) -> tuple[float | str | None, float | str | None]:
    if subject == "registeredAt":
        return float(value), _date(operand)
    try:
        return float(value), float(operand)
    except ValueError:
        return value, operand


def _date(text: str) -> float | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _wildcard(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)
