"""Shape compilation in process: the serializer's contract with handlers, and validator edges."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from stowage.api.aws.app import STRICT_ENV, AwsApi
from stowage.api.aws.catalog import build_catalog, load_model
from stowage.api.aws.serialize import OutputCompiler, OutputShapeError
from stowage.api.aws.service import AwsService
from stowage.api.aws.shapes import ConstraintErrors, InputCompiler, TypeMismatch
from tests.api.aws.support import lookup

ECS = load_model("ecs")
LOGS = load_model("logs")


def output_of(model: Any, op: str, *, strict: bool) -> Any:
    fn = OutputCompiler(strict=strict).compile(model.operation_model(op).output_shape)
    assert fn is not None
    return fn


def input_of(model: Any, op: str) -> Any:
    return InputCompiler().compile(model.operation_model(op).input_shape)


def test_serializer_drops_none_and_unknown_members_when_lenient() -> None:
    out = output_of(ECS, "DescribeClusters", strict=False)
    result = out({"clusters": [{"clusterName": "a", "status": None, "internalField": 1}], "extra": 2})
    assert result == {"clusters": [{"clusterName": "a"}]}


def test_serializer_raises_on_unknown_member_or_wrong_type_when_strict() -> None:
    out = output_of(ECS, "DescribeClusters", strict=True)
    with pytest.raises(OutputShapeError, match="internalField"):
        out({"clusters": [{"clusterName": "a", "internalField": 1}]})
    with pytest.raises(OutputShapeError, match="runningTasksCount"):
        out({"clusters": [{"runningTasksCount": "3"}]})
    with pytest.raises(OutputShapeError):
        out({"clusters": {"clusterName": "a"}})


def test_timestamps_become_epoch_seconds() -> None:
    out = output_of(ECS, "DescribeTasks", strict=True)
    naive = datetime(2024, 1, 1, 0, 0, 1)  # naive is UTC, never local time
    aware = datetime(2024, 1, 1, 0, 0, 2, tzinfo=UTC)
    result = out({"tasks": [{"createdAt": naive, "startedAt": aware, "stoppedAt": 1704067203}]})
    assert result == {
        "tasks": [{"createdAt": 1704067201.0, "startedAt": 1704067202.0, "stoppedAt": 1704067203.0}]
    }


def test_blob_output_is_base64() -> None:
    out = output_of(LOGS, "GetLogRecord", strict=False)  # logRecord is a map of strings: passes through
    assert out({"logRecord": {"a": "b"}}) == {"logRecord": {"a": "b"}}


def test_validator_converts_and_drops_unknowns() -> None:
    validate = input_of(ECS, "ListTasks")
    assert validate({"cluster": "c", "maxResults": 5, "bogus": 1, "family": None}) == {
        "cluster": "c",
        "maxResults": 5,
    }


def test_validator_reports_every_constraint_with_coral_paths() -> None:
    validate = input_of(ECS, "RegisterTaskDefinition")
    with pytest.raises(ConstraintErrors) as info:
        validate(
            {"containerDefinitions": [{"name": "a", "portMappings": [{"protocol": "sctp"}]}], "tags": [{}]}
        )
    message = info.value.message()
    assert message.startswith("2 validation errors detected: ")
    assert "Value null at 'family' failed to satisfy constraint: Member must not be null" in message
    assert (
        "Value 'sctp' at 'containerDefinitions.1.member.portMappings.1.member.protocol' failed to satisfy "
        "constraint: Member must satisfy enum value set: [tcp, udp]"
    ) in message


def test_integer_ranges_and_bool_is_not_a_number() -> None:
    validate = input_of(LOGS, "DescribeLogGroups")
    with pytest.raises(ConstraintErrors, match="greater than or equal to 1"):
        validate({"limit": 0})
    with pytest.raises(TypeMismatch, match="VALUE_BOOLEAN can not be converted to Integer"):
        validate({"limit": True})
    with pytest.raises(TypeMismatch):
        validate({"limit": 2.5})


def test_strict_mode_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    async def bad(ctx: Any, params: Any) -> Any:
        return {}

    monkeypatch.setenv(STRICT_ENV, "1")
    assert build_catalog([AwsService("ecs", {})], strict=True).operations == {}
    api = AwsApi([AwsService("ecs", {"ListClusters": bad})], lookup)
    op = api.catalog.operations["AmazonEC2ContainerServiceV20141113.ListClusters"]
    assert op.serialize is not None
    with pytest.raises(OutputShapeError):
        op.serialize({"clusterArns": [1]})
    monkeypatch.setenv(STRICT_ENV, "0")
    lenient = AwsApi([AwsService("ecs", {"ListClusters": bad})], lookup)
    lenient_op = lenient.catalog.operations["AmazonEC2ContainerServiceV20141113.ListClusters"]
    assert lenient_op.serialize is None or lenient_op.serialize({"clusterArns": ["a"], "x": 1}) == {
        "clusterArns": ["a"]
    }
