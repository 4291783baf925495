"""RPC v2 CBOR on the wire: hand-made requests for what boto3 never sends (malformed CBOR,
missing headers, odd paths), and the exact bytes and headers of the answers."""

from __future__ import annotations

from typing import Any

import cbor2
import pytest

from tests.api.aws.support import RawClient
from tests.api.aws_protocols.support import PREFIX, MetricsBook, cbor_call

NAMESPACE = "com.amazonaws.cloudwatch"


def _error(resp: Any) -> tuple[int, str, str, str | None]:
    body = cbor2.loads(resp.body)
    return resp.status, body["__type"], body["message"], resp.headers.get("x-amzn-query-error")


def test_answer_headers_and_timestamp_tags(raw: RawClient) -> None:
    resp = cbor_call(
        raw,
        "GetMetricStatistics",
        {
            "Namespace": "n",
            "MetricName": "m",
            "StartTime": cbor2.CBORTag(1, 1714979289),
            "EndTime": cbor2.CBORTag(1, 1714979349.5),
            "Period": 60,
        },
    )
    assert resp.status == 200
    assert resp.headers["smithy-protocol"] == "rpc-v2-cbor"
    assert resp.headers["content-type"] == "application/cbor"
    assert int(resp.headers["content-length"]) == len(resp.body)
    # Decoded without cbor2's tag handling, so the wire form itself is checked.
    body = cbor2.loads(
        resp.body, tag_hook=lambda decoder, tag: tag, semantic_decoders={1: lambda v, i: ("tag1", v)}
    )
    first, second = body["Datapoints"]
    assert first["Timestamp"] == ("tag1", 1714979289.0)
    assert second["Timestamp"] == ("tag1", 1714979349.5)
    assert first["Sum"] == 3.0 and isinstance(first["Sum"], float)  # a double member is a CBOR float
    assert first["ExtendedStatistics"] == {"p99": 2.0}


def test_no_output_operation_answers_without_a_body(raw: RawClient, book: MetricsBook) -> None:
    resp = cbor_call(
        raw, "PutMetricData", {"Namespace": "n", "MetricData": [{"MetricName": "x", "Value": 1}]}
    )
    assert resp.status == 200
    assert resp.body == b""
    assert "content-type" not in resp.headers
    assert resp.headers["smithy-protocol"] == "rpc-v2-cbor"
    assert book.last("PutMetricData")["MetricData"] == [{"MetricName": "x", "Value": 1.0}]


def test_indefinite_lengths_half_floats_and_undefined(raw: RawClient, book: MetricsBook) -> None:
    # {_ "Namespace": (_ "ab" "cd"), "MetricData": [_ {"MetricName": "x", "Value": half 1.5,
    #   "Unit": undefined}]}
    body = (
        b"\xbf"
        + cbor2.dumps("Namespace")
        + b"\x7f"
        + cbor2.dumps("ab")
        + cbor2.dumps("cd")
        + b"\xff"
        + cbor2.dumps("MetricData")
        + b"\x9f"
        + b"\xa3"
        + cbor2.dumps("MetricName")
        + cbor2.dumps("x")
        + cbor2.dumps("Value")
        + b"\xf9\x3e\x00"
        + cbor2.dumps("Unit")
        + b"\xf7"
        + b"\xff"
        + b"\xff"
    )
    resp = cbor_call(raw, "PutMetricData", body)
    assert resp.status == 200, resp.body
    assert book.last("PutMetricData") == {
        "Namespace": "abcd",
        "MetricData": [{"MetricName": "x", "Value": 1.5}],
    }


