"""Fuzzing the protocol layer over HTTP: random bodies and targets at every ECS operation.

Whatever arrives, the answer is never a 5xx, and every error is an AWS error body with a
``__type``. The server registers a handler for every ECS operation, so every input shape's
validator is reached. Half the bodies are built from the operation's own member names, so
the fuzzing gets past the top level into nested shapes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from botocore.loaders import Loader
from botocore.model import ServiceModel
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.api.aws.support import ECS_PREFIX, RawClient

MODEL = ServiceModel(Loader().load_service_model("ecs", "service-2"), "ecs")
OPERATIONS = sorted(MODEL.operation_names)
MEMBER_NAMES = sorted(
    {
        name
        for op in OPERATIONS
        for shape in [MODEL.operation_model(op).input_shape]
        if shape
        for name in shape.members
    }
    | {"name", "image", "key", "value", "cpu", "memory", "essential", "tags", "containerDefinitions"}
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.sampled_from(["x" * 5000, "EC2", "FARGATE", "ENABLED", "", "arn:aws:ecs:us-east-1:1:cluster/x"]),
)
keys = st.one_of(st.sampled_from(MEMBER_NAMES), st.text(max_size=10))
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)),
    max_leaves=25,
)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["object", "object", "any", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=64))
    value = draw(st.dictionaries(keys, json_values, max_size=6) if kind == "object" else json_values)
    # The stdlib encoder, unlike orjson, writes integers past 64 bits and lone surrogates.
    return json.dumps(value).encode()


targets = st.one_of(
    st.sampled_from(OPERATIONS).map(lambda op: f"{ECS_PREFIX}.{op}"),
    st.sampled_from(OPERATIONS).map(lambda op: f"{ECS_PREFIX}.{op}"),
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=40),
)


@pytest.fixture(scope="module")
def client(fuzz_host: str) -> Iterator[RawClient]:
    c = RawClient(fuzz_host)
    yield c
    c.close()


def check(resp: Any) -> None:
    assert resp.status < 500, (resp.status, resp.body)
    body = orjson.loads(resp.body)
    assert isinstance(body, dict)
    if resp.status != 200:
        assert isinstance(body.get("__type"), str) and body["__type"], body
        assert isinstance(body.get("message"), str), body
    assert resp.headers["x-amzn-requestid"]


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(target=targets, body=bodies())
def test_random_bodies_and_targets_never_5xx(client: RawClient, target: str, body: bytes) -> None:
    resp = client.call(target, raw=body)
    check(resp)
    event(f"{resp.status} {orjson.loads(resp.body).get('__type', 'ok')}")


@pytest.mark.parametrize("operation", OPERATIONS)
def test_every_operation_accepts_an_empty_object_or_names_the_missing_members(
    client: RawClient, operation: str
) -> None:
    resp = client.call(operation, {})
    check(resp)
    shape = MODEL.operation_model(operation).input_shape
    required = list(shape.required_members) if shape else []
    if required:
        body = orjson.loads(resp.body)
        assert body["__type"] == "InvalidParameterException"
        for member in required:
            assert f"Value null at '{member}'" in body["message"]
    else:
        assert resp.status == 200
