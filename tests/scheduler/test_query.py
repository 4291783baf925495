"""The cluster query language: parsing, evaluation and errors (pure, no server)."""

from __future__ import annotations

import pytest

from stowage.scheduler.query import And, Compare, Not, Or, QueryError, QueryTarget, evaluate, matches, parse

HOST = QueryTarget(
    attributes={
        "ecs.instance-type": "t2.micro",
        "ecs.availability-zone": "us-east-1a",
        "color": "blue",
        "gpu": None,
    },
    ec2_instance_id="i-0123456789abcdef0",
    registered_at=1_767_225_600.0,  # 2026-01-01T00:00:00Z
    running_tasks_count=3,
    task_groups=frozenset({"service:web", "family:batch"}),
)


def test_parse_builds_a_tree_with_and_binding_tighter_than_or() -> None:
    expr = parse("attribute:color == blue or runningTasksCount > 1 and not ec2InstanceId exists")
    assert expr == Or(
        Compare("attribute:color", "==", ("blue",)),
        And(Compare("runningTasksCount", ">", ("1",)), Not(Compare("ec2InstanceId", "exists"))),
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("attribute:ecs.instance-type == t2.micro", True),
        ("attribute:ecs.instance-type equals t2.micro", True),
        ("attribute:ecs.instance-type != t2.micro", False),
        ("attribute:ecs.instance-type =~ t2.*", True),
        ("attribute:ecs.instance-type matches m5.*", False),
        ("attribute:ecs.instance-type !~ m5.*", True),
        ("attribute:ecs.instance-type =~ *micro", True),
        ("attribute:ecs.availability-zone in [us-east-1a, us-east-1b]", True),
        ("attribute:ecs.availability-zone not_in ['us-east-1a']", False),
        ("attribute:ecs.availability-zone !in [us-east-1c]", True),
        ("attribute:color exists", True),
        ("attribute:gpu exists", True),
        ("attribute:missing exists", False),
        ("attribute:missing !exists", True),
        ("attribute:missing not_exists", True),
        ("attribute:missing == x", False),
        ("attribute:missing != x", True),
        ("ec2InstanceId == i-0123456789abcdef0", True),
        ("ec2InstanceId in ['i-1', \"i-0123456789abcdef0\"]", True),
        ("runningTasksCount > 2", True),
        ("runningTasksCount >= 3", True),
        ("runningTasksCount < 3", False),
        ("runningTasksCount <= 3", True),
        ("runningTasksCount == 3", True),
        ("runningTasksCount greater_than 10", False),
        ("registeredAt >= 2026-01-01", True),
        ("registeredAt < 2025-12-31T23:59:59Z", False),
        ("registeredAt > 2025-12-31T23:00:00-05:00", False),
        ("task:group == service:web", True),
        ("task:group == service:api", False),
        ("task:group != service:api", True),
        ("task:group != service:web", False),
        ("task:group =~ family:*", True),
        ("task:group exists", True),
        ("(attribute:color == red || attribute:color == blue) && runningTasksCount < 5", True),
        ("not (attribute:color == blue)", False),
        ("! attribute:color == blue", False),
        ("attribute:color == 'blue'", True),
    ],
)
def test_evaluate(text: str, expected: bool) -> None:
    assert matches(text, HOST) is expected


def test_an_empty_instance_has_no_groups_and_no_attributes() -> None:
    empty = QueryTarget()
    assert evaluate(parse("task:group exists"), empty) is False
    assert evaluate(parse("task:group != service:web"), empty) is True
    assert evaluate(parse("runningTasksCount == 0"), empty) is True
    assert evaluate(parse("ec2InstanceId exists"), empty) is False


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "attribute:",
        "color == blue",
        "attribute:color",
        "attribute:color ==",
        "attribute:color == blue and",
        "(attribute:color == blue",
        "attribute:color == blue)",
        "attribute:color in blue",
        "attribute:color in [blue",
        "attribute:color in [blue red]",
        "attribute:color ~ blue",
        "attribute:color == ==",
        "runningTasksCount > many",
        "attribute:color == blue extra",
        "x" * 2001,
    ],
)
def test_invalid_expressions_raise_query_error(text: str) -> None:
    with pytest.raises(QueryError) as exc:
        parse(text)
    assert str(exc.value).startswith("Invalid query expression")
    assert isinstance(exc.value, ValueError)
