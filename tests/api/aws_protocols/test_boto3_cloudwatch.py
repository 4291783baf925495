"""CloudWatch as boto3 users drive it, over AWS JSON 1.0, RPC v2 CBOR and query (each test runs
once per protocol, ``cw`` being parametrized): the handlers see the same params and the callers
the same answers and the same error codes, whichever protocol carried them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.api.aws.support import ACCOUNT_ID, USER_KEY_ID, USER_SECRET
from tests.api.aws_protocols.conftest import MAX_BODY
from tests.api.aws_protocols.support import WIDGET_PNG, MetricsBook, client, protocol_of


def test_lists_and_structures_round_trip(cw: Any, book: MetricsBook) -> None:
    namespace = f"App/{uuid.uuid4().hex[:8]}"
    resp = cw.list_metrics(
        Namespace=namespace,
        MetricName="Latency",
        Dimensions=[{"Name": "Service", "Value": "web"}, {"Name": "Az"}],
    )
    assert book.last("ListMetrics") == {
        "Namespace": namespace,
        "MetricName": "Latency",
        "Dimensions": [{"Name": "Service", "Value": "web"}, {"Name": "Az"}],
    }
    assert resp["Metrics"] == [
        {
            "Namespace": namespace,
            "MetricName": "Latency",
            "Dimensions": [{"Name": "Service", "Value": "web"}, {"Name": "Az", "Value": "*"}],
        }
    ]
    assert resp["NextToken"] == "next-1"
    assert resp["OwningAccounts"] == [ACCOUNT_ID]
    meta = resp["ResponseMetadata"]
    assert uuid.UUID(meta["RequestId"]).version == 4
    expected = {"cbor": "application/cbor", "json": "application/x-amz-json-1.0", "query": "text/xml"}
    assert meta["HTTPHeaders"]["content-type"] == expected[protocol_of(cw)]


def test_timestamps_and_doubles_round_trip(cw: Any, book: MetricsBook) -> None:
    start = datetime(2024, 5, 6, 7, 8, 9, 250000, tzinfo=UTC)
    end = datetime(2024, 5, 7, 0, 0, 0, tzinfo=UTC)
    resp = cw.get_metric_statistics(
        Namespace="AWS/ECS",
        MetricName="CPUUtilization",
        StartTime=start,
        EndTime=end,
        Period=60,
        Statistics=["Sum", "Average"],
        ExtendedStatistics=["p99"],
    )
    params = book.last("GetMetricStatistics")
    # Handlers get epoch-second floats whichever protocol carried the timestamp.
    assert params["StartTime"] == start.timestamp() and isinstance(params["StartTime"], float)
    assert params["EndTime"] == end.timestamp() and isinstance(params["EndTime"], float)
    first, second = resp["Datapoints"]
    assert first["Timestamp"] == start
    assert second["Timestamp"] == end
    assert (first["Sum"], first["Average"], first["ExtendedStatistics"]) == (3, 1.25, {"p99": 2})
    assert second["Maximum"] == -0.5


def test_no_output_operation_with_nested_doubles(cw: Any, book: MetricsBook) -> None:
    when = datetime(2024, 1, 2, 3, 4, 5, 500000, tzinfo=UTC)
    resp = cw.put_metric_data(
        Namespace="Shop",
        MetricData=[
            {
                "MetricName": "Orders",
                "Timestamp": when,
                "Values": [1, 2.5, 1e300],
                "Counts": [3.0, 1.0, 1.0],
                "Unit": "Count",
                "StatisticValues": {"SampleCount": 2, "Sum": 3.5, "Minimum": 1, "Maximum": 2.5},
            }
        ],
    )
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    datum = book.last("PutMetricData")["MetricData"][0]
    assert datum["Timestamp"] == when.timestamp()
    assert datum["Values"] == [1.0, 2.5, 1e300]
    assert all(isinstance(v, float) for v in datum["Values"])
    assert datum["StatisticValues"] == {"SampleCount": 2.0, "Sum": 3.5, "Minimum": 1.0, "Maximum": 2.5}


def test_blob_output(cw: Any) -> None:
    image = cw.get_metric_widget_image(MetricWidget='{"metrics": []}')["MetricWidgetImage"]
    assert image == WIDGET_PNG + b'{"metrics": []}'


def test_context_is_the_same_for_every_protocol(host: str, book: MetricsBook) -> None:
    for protocol in ("json", "cbor", "query"):
        user = client(
            protocol,
            host,
            region_name="eu-west-3",
            aws_access_key_id=USER_KEY_ID,
            aws_secret_access_key=USER_SECRET,
        )
        assert user.list_metrics(Namespace="ctx")["OwningAccounts"] == [ACCOUNT_ID]


@pytest.mark.parametrize(
    ("raised", "status", "code", "exception"),
    [
        ("InvalidParameterValueException", 400, "InvalidParameterValue", "InvalidParameterValueException"),
        ("InvalidParameterValue", 400, "InvalidParameterValue", "InvalidParameterValueException"),
        ("MissingParameter", 400, "MissingParameter", "MissingRequiredParameterException"),
        ("MissingRequiredParameterException", 400, "MissingParameter", "MissingRequiredParameterException"),
        (
            "InvalidParameterCombination",
            400,
            "InvalidParameterCombination",
            "InvalidParameterCombinationException",
        ),
        ("LimitExceeded", 400, "LimitExceeded", "LimitExceededFault"),
        ("ResourceNotFound", 404, "ResourceNotFound", "ResourceNotFound"),
        ("InternalServiceFault", 500, "InternalServiceError", "InternalServiceFault"),
    ],
)
def test_query_compatible_codes(cw: Any, raised: str, status: int, code: str, exception: str) -> None:
    # The handler raises with status 400 every time: the model's status wins.
    with pytest.raises(ClientError) as info:
        cw.list_metrics(Namespace=f"raise.{raised}.400")
    err = info.value
    assert err.response["Error"]["Code"] == code
    assert err.response["Error"]["Message"] == f"raised {raised}"
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert type(err).__name__ == exception
    assert isinstance(err, getattr(cw.exceptions, exception))


def test_a_code_the_model_does_not_know_passes_through(cw: Any) -> None:
    with pytest.raises(ClientError) as info:
        cw.list_metrics(Namespace="raise.SomethingNew.409")
    assert info.value.response["Error"]["Code"] == "SomethingNew"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409


def test_model_validation_is_validation_error(cw_unvalidated: Any) -> None:
    with pytest.raises(ClientError) as info:
        cw_unvalidated.list_metrics(Namespace="", Dimensions=[{"Name": "x" * 300}])
    err = info.value.response
    assert err["Error"]["Code"] == "ValidationError"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    message = err["Error"]["Message"]
    assert message.startswith("3 validation errors detected: ")
    assert "Value '' at 'Namespace' failed to satisfy constraint" in message
    too_long = "Member must have length less than or equal to 255"
    assert f"at 'Dimensions.1.member.Name' failed to satisfy constraint: {too_long}" in message


def test_missing_required_member(cw_unvalidated: Any) -> None:
    with pytest.raises(ClientError) as info:
        cw_unvalidated.get_metric_widget_image()
    assert info.value.response["Error"]["Code"] == "ValidationError"
    assert "Value null at 'MetricWidget' failed to satisfy constraint: Member must not be null" in str(
        info.value
    )


def test_operation_without_handler_is_invalid_action(cw: Any) -> None:
    with pytest.raises(ClientError) as info:
        cw.delete_alarms(AlarmNames=["a"])
    assert info.value.response["Error"]["Code"] == "InvalidAction"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 404)


def test_wrong_secret_is_signature_does_not_match(cw: Any, host: str) -> None:
    bad = client(protocol_of(cw), host, aws_secret_access_key="not-the-secret")
    with pytest.raises(ClientError) as info:
        bad.list_metrics()
    assert info.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert "signature we calculated does not match" in info.value.response["Error"]["Message"]


def test_unknown_key_is_invalid_client_token_id(cw: Any, host: str) -> None:
    stranger = client(protocol_of(cw), host, aws_access_key_id="AKIANOBODY0000000000")
    with pytest.raises(ClientError) as info:
        stranger.list_metrics()
    assert info.value.response["Error"]["Code"] == "InvalidClientTokenId"


def _big_metric_data(metrics: int) -> list[dict[str, Any]]:
    return [{"MetricName": f"m{i}", "Values": [j + 0.5 for j in range(150)]} for i in range(metrics)]


def test_oversized_body_is_refused_before_the_handler(cw: Any, host: str, book: MetricsBook) -> None:
    uncompressed = client(protocol_of(cw), host, compress=False)
    before = len(book.seen)
    with pytest.raises(ClientError) as info:
        uncompressed.put_metric_data(Namespace="big", MetricData=_big_metric_data(100))
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert info.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert f"{MAX_BODY} bytes" in info.value.response["Error"]["Message"]
    assert len(book.seen) == before


def test_gzip_bodies_are_inflated(cw: Any, book: MetricsBook) -> None:
    # botocore gzips PutMetricData bodies over 10 KiB (the model's requestcompression trait).
    sent: list[bytes] = []
    cw.meta.events.register(
        "before-send.cloudwatch.PutMetricData",
        lambda request, **_: sent.append(request.headers.get("Content-Encoding", b"")),
    )
    # A query body is ~5 times larger than JSON or CBOR: stay within the 64 KiB limit inflated.
    data = _big_metric_data(6 if protocol_of(cw) == "query" else 20)
    cw.put_metric_data(Namespace="zipped", MetricData=data)
    assert sent == [b"gzip"]
    got = book.last("PutMetricData")
    assert got["Namespace"] == "zipped"
    assert [d["Values"] for d in got["MetricData"]] == [d["Values"] for d in data]


def test_gzip_bodies_inflating_past_the_limit_are_refused(cw: Any, book: MetricsBook) -> None:
    before = len(book.seen)
    with pytest.raises(ClientError) as info:
        cw.put_metric_data(Namespace="bomb", MetricData=_big_metric_data(100))
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert info.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert len(book.seen) == before


def test_handler_crash_is_internal_failure_without_details(cw: Any, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ClientError) as info:
        cw.list_metrics(Namespace="explode")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert info.value.response["Error"]["Code"] == "InternalFailure"
    assert "internal detail" not in str(info.value)


def test_output_outside_the_shape_is_a_server_error(cw: Any) -> None:
    with pytest.raises(ClientError) as info:
        cw.describe_alarms()
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert info.value.response["Error"]["Code"] == "InternalFailure"
