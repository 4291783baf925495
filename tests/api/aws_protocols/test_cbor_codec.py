"""The CBOR codec and the CBOR output serializers, against botocore's own serializers and
parser: what botocore sends over CBOR (and query) decodes to exactly the params the JSON path
gives handlers, and what the server sends parses back in botocore to the values handlers
returned."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import cbor2
import orjson
import pytest
from botocore.parsers import RpcV2CBORParser
from botocore.serialize import JSONSerializer, QuerySerializer, RpcV2CBORSerializer
from hypothesis import given, settings
from hypothesis import strategies as st

from stowage.api.aws import cbor
from stowage.api.aws.catalog import load_model
from stowage.api.aws.errors import AwsError
from stowage.api.aws.query import compile_codec
from stowage.api.aws.serialize import OutputCompiler, OutputShapeError
from stowage.api.aws.shapes import InputCompiler

MODEL = load_model("cloudwatch")


def _validate(operation: str, data: Any) -> Any:
    return InputCompiler().compile(MODEL.operation_model(operation).input_shape)(data)


def _botocore_bodies(operation: str, params: dict[str, Any]) -> tuple[bytes, bytes, dict[str, str]]:
    op = MODEL.operation_model(operation)
    as_cbor = RpcV2CBORSerializer().serialize_to_request(params, op)["body"]
    as_json = JSONSerializer().serialize_to_request(params, op)["body"]
    # The query body as it travels: botocore's pairs, form-encoded, then parsed as the server does.
    pairs = QuerySerializer().serialize_to_request(params, op)["body"]
    as_query = dict(parse_qsl(urlencode({k: str(v) for k, v in pairs.items()}), keep_blank_values=True))
    return as_cbor, as_json, as_query


def test_empty_body_is_an_empty_map() -> None:
    assert cbor.decode(b"") == {}


def test_tag1_becomes_epoch_seconds_anywhere() -> None:
    body = cbor2.dumps(
        {"a": cbor2.CBORTag(1, 5), "b": [cbor2.CBORTag(1, -1.5)], "c": cbor2.CBORTag(1, 2**40)}
    )
    decoded = cbor.decode(body)
    assert decoded == {"a": 5.0, "b": [-1.5], "c": float(2**40)}
    assert all(type(v) is float for v in (decoded["a"], decoded["b"][0], decoded["c"]))


def test_undefined_reads_as_null() -> None:
    body = cbor2.dumps({"a": cbor2.undefined, "b": [1, cbor2.undefined], "c": {"d": cbor2.undefined}})
    assert cbor.decode(body) == {"a": None, "b": [1, None], "c": {"d": None}}


def test_half_precision_specials() -> None:
    decoded = cbor.decode(b"\xa3\x61a\xf9\x7c\x00\x61b\xf9\xfc\x00\x61c\xf9\x7e\x00")
    assert decoded["a"] == math.inf and decoded["b"] == -math.inf and math.isnan(decoded["c"])


def test_bignum_out_of_long_range_is_a_type_mismatch() -> None:
    body = cbor2.dumps({"Period": 2**70})  # cbor2 writes it as tag 2
    data = cbor.decode(body)
    with pytest.raises(Exception, match="out of range of Integer"):
        _validate(
            "GetMetricStatistics", {"Namespace": "n", "MetricName": "m", "StartTime": 1, "EndTime": 2, **data}
        )


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=64))
def test_arbitrary_bytes_decode_or_raise_serialization_exception(data: bytes) -> None:
    try:
        decoded = cbor.decode(data)
    except AwsError as err:
        assert (err.code, err.status) == ("SerializationException", 400)
    else:
        assert isinstance(decoded, dict)


_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.binary(max_size=8)
)
_tree = st.recursive(
    _leaf,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=6), _tree, max_size=5))
def test_well_formed_maps_decode_to_themselves(value: dict[str, Any]) -> None:
    assert cbor.decode(cbor2.dumps(value)) == value


_names = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E).filter(lambda c: c != ":"), min_size=1, max_size=20
)
_finite = st.floats(min_value=-1e300, max_value=1e300, allow_nan=False)
_moments = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(
    lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000)  # botocore sends milliseconds
)


@settings(max_examples=100, deadline=None)
@given(
    namespace=_names,
    data=st.lists(
        st.fixed_dictionaries(
            {"MetricName": _names, "Timestamp": _moments, "Value": _finite},
            optional={
                "Values": st.lists(_finite, max_size=5),
                "Dimensions": st.lists(st.fixed_dictionaries({"Name": _names, "Value": _names}), max_size=3),
                "StorageResolution": st.integers(1, 60),
            },
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_botocore_cbor_json_and_query_give_handlers_the_same_params(
    namespace: str, data: list[dict[str, Any]]
) -> None:
    params = {"Namespace": namespace, "MetricData": data}
    as_cbor, as_json, as_query = _botocore_bodies("PutMetricData", params)
    from_cbor = _validate("PutMetricData", cbor.decode(as_cbor))
    from_json = _validate("PutMetricData", orjson.loads(as_json))
    codec = compile_codec(MODEL.operation_model("PutMetricData").input_shape, None, "")
    from_query = _validate("PutMetricData", codec.decode(as_query))
    assert from_cbor == from_json == from_query
    for sent, got in zip(data, from_cbor["MetricData"], strict=True):
        assert got["Timestamp"] == sent["Timestamp"].timestamp()


def _parse(operation: str, body: bytes, status: int = 200) -> Any:
    op = MODEL.operation_model(operation)
    response = {"status_code": status, "headers": {"smithy-protocol": "rpc-v2-cbor"}, "body": body}
    return RpcV2CBORParser().parse(response, op.output_shape)


def test_output_parses_in_botocore() -> None:
    shape = MODEL.operation_model("GetMetricStatistics").output_shape
    serialize = OutputCompiler(strict=True, wire="cbor").compile(shape)
    assert serialize is not None
    moment = datetime(2024, 5, 6, 7, 8, 9, 125000, tzinfo=UTC)
    result = {
        "Label": "cpu",
        "Datapoints": [
            {"Timestamp": moment, "Sum": 7, "Maximum": math.inf, "ExtendedStatistics": {"p50": 1}},
            {"Timestamp": moment.timestamp() + 60, "Minimum": -2.5},
        ],
    }
    body = cbor.encode(serialize(result))
    parsed = _parse("GetMetricStatistics", body)
    first, second = parsed["Datapoints"]
    assert first["Timestamp"] == moment
    assert (first["Sum"], first["Maximum"], first["ExtendedStatistics"]) == (7.0, math.inf, {"p50": 1.0})
    assert second["Timestamp"].timestamp() == moment.timestamp() + 60
    # Timestamps are tag 1 (0xc1) over a double, doubles are doubles even from ints.
    assert b"\xc1\xfb" in body
    assert cbor2.dumps("Sum") + b"\xfb" + cbor2.dumps(7.0)[1:] in body


def test_blob_output_is_a_byte_string() -> None:
    shape = MODEL.operation_model("GetMetricWidgetImage").output_shape
    serialize = OutputCompiler(strict=True, wire="cbor").compile(shape)
    assert serialize is not None
    body = cbor.encode(serialize({"MetricWidgetImage": b"\x00\xffpng"}))
    assert body == cbor2.dumps({"MetricWidgetImage": b"\x00\xffpng"})
    assert _parse("GetMetricWidgetImage", body)["MetricWidgetImage"] == b"\x00\xffpng"


def test_strict_cbor_output_still_refuses_wrong_types() -> None:
    shape = MODEL.operation_model("GetMetricStatistics").output_shape
    serialize = OutputCompiler(strict=True, wire="cbor").compile(shape)
    assert serialize is not None
    with pytest.raises(OutputShapeError, match="not a number"):
        serialize({"Datapoints": [{"Sum": "7"}]})
    with pytest.raises(OutputShapeError, match="no member"):
        serialize({"Datapoints": [{"Nope": 1}]})


def test_error_body_parses_in_botocore_with_the_query_code() -> None:
    err = AwsError("InvalidParameterValue", "bad")
    body = cbor.error_body(err, "com.amazonaws.cloudwatch#InvalidParameterValueException")
    op = MODEL.operation_model("ListMetrics")
    response = {
        "status_code": 400,
        "headers": {"x-amzn-query-error": "InvalidParameterValue;Sender", "x-amzn-requestid": "r-1"},
        "body": body,
    }
    parsed = RpcV2CBORParser().parse(response, op.output_shape)
    assert parsed["Error"]["Code"] == "InvalidParameterValue"
    assert parsed["Error"]["QueryErrorCode"] == "InvalidParameterValueException"
    assert parsed["Error"]["Message"] == "bad"
