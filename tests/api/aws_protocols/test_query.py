"""The AWS query protocol on the wire: hand-made form requests and the XML that answers them."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import urlencode

import pytest

from tests.api.aws.support import RawClient, Response
from tests.api.aws_protocols.support import MetricsBook, signed_headers

XMLNS = "http://monitoring.amazonaws.com/doc/2010-08-01/"
NS = {"cw": XMLNS}
FORM = "application/x-www-form-urlencoded; charset=utf-8"


def _post(raw: RawClient, pairs: dict[str, str], **sign_kw: str) -> Response:
    body = urlencode(pairs).encode()
    headers = signed_headers(raw.host, "/", body, {"Content-Type": FORM}, **sign_kw)
    return raw.request("POST", "/", body, headers)


def _call(raw: RawClient, action: str, **params: str) -> Response:
    return _post(raw, {"Action": action, "Version": "2010-08-01", **params})


def _error(resp: Response) -> tuple[int, str, str, str]:
    root = ET.fromstring(resp.body)
    assert root.tag == f"{{{XMLNS}}}ErrorResponse"
    fields = [
        root.findtext(f"cw:Error/cw:{name}", namespaces=NS) or "" for name in ("Type", "Code", "Message")
    ]
    assert root.findtext("cw:RequestId", namespaces=NS) == resp.headers["x-amzn-requestid"]
    return resp.status, fields[0], fields[1], fields[2]


def test_response_document(raw: RawClient, book: MetricsBook) -> None:
    resp = _call(
        raw,
        "ListMetrics",
        Namespace="A<&>\u00e9",
        **{
            "Dimensions.member.1.Name": "Service",
            "Dimensions.member.1.Value": "web",
            "Dimensions.member.2.Name": "Az",
        },
    )
    assert resp.status == 200
    assert resp.headers["content-type"] == "text/xml"
    root = ET.fromstring(resp.body)
    assert root.tag == f"{{{XMLNS}}}ListMetricsResponse"
    metric = root.find("cw:ListMetricsResult/cw:Metrics/cw:member", NS)
    assert metric is not None
    assert metric.findtext("cw:Namespace", namespaces=NS) == "A<&>\u00e9"
    dims = [
        (d.findtext("cw:Name", namespaces=NS), d.findtext("cw:Value", namespaces=NS))
        for d in metric.findall("cw:Dimensions/cw:member", NS)
    ]
    assert dims == [("Service", "web"), ("Az", "*")]
    assert (
        root.findtext("cw:ResponseMetadata/cw:RequestId", namespaces=NS) == resp.headers["x-amzn-requestid"]
    )
    assert book.last("ListMetrics")["Dimensions"] == [{"Name": "Service", "Value": "web"}, {"Name": "Az"}]


def test_timestamps_numbers_and_maps_in_xml(raw: RawClient, book: MetricsBook) -> None:
    resp = _call(
        raw,
        "GetMetricStatistics",
        Namespace="n",
        MetricName="m",
        StartTime="2024-05-06T07:08:09.250Z",
        EndTime="2024-05-07T00:00:00Z",
        Period="60",
        **{"Statistics.member.1": "Sum"},
    )
    assert resp.status == 200, resp.body
    params = book.last("GetMetricStatistics")
    assert (params["StartTime"], params["EndTime"], params["Period"]) == (1714979289.25, 1715040000.0, 60)
    root = ET.fromstring(resp.body)
    first, second = root.findall("cw:GetMetricStatisticsResult/cw:Datapoints/cw:member", NS)
    assert first.findtext("cw:Timestamp", namespaces=NS) == "2024-05-06T07:08:09.250Z"
    assert first.findtext("cw:Sum", namespaces=NS) == "3.0"
    assert first.findtext("cw:ExtendedStatistics/cw:entry/cw:key", namespaces=NS) == "p99"
    assert first.findtext("cw:ExtendedStatistics/cw:entry/cw:value", namespaces=NS) == "2.0"
    assert second.findtext("cw:Timestamp", namespaces=NS) == "2024-05-07T00:00:00.000Z"


def test_no_output_action_answers_only_metadata(raw: RawClient) -> None:
    resp = _call(
        raw,
        "PutMetricData",
        Namespace="n",
        **{"MetricData.member.1.MetricName": "x", "MetricData.member.1.Value": "1"},
    )
    assert resp.status == 200
    root = ET.fromstring(resp.body)
    assert root.tag == f"{{{XMLNS}}}PutMetricDataResponse"
    assert [child.tag for child in root] == [f"{{{XMLNS}}}ResponseMetadata"]


def test_empty_list_and_get_requests(raw: RawClient, book: MetricsBook) -> None:
    query = urlencode(
        {"Action": "ListMetrics", "Version": "2010-08-01", "Namespace": "got", "Dimensions": ""}
    )
    headers = signed_headers(raw.host, f"/?{query}", b"", {}, method="GET")
    resp = raw.request("GET", f"/?{query}", b"", headers)
    assert resp.status == 200, resp.body
    assert book.last("ListMetrics") == {"Namespace": "got", "Dimensions": []}


def test_query_codes_and_model_status(raw: RawClient) -> None:
    assert _error(_call(raw, "ListMetrics", Namespace="raise.ResourceNotFound.400")) == (
        404,
        "Sender",
        "ResourceNotFound",
        "raised ResourceNotFound",
    )
    assert _error(_call(raw, "ListMetrics", Namespace="raise.InternalServiceFault.400"))[:3] == (
        500,
        "Receiver",
        "InternalServiceError",
    )


@pytest.mark.parametrize(
    ("pairs", "status", "code", "needle"),
    [
        ({"Version": "2010-08-01"}, 400, "MissingAction", "Action"),
        ({"Action": "NoSuchThing", "Version": "2010-08-01"}, 400, "InvalidAction", "NoSuchThing"),
        ({"Action": "DeleteAlarms", "Version": "2010-08-01"}, 400, "InvalidAction", "DeleteAlarms"),
        (
            {"Action": "ListMetrics", "Version": "2010-08-01", "Namespace": ""},
            400,
            "ValidationError",
            "at 'Namespace'",
        ),
        (
            {"Action": "GetMetricWidgetImage", "Version": "2010-08-01"},
            400,
            "ValidationError",
            "Value null at 'MetricWidget' failed to satisfy constraint: Member must not be null",
        ),
        (
            {"Action": "GetMetricStatistics", "Version": "2010-08-01", "Period": "sixty"},
            400,
            "SerializationException",
            "Value 'sixty' can not be converted to an integer at 'Period'",
        ),
        (
            {"Action": "GetMetricStatistics", "Version": "2010-08-01", "StartTime": "yesterday"},
            400,
            "SerializationException",
            "can not be converted to a timestamp",
        ),
    ],
)
def test_request_errors(raw: RawClient, pairs: dict[str, str], status: int, code: str, needle: str) -> None:
    got_status, fault, got_code, message = _error(_post(raw, pairs))
    assert (got_status, fault, got_code) == (status, "Sender", code)
    assert needle in message


def test_authentication_failures_are_403(raw: RawClient) -> None:
    wrong = _error(_post(raw, {"Action": "ListMetrics", "Version": "2010-08-01"}, secret="wrong"))
    assert wrong[:3] == (403, "Sender", "SignatureDoesNotMatch")
    stranger = _error(
        _post(raw, {"Action": "ListMetrics", "Version": "2010-08-01"}, key="AKIANOBODY0000000000")
    )
    assert stranger[:3] == (403, "Sender", "InvalidClientTokenId")
    body = urlencode({"Action": "ListMetrics", "Version": "2010-08-01"}).encode()
    unsigned = raw.request("POST", "/", body, {"Content-Type": FORM})
    assert _error(unsigned)[:3] == (403, "Sender", "MissingAuthenticationToken")


def test_invalid_utf8_is_refused(raw: RawClient) -> None:
    body = b"Action=ListMetrics&Version=2010-08-01&Namespace=\xff"
    headers = signed_headers(raw.host, "/", body, {"Content-Type": FORM})
    status, _, code, _ = _error(raw.request("POST", "/", body, headers))
    assert (status, code) == (400, "SerializationException")
