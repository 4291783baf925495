"""Every protocol-level error, over raw HTTP, with the exact ``__type`` and status AWS sends."""

from __future__ import annotations

import http.client
import uuid
from typing import Any

import orjson
import pytest

from tests.api.aws.conftest import make_client
from tests.api.aws.support import ECS_PREFIX, RawClient, Response, sign


def assert_error(resp: Response, status: int, code: str, contains: str = "") -> dict[str, Any]:
    assert resp.status == status, (resp.status, resp.body)
    body: dict[str, Any] = resp.json()
    assert body["__type"] == code
    assert isinstance(body["message"], str)
    assert contains in body["message"]
    assert uuid.UUID(resp.headers["x-amzn-requestid"])
    assert resp.headers["content-type"] == "application/x-amz-json-1.1"
    return body


# ---- routing


def test_unknown_operation(raw: RawClient) -> None:
    assert_error(raw.call("DescribeUnicorns"), 400, "UnknownOperationException")


def test_unknown_target_prefix(raw: RawClient) -> None:
    assert_error(raw.call("DynamoDB_20120810.ListTables"), 400, "UnknownOperationException")


def test_model_operation_without_handler_is_unknown(raw: RawClient) -> None:
    assert_error(raw.call("ListServices", {"cluster": "x"}), 400, "UnknownOperationException")


def test_missing_target(raw: RawClient) -> None:
    assert_error(raw.call(""), 400, "UnknownOperationException", "X-Amz-Target")


def test_wrong_content_type(raw: RawClient) -> None:
    resp = raw.call("ListClusters", {}, content_type="application/x-www-form-urlencoded")
    assert_error(resp, 400, "UnknownOperationException", "Content-Type")


@pytest.mark.parametrize(("method", "path"), [("GET", "/"), ("PUT", "/"), ("POST", "/v1/clusters")])
def test_wrong_method_or_path(raw: RawClient, method: str, path: str) -> None:
    headers = sign(raw.host, f"{ECS_PREFIX}.ListClusters", b"{}")
    assert_error(raw.request(method, path, b"{}", headers), 404, "UnknownOperationException")


# ---- body


def test_oversized_body_is_413_before_reading_it(raw: RawClient) -> None:
    body = orjson.dumps({"clusterName": "x" * (65 * 1024)})
    assert_error(raw.call("CreateCluster", raw=body), 413, "RequestEntityTooLargeException")
    # The connection (or a fresh one) still works afterwards.
    assert raw.call("ListClusters").status == 200


@pytest.mark.parametrize(
    "body",
    [b"{", b"not json", b'{"clusters": [1,}', b"\xff\xfe", b"[" * 2000, b'{"a": NaN}'],
    ids=["truncated", "text", "trailing-comma", "bad-utf8", "too-deep", "nan"],
)
def test_malformed_json_is_serialization_exception(raw: RawClient, body: bytes) -> None:
    assert_error(raw.call("DescribeClusters", raw=body), 400, "SerializationException")


@pytest.mark.parametrize("body", [b"[]", b"1", b'"s"', b"null", b"true"])
def test_body_that_is_not_an_object(raw: RawClient, body: bytes) -> None:
    assert_error(raw.call("ListClusters", raw=body), 400, "SerializationException")


def test_empty_body_means_no_parameters(raw: RawClient) -> None:
    assert raw.call("ListClusters", raw=b"").status == 200


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"clusters": "default"}, "STRING_VALUE can not be converted to a list"),
        ({"clusters": [1]}, "NUMBER_VALUE can not be converted to String"),
        ({"clusters": [{"a": 1}]}, "Start of structure or map"),
        ({"clusters": [], "include": [True]}, "VALUE_BOOLEAN"),
    ],
)
def test_wrong_types_are_serialization_exception(raw: RawClient, payload: Any, fragment: str) -> None:
    assert_error(raw.call("DescribeClusters", payload), 400, "SerializationException", fragment)


def test_wrong_nested_types(raw: RawClient) -> None:
    resp = raw.call("CreateCluster", {"clusterName": "x", "tags": [{"key": "k", "value": 5}]})
    assert_error(resp, 400, "SerializationException", "tags.1.member.value")
    resp = raw.call("ListClusters", {"maxResults": "10"})
    assert_error(resp, 400, "SerializationException", "Integer")
    resp = raw.call("ListClusters", {"maxResults": 2**40})
    assert_error(resp, 400, "SerializationException", "out of range")


# ---- validation (ECS answers InvalidParameterException, the code every ECS operation lists)


def test_missing_required_member(raw: RawClient) -> None:
    body = assert_error(raw.call("DeleteCluster", {}), 400, "InvalidParameterException")
    assert body["message"] == (
        "1 validation error detected: Value null at 'cluster' failed to satisfy constraint: "
        "Member must not be null"
    )


def test_null_counts_as_missing(raw: RawClient) -> None:
    assert_error(raw.call("DeleteCluster", {"cluster": None}), 400, "InvalidParameterException", "'cluster'")


def test_enum_and_length_errors_are_collected(raw: RawClient) -> None:
    payload = {"clusterName": "ok", "tags": [{"key": "", "value": "v" * 300}], "defaults": None}
    body = assert_error(raw.call("CreateCluster", payload), 400, "InvalidParameterException")
    assert body["message"].startswith("2 validation errors detected: ")
    constraint = "failed to satisfy constraint: Member must have length"
    assert f"at 'tags.1.member.key' {constraint} greater than or equal to 1" in body["message"]
    assert f"at 'tags.1.member.value' {constraint} less than or equal to 256" in body["message"]

    resp = raw.call("DescribeClusters", {"include": ["TAGS", "COLOURS"]})
    assert_error(resp, 400, "InvalidParameterException", "Member must satisfy enum value set: [")


def test_unknown_members_are_ignored(raw: RawClient) -> None:
    resp = raw.call("ListClusters", {"maxResults": 5, "someFutureMember": {"x": [1, 2]}})
    assert resp.status == 200


def test_botocore_sees_validation_as_modelled_exception(host: str) -> None:
    ecs = make_client(host, validate=False)  # skip client-side checks so the server's are hit
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.delete_cluster()


def _chunked(host: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """POST a signed body with chunked transfer encoding (no Content-Length to check up front)."""
    conn = http.client.HTTPConnection(host, timeout=10)
    try:
        headers = sign(host, f"{ECS_PREFIX}.CreateCluster", body)
        chunks = [body[i : i + 4096] for i in range(0, len(body), 4096)]
        conn.request("POST", "/", body=iter(chunks), headers=headers, encode_chunked=True)
        resp = conn.getresponse()
        return resp.status, orjson.loads(resp.read())
    finally:
        conn.close()


def test_chunked_body_is_read_and_limited_while_streaming(host: str) -> None:
    status, body = _chunked(host, orjson.dumps({"clusterName": "chunked"}))
    assert (status, body["cluster"]["clusterName"]) == (200, "chunked")
    status, body = _chunked(host, orjson.dumps({"clusterName": "x" * (100 * 1024)}))
    assert (status, body["__type"]) == (413, "RequestEntityTooLargeException")
