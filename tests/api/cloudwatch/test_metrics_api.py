"""CloudWatch metric operations with real boto3 (CBOR and JSON 1.0) and the real ``aws`` CLI
against a real server: PutMetricData → GetMetricStatistics / GetMetricData round trips with
numbers computed by hand, ListMetrics filters and pages, and CloudWatch's errors for bad input."""

from __future__ import annotations

import json
import math
import subprocess
import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.server import ServerProcess


def minute_ago(n: int = 5) -> float:
    now = time.time()
    return now - now % 60 - 60 * n


def dims(**kv: str) -> list[dict[str, str]]:
    return [{"Name": k, "Value": v} for k, v in kv.items()]


def error(call: Any, **kwargs: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    resp = info.value.response
    return resp["Error"]["Code"], resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Message"]


def test_put_metric_data_then_statistics_round_trip(cw: Any, cw_json: Any) -> None:
    ns, t0 = f"Test/{uuid.uuid4().hex[:8]}", minute_ago()
    d = dims(Api="get")
    cw.put_metric_data(
        Namespace=ns,
        MetricData=[
            {
                "MetricName": "Latency",
                "Dimensions": d,
                "Timestamp": t0 + 1,
                "Value": 10.0,
                "Unit": "Milliseconds",
            },
            {
                "MetricName": "Latency",
                "Dimensions": d,
                "Timestamp": t0 + 1,
                "Value": 30.0,
                "Unit": "Milliseconds",
            },
            {
                "MetricName": "Latency",
                "Dimensions": d,
                "Timestamp": t0 + 61,
                "Values": [1.0, 100.0],
                "Counts": [9.0, 1.0],
                "Unit": "Milliseconds",
            },
            {
                "MetricName": "Latency",
                "Dimensions": d,
                "Timestamp": t0 + 121,
                "StatisticValues": {"SampleCount": 4, "Sum": 20, "Minimum": 2, "Maximum": 8},
                "Unit": "Milliseconds",
            },
        ],
    )
    got = cw.get_metric_statistics(
        Namespace=ns,
        MetricName="Latency",
        Dimensions=d,
        StartTime=t0,
        EndTime=t0 + 180,
        Period=60,
        Statistics=["SampleCount", "Sum", "Average", "Minimum", "Maximum"],
    )
    assert got["Label"] == "Latency"
    rows = sorted(got["Datapoints"], key=lambda p: p["Timestamp"])
    assert [p["Timestamp"].timestamp() for p in rows] == [t0, t0 + 60, t0 + 120]
    assert [p["SampleCount"] for p in rows] == [2.0, 10.0, 4.0]
    assert [p["Sum"] for p in rows] == [40.0, 109.0, 20.0]
    assert [p["Average"] for p in rows] == [20.0, 10.9, 5.0]
    assert [(p["Minimum"], p["Maximum"]) for p in rows] == [(10.0, 30.0), (1.0, 100.0), (2.0, 8.0)]
    assert {p["Unit"] for p in rows} == {"Milliseconds"}
    # percentiles count each value with its weight: nine 1s and one 100
    pct = cw_json.get_metric_statistics(
        Namespace=ns,
        MetricName="Latency",
        Dimensions=d,
        StartTime=t0 + 60,
        EndTime=t0 + 120,
        Period=60,
        ExtendedStatistics=["p50", "p95"],
    )
    assert pct["Datapoints"][0]["ExtendedStatistics"] == {"p50": 1.0, "p95": 100.0}
    # a unit filter that matches nothing, and the whole range as one period
    none = cw.get_metric_statistics(
        Namespace=ns, MetricName="Latency", Dimensions=d, StartTime=t0, EndTime=t0 + 180,
        Period=180, Statistics=["Sum"], Unit="Seconds",
    )  # fmt: skip
    assert none["Datapoints"] == []
    data = cw.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "lat",
                "MetricStat": {
                    "Metric": {"Namespace": ns, "MetricName": "Latency", "Dimensions": d},
                    "Period": 60,
                    "Stat": "Sum",
                },
            },
            {
                "Id": "hidden",
                "ReturnData": False,
                "MetricStat": {
                    "Metric": {"Namespace": ns, "MetricName": "Latency", "Dimensions": d},
                    "Period": 60,
                    "Stat": "Maximum",
                },
            },
        ],
        StartTime=t0,
        EndTime=t0 + 180,
    )
    (result,) = data["MetricDataResults"]
    assert result["Id"] == "lat" and result["Label"] == "Latency" and result["StatusCode"] == "Complete"
    assert [t.timestamp() for t in result["Timestamps"]] == [t0 + 120, t0 + 60, t0]  # newest first
    assert result["Values"] == [20.0, 109.0, 40.0]
    # MaxDatapoints pages the answer
    first = cw.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "lat",
                "MetricStat": {
                    "Metric": {"Namespace": ns, "MetricName": "Latency", "Dimensions": d},
                    "Period": 60,
                    "Stat": "Sum",
                },
            }
        ],
        StartTime=t0,
        EndTime=t0 + 180,
        MaxDatapoints=2,
        ScanBy="TimestampAscending",
    )
    assert first["MetricDataResults"][0]["Values"] == [40.0, 109.0]
    assert first["MetricDataResults"][0]["StatusCode"] == "PartialData"
    rest = cw.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "lat",
                "MetricStat": {
                    "Metric": {"Namespace": ns, "MetricName": "Latency", "Dimensions": d},
                    "Period": 60,
                    "Stat": "Sum",
                },
            }
        ],
        StartTime=t0,
        EndTime=t0 + 180,
        MaxDatapoints=2,
        ScanBy="TimestampAscending",
        NextToken=first["NextToken"],
    )
    assert rest["MetricDataResults"][0]["Values"] == [20.0]
    assert "NextToken" not in rest