@pytest.mark.parametrize(
    "path",
    [
        f"/service/{NAMESPACE}.{PREFIX}/operation/ListMetrics",  # absolute shape id, '#' as '.'
        f"/v1/service/{PREFIX}/operation/ListMetrics",  # a prefix: only the last four segments route
    ],
)
def test_other_path_forms_route(raw: RawClient, path: str, book: MetricsBook) -> None:
    resp = cbor_call(raw, "ListMetrics", {"Namespace": "routed"}, path=path)
    assert resp.status == 200
    assert cbor2.loads(resp.body)["Metrics"][0]["Namespace"] == "routed"


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"\xa1\x69Namespace", "premature end"),  # truncated
        (b"\xa1\x69Namespace\x61a\x00", "data after the end"),  # trailing bytes
        (b"\x9b\xff\xff\xff\xff\xff\xff\xff\xff", ""),  # an array claiming 2^64-1 items
        (b"\x81" * 200 + b"\xa0", "depth"),  # nesting deeper than any shape
        (b"\xa1\x62\xff\xfe\x01", ""),  # invalid UTF-8 in a key
        (b"\xa1\x69StartTime\xc1\x63abc", "tag 1"),  # tag 1 around a string
        (b"\xa1\x61a\xd8\x1c\x80", ""),  # value sharing (could build cycles)
        (b"\xff", ""),  # a lone break
    ],
)
def test_malformed_cbor_is_a_serialization_exception(raw: RawClient, body: bytes, detail: str) -> None:
    status, type_name, message, query_error = _error(cbor_call(raw, "ListMetrics", body))
    assert (status, type_name) == (400, f"{NAMESPACE}#SerializationException")
    assert message.startswith("Malformed CBOR request body")
    assert detail in message
    assert query_error == "SerializationException;Sender"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (cbor2.dumps([1, 2]), "Start of structure or map expected for the request body"),
        (cbor2.dumps({"Namespace": 5}), "NUMBER_VALUE can not be converted to String at 'Namespace'"),
        (cbor2.dumps({"Namespace": b"bytes"}), "Byte string can not be converted to String at 'Namespace'"),
        (
            cbor2.dumps({"Dimensions": {"Name": "x"}}),
            "Start of structure or map can not be converted to a list at 'Dimensions'",
        ),
    ],
)
def test_wrong_types_are_serialization_exceptions(raw: RawClient, body: bytes, message: str) -> None:
    assert _error(cbor_call(raw, "ListMetrics", body))[:3] == (
        400,
        f"{NAMESPACE}#SerializationException",
        message,
    )


def test_empty_body_is_an_empty_input(raw: RawClient, book: MetricsBook) -> None:
    resp = cbor_call(raw, "ListMetrics", b"", content_type=None)
    assert resp.status == 200
    assert book.last("ListMetrics") == {}


def test_unknown_operation_and_service(raw: RawClient) -> None:
    status, type_name, _, query_error = _error(cbor_call(raw, "NoSuchOperation", {}))
    assert (status, type_name, query_error) == (
        404,
        f"{NAMESPACE}#UnknownOperationException",
        "InvalidAction;Sender",
    )
    resp = cbor_call(raw, "ListMetrics", {}, path="/service/NoSuchService/operation/ListMetrics")
    assert resp.status == 404
    assert cbor2.loads(resp.body)["__type"] == "UnknownOperationException"


@pytest.mark.parametrize(
    ("extra", "drop", "needle"),
    [
        ({}, ("smithy-protocol",), "smithy-protocol"),  # routing precedes SigV4: dropped after signing
        ({"smithy-protocol": ""}, (), "smithy-protocol"),
        ({"smithy-protocol": "rpc-v2-json"}, (), "smithy-protocol"),
        ({"X-Amz-Target": f"{PREFIX}.ListMetrics"}, (), "X-Amz-Target"),
        ({"Content-Type": "application/json"}, (), "Content-Type"),
    ],
)
def test_bad_protocol_headers(
    raw: RawClient, extra: dict[str, str], drop: tuple[str, ...], needle: str
) -> None:
    status, type_name, message, _ = _error(cbor_call(raw, "ListMetrics", {}, extra=extra, drop=drop))
    assert (status, type_name) == (400, f"{NAMESPACE}#UnknownOperationException")
    assert needle in message


def test_get_is_not_served(raw: RawClient) -> None:
    resp = raw.request(
        "GET", f"/service/{PREFIX}/operation/ListMetrics", b"", {"smithy-protocol": "rpc-v2-cbor"}
    )
    assert resp.status == 404
    assert cbor2.loads(resp.body)["__type"] == f"{NAMESPACE}#UnknownOperationException"


def test_signature_checks_apply(raw: RawClient) -> None:
    wrong = _error(cbor_call(raw, "ListMetrics", {}, secret="wrong-secret"))
    assert wrong[:2] == (400, f"{NAMESPACE}#InvalidSignatureException")
    assert wrong[3] == "SignatureDoesNotMatch;Sender"
    unsigned = cbor_call(raw, "ListMetrics", {}, drop=("Authorization",))
    assert _error(unsigned)[3] == "MissingAuthenticationToken;Sender"
    scoped = _error(cbor_call(raw, "ListMetrics", {}, service="ecs"))
    assert "Credential should be scoped to correct service: 'monitoring'" in scoped[2]


def test_oversized_body_is_413_before_reading(raw: RawClient) -> None:
    body = cbor2.dumps({"Namespace": "x" * (65 * 1024)})
    status, type_name, message, _ = _error(cbor_call(raw, "ListMetrics", body))
    assert (status, type_name) == (413, f"{NAMESPACE}#RequestEntityTooLargeException")
    assert "65536 bytes" in message