def test_high_resolution_points_keep_their_second(cw: Any) -> None:
    ns, t0 = f"Test/{uuid.uuid4().hex[:8]}", minute_ago(2)
    for i, v in enumerate((1.0, 2.0, 3.0)):
        cw.put_metric_data(
            Namespace=ns,
            MetricData=[{"MetricName": "Hits", "Timestamp": t0 + 10 * i, "Value": v, "StorageResolution": 1}],
        )
    got = cw.get_metric_statistics(
        Namespace=ns, MetricName="Hits", StartTime=t0, EndTime=t0 + 60, Period=10, Statistics=["Sum"]
    )
    assert sorted((p["Timestamp"].timestamp(), p["Sum"]) for p in got["Datapoints"]) == [
        (t0, 1.0),
        (t0 + 10, 2.0),
        (t0 + 20, 3.0),
    ]


def test_list_metrics_filters_and_pages(cw: Any) -> None:
    ns = f"List/{uuid.uuid4().hex[:8]}"
    # one call of 501 data: over 10 KiB, so botocore gzips it
    cw.put_metric_data(
        Namespace=ns,
        MetricData=[
            {"MetricName": f"m{i:03d}", "Dimensions": dims(Shard=str(i % 2)), "Value": 1.0}
            for i in range(501)
        ],
    )
    cw.put_metric_data(Namespace=ns + "x", MetricData=[{"MetricName": "other", "Value": 1.0}])
    page = cw.list_metrics(Namespace=ns)
    assert len(page["Metrics"]) == 500 and "NextToken" in page
    more = cw.list_metrics(Namespace=ns, NextToken=page["NextToken"])
    assert [m["MetricName"] for m in more["Metrics"]] == ["m500"] and "NextToken" not in more
    odd = cw.list_metrics(Namespace=ns, Dimensions=[{"Name": "Shard", "Value": "1"}])["Metrics"]
    assert len(odd) == 250 and all(m["Dimensions"] == dims(Shard="1") for m in odd)
    by_name = cw.list_metrics(Namespace=ns, MetricName="m007", Dimensions=[{"Name": "Shard"}])["Metrics"]
    assert by_name == [{"Namespace": ns, "MetricName": "m007", "Dimensions": dims(Shard="1")}]
    recent = cw.list_metrics(Namespace=ns + "x", RecentlyActive="PT3H")["Metrics"]
    assert [m["MetricName"] for m in recent] == ["other"]
    assert cw.list_metrics(Namespace=ns, Dimensions=[{"Name": "Nope"}])["Metrics"] == []


STATS = {"SampleCount": 2, "Sum": 1, "Minimum": 1, "Maximum": 1}


def _many_dims(n: int) -> list[dict[str, str]]:
    return [{"Name": f"d{i}", "Value": "v"} for i in range(n)]


@pytest.mark.parametrize(
    ("datum", "code"),
    [
        ({"MetricName": "m", "Value": 1e200}, "InvalidParameterValue"),
        ({"MetricName": "m", "Value": -1e-120}, "InvalidParameterValue"),
        ({"MetricName": "m", "Value": math.nan}, "InvalidParameterValue"),
        ({"MetricName": "m", "Value": 1.0, "StatisticValues": STATS}, "InvalidParameterCombination"),
        ({"MetricName": "m"}, "MissingParameter"),
        ({"MetricName": "m", "Values": [1.0, 2.0], "Counts": [1.0]}, "InvalidParameterValue"),
        ({"MetricName": "m", "StatisticValues": dict(STATS, Minimum=5)}, "InvalidParameterValue"),
        ({"MetricName": "m", "Value": 1.0, "Timestamp": time.time() - 15 * 86400}, "InvalidParameterValue"),
        ({"MetricName": "m", "Value": 1.0, "Timestamp": time.time() + 3 * 3600}, "InvalidParameterValue"),
        ({"MetricName": "m", "Value": 1.0, "StorageResolution": 10}, "InvalidParameterValue"),
        ({"MetricName": "m", "Value": 1.0, "Dimensions": _many_dims(31)}, "ValidationError"),
        ({"MetricName": "m", "Value": 1.0, "Unit": "Parsecs"}, "ValidationError"),
    ],
)  # fmt: skip
def test_bad_metric_data_gets_cloudwatchs_errors(cw: Any, datum: dict[str, Any], code: str) -> None:
    got, status, message = error(cw.put_metric_data, Namespace="Bad", MetricData=[datum])
    assert (got, status) == (code, 400), message


def test_bad_requests_get_cloudwatchs_errors(cw: Any) -> None:
    t0 = minute_ago()
    base = {"Namespace": "X", "MetricName": "m", "StartTime": t0, "EndTime": t0 + 600}
    assert error(cw.put_metric_data, Namespace="AWS/ECS", MetricData=[{"MetricName": "m", "Value": 1.0}])[
        0
    ] == ("InvalidParameterValue")
    too_many = [{"MetricName": "m", "Value": 1.0}] * 1001
    assert error(cw.put_metric_data, Namespace="X", MetricData=too_many)[:2] in (
        ("InvalidParameterValue", 400),
        ("ValidationError", 400),
    )
    assert error(cw.get_metric_statistics, **base, Period=7, Statistics=["Sum"])[0] == "InvalidParameterValue"
    assert error(cw.get_metric_statistics, **base, Period=60, Statistics=["Median"])[0] == "ValidationError"
    assert error(cw.get_metric_statistics, **base, Period=60, ExtendedStatistics=["p101"])[0] == (
        "InvalidParameterValue"
    )
    assert error(cw.get_metric_statistics, **base, Period=60)[0] == "MissingParameter"
    assert error(cw.get_metric_statistics, **base, Period=60, Statistics=["Sum"], ExtendedStatistics=["p9"])[
        0
    ] == ("InvalidParameterCombination")
    wide = dict(base, StartTime=t0 - 2 * 86400)
    code, _, message = error(cw.get_metric_statistics, **wide, Period=60, Statistics=["Sum"])
    assert code == "InvalidParameterCombination" and "1440" in message
    backwards = dict(base, StartTime=t0 + 600, EndTime=t0)
    assert error(cw.get_metric_statistics, **backwards, Period=60, Statistics=["Sum"])[0] == (
        "InvalidParameterValue"
    )
    stat = {"Metric": {"Namespace": "X", "MetricName": "m"}, "Period": 60, "Stat": "Avg"}
    q = {"StartTime": t0, "EndTime": t0 + 600}
    assert error(cw.get_metric_data, MetricDataQueries=[{"Id": "a", "MetricStat": stat}], **q)[0] == (
        "InvalidParameterValue"
    )
    code, _, message = error(
        cw.get_metric_data, MetricDataQueries=[{"Id": "e1", "Expression": "SUM(METRICS())"}], **q
    )
    assert code == "ValidationError" and "not supported" in message
    assert error(
        cw.get_metric_data, MetricDataQueries=[{"Id": "Bad", "MetricStat": dict(stat, Stat="Sum")}], **q
    )[0] == ("ValidationError")
    assert error(cw.list_metrics, NextToken="garbage")[0] == "InvalidNextToken"


def test_aws_cli_get_metric_statistics(server: ServerProcess, cw: Any) -> None:
    ns, t0 = f"Cli/{uuid.uuid4().hex[:8]}", minute_ago()
    cw.put_metric_data(
        Namespace=ns,
        MetricData=[{"MetricName": "Queue", "Timestamp": t0 + 5, "Value": v} for v in (4.0, 6.0)],
    )
    out = subprocess.run(
        [
            "aws", "cloudwatch", "get-metric-statistics", "--namespace", ns, "--metric-name", "Queue",
            "--start-time", str(int(t0)), "--end-time", str(int(t0 + 60)), "--period", "60",
            "--statistics", "Average", "Maximum", "--output", "json",
        ],
        capture_output=True, text=True, env=server.env(), timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert answer["Label"] == "Queue"
    assert [(p["Average"], p["Maximum"]) for p in answer["Datapoints"]] == [(5.0, 6.0)]
    bad = subprocess.run(
        ["aws", "cloudwatch", "get-metric-statistics", "--namespace", ns, "--metric-name", "Queue",
         "--start-time", str(int(t0)), "--end-time", str(int(t0 + 60)),
         "--period", "7", "--statistics", "Sum"],
        capture_output=True, text=True, env=server.env(), timeout=60,
    )  # fmt: skip
    assert bad.returncode != 0 and "InvalidParameterValue" in bad.stderr
