"""CloudWatch alarms with real boto3 against a real server evaluating every second: an alarm on a
custom high-resolution metric goes INSUFFICIENT_DATA → ALARM → OK with CloudWatch's reason text,
reason data and history; DescribeAlarms filters and pages; actions are enabled and disabled;
SetAlarmState; tags; alarms and history survive kill -9; bad configurations get CloudWatch's
errors."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from botocore.exceptions import ClientError

from tests.api.cloudwatch.conftest import client
from tests.support.server import ACCOUNT_ID, ServerProcess

T = TypeVar("T")
SCALING = (
    f"arn:aws:autoscaling:us-east-1:{ACCOUNT_ID}:scalingPolicy:0b6f:resource/ecs/service/c/s:policyName/up"
)
TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT_ID}:ops"


def until(check: Callable[[], T | None], what: str, within: float = 45.0) -> T:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def alarm_config(name: str, ns: str, **over: Any) -> dict[str, Any]:
    return {
        "AlarmName": name,
        "Namespace": ns,
        "MetricName": "Depth",
        "Dimensions": [{"Name": "Queue", "Value": "jobs"}],
        "Statistic": "Maximum",
        "Period": 10,
        "EvaluationPeriods": 2,
        "DatapointsToAlarm": 1,
        "Threshold": 50.0,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "missing",
        **over,
    }


def put(cw: Any, ns: str, value: float) -> None:
    cw.put_metric_data(
        Namespace=ns,
        MetricData=[
            {
                "MetricName": "Depth",
                "Dimensions": [{"Name": "Queue", "Value": "jobs"}],
                "Value": value,
                "StorageResolution": 1,
            }
        ],
    )


def state_after_putting(cw: Any, name: str, ns: str, value: float, want: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        put(cw, ns, value)
        alarm = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
        return alarm if alarm["StateValue"] == want else None

    return until(check, f"{name} in {want}")


def test_alarm_goes_insufficient_data_to_alarm_to_ok_and_survives_kill9(
    server: ServerProcess, cw: Any
) -> None:
    ns, name = f"Alarms/{uuid.uuid4().hex[:8]}", f"depth-{uuid.uuid4().hex[:6]}"
    cw.put_metric_alarm(**alarm_config(name, ns, AlarmActions=[SCALING], OKActions=[TOPIC]))
    (created,) = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    assert created["StateValue"] == "INSUFFICIENT_DATA"
    assert created["StateReason"] == "Unchecked: Initial alarm creation"
    assert created["AlarmArn"] == f"arn:aws:cloudwatch:us-east-1:{ACCOUNT_ID}:alarm:{name}"

    alarm = state_after_putting(cw, name, ns, 80.0, "ALARM")
    assert re.fullmatch(
        r"Threshold Crossed: [12] out of the last 2 datapoints "
        r"\[80\.0 \(\d\d/\d\d/\d\d \d\d:\d\d:\d\d\)[^\]]*\] (was|were) greater than the threshold "
        r"\(50\.0\) \(minimum 1 datapoint for INSUFFICIENT_DATA -> ALARM transition\)\.",
        alarm["StateReason"],
    ), alarm["StateReason"]
    data = json.loads(alarm["StateReasonData"])
    assert data["version"] == "1.0" and data["statistic"] == "Maximum" and data["period"] == 10
    assert data["threshold"] == 50.0 and 80.0 in data["recentDatapoints"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", data["queryDate"])

    ok = state_after_putting(cw, name, ns, 10.0, "OK")
    assert "was not greater than the threshold (50.0)" in ok["StateReason"] or (
        "were not greater than the threshold (50.0)" in ok["StateReason"]
    )

    items = cw.describe_alarm_history(AlarmName=name)["AlarmHistoryItems"]
    summaries = [i["HistorySummary"] for i in items if i["HistoryItemType"] == "StateUpdate"]
    assert summaries[:2] == [
        "Alarm updated from ALARM to OK",
        "Alarm updated from INSUFFICIENT_DATA to ALARM",
    ]
    created_item = [i for i in items if i["HistoryItemType"] == "ConfigurationUpdate"]
    assert created_item[-1]["HistorySummary"] == f'Alarm "{name}" created'
    transition = json.loads(next(i for i in items if i["HistorySummary"].endswith("to ALARM"))["HistoryData"])
    assert transition["oldState"]["stateValue"] == "INSUFFICIENT_DATA"
    assert transition["newState"]["stateValue"] == "ALARM"
    assert transition["newState"]["stateReasonData"]["threshold"] == 50.0
    # no such scaling policy, and no SNS in stowage: each invocation is a failed Action item
    actions = cw.describe_alarm_history(AlarmName=name, HistoryItemType="Action")["AlarmHistoryItems"]
    assert {a["HistorySummary"].split(".")[0] for a in actions} >= {
        f"Failed to execute action {SCALING}",
        f"Failed to execute action {TOPIC}",
    }
    ascending = cw.describe_alarm_history(AlarmName=name, ScanBy="TimestampAscending")["AlarmHistoryItems"]
    assert ascending[0]["HistoryItemType"] == "ConfigurationUpdate"

    server.kill9()
    server.start()
    after = client(server).describe_alarms(AlarmNames=[name])["MetricAlarms"]
    assert [a["StateValue"] for a in after] == [ok["StateValue"]]
    assert after[0]["StateReason"] == ok["StateReason"]
    again = client(server).describe_alarm_history(AlarmName=name)["AlarmHistoryItems"]
    assert len(again) >= len(items)


def test_treat_missing_data_breaching_alarms_without_data(cw: Any) -> None:
    ns, name = f"Alarms/{uuid.uuid4().hex[:8]}", f"silent-{uuid.uuid4().hex[:6]}"
    cw.put_metric_alarm(**alarm_config(name, ns, EvaluationPeriods=1, TreatMissingData="breaching"))

    def alarmed() -> dict[str, Any] | None:
        a = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
        return a if a["StateValue"] == "ALARM" else None

    alarm = until(alarmed, "an alarm on missing data")
    assert alarm["StateReason"] == (
        "Threshold Crossed: no datapoints were received for 1 period and "
        "1 missing datapoint was treated as [Breaching]."
    )


def test_describe_filters_pages_actions_state_and_tags(cw: Any) -> None:
    ns, prefix = f"Alarms/{uuid.uuid4().hex[:8]}", f"f{uuid.uuid4().hex[:6]}-"
    for i in range(5):
        actions = {"AlarmActions": [SCALING]} if i % 2 == 0 else {"OKActions": [TOPIC]}
        tags = [{"Key": "team", "Value": "a"}] if i == 0 else []
        cw.put_metric_alarm(**alarm_config(f"{prefix}{i}", ns, Period=60, **actions), Tags=tags)
    names = [a["AlarmName"] for a in cw.describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]]
    assert names == [f"{prefix}{i}" for i in range(5)]
    page = cw.describe_alarms(AlarmNamePrefix=prefix, MaxRecords=2)
    assert len(page["MetricAlarms"]) == 2
    rest = cw.describe_alarms(AlarmNamePrefix=prefix, MaxRecords=2, NextToken=page["NextToken"])
    assert [a["AlarmName"] for a in rest["MetricAlarms"]] == [f"{prefix}2", f"{prefix}3"]
    scaling = cw.describe_alarms(AlarmNamePrefix=prefix, ActionPrefix="arn:aws:autoscaling:")["MetricAlarms"]
    assert [a["AlarmName"] for a in scaling] == [f"{prefix}0", f"{prefix}2", f"{prefix}4"]

    cw.set_alarm_state(
        AlarmName=f"{prefix}1", StateValue="ALARM", StateReason="testing", StateReasonData="{}"
    )
    alarmed = cw.describe_alarms(AlarmNamePrefix=prefix, StateValue="ALARM")["MetricAlarms"]
    assert [(a["AlarmName"], a["StateReason"]) for a in alarmed] == [(f"{prefix}1", "testing")]

    cw.disable_alarm_actions(AlarmNames=[f"{prefix}0", "no-such-alarm"])
    enabled = {
        a["AlarmName"]: a["ActionsEnabled"]
        for a in cw.describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]
    }
    assert enabled[f"{prefix}0"] is False and enabled[f"{prefix}1"] is True
    cw.enable_alarm_actions(AlarmNames=[f"{prefix}0"])
    assert cw.describe_alarms(AlarmNames=[f"{prefix}0"])["MetricAlarms"][0]["ActionsEnabled"] is True

    arn = cw.describe_alarms(AlarmNames=[f"{prefix}0"])["MetricAlarms"][0]["AlarmArn"]
    assert cw.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "team", "Value": "a"}]
    cw.tag_resource(ResourceARN=arn, Tags=[{"Key": "env", "Value": "prod"}])
    cw.untag_resource(ResourceARN=arn, TagKeys=["team"])
    assert cw.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "env", "Value": "prod"}]

    for_metric = cw.describe_alarms_for_metric(
        Namespace=ns, MetricName="Depth", Dimensions=[{"Name": "Queue", "Value": "jobs"}]
    )["MetricAlarms"]
    assert len(for_metric) == 5
    # updating keeps the state, replaces the configuration
    cw.put_metric_alarm(**alarm_config(f"{prefix}1", ns, Period=60, Threshold=7.0))
    updated = cw.describe_alarms(AlarmNames=[f"{prefix}1"])["MetricAlarms"][0]
    assert (updated["StateValue"], updated["Threshold"], updated["OKActions"]) == ("ALARM", 7.0, [])
    cw.delete_alarms(AlarmNames=[f"{prefix}{i}" for i in range(5)])
    assert cw.describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"] == []
    deleted = cw.describe_alarm_history(AlarmName=f"{prefix}3", HistoryItemType="ConfigurationUpdate")
    assert deleted["AlarmHistoryItems"][0]["HistorySummary"] == f'Alarm "{prefix}3" deleted'


def _code(call: Callable[..., Any], **kwargs: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return info.value.response["Error"]["Code"], info.value.response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.mark.parametrize(
    "over",
    [
        {"Period": 7},
        {"Period": 3600, "EvaluationPeriods": 200},
        {"Period": 60, "EvaluationPeriods": 1441},
        {"DatapointsToAlarm": 3},
        {"ExtendedStatistic": "p99"},
        {"Statistic": None, "ExtendedStatistic": "p101"},
        {"TreatMissingData": "sometimes"},
        {"ComparisonOperator": "LessThanLowerOrGreaterThanUpperThreshold"},
        {"AlarmActions": ["not-an-arn"]},
        {"AlarmActions": ["arn:aws:s3:::bucket"]},
        {"OKActions": [f"arn:aws:sns:eu-west-1:{ACCOUNT_ID}:ops"]},
    ],
)
def test_bad_alarm_configurations_get_validation_error(cw: Any, over: dict[str, Any]) -> None:
    config = {k: v for k, v in alarm_config("bad", "Alarms/bad", **over).items() if v is not None}
    assert _code(cw.put_metric_alarm, **config) == ("ValidationError", 400)
    assert cw.describe_alarms(AlarmNames=["bad"])["MetricAlarms"] == []


def test_other_bad_alarm_requests(cw: Any, server: ServerProcess) -> None:
    assert _code(cw.delete_alarms, AlarmNames=["never-made"]) == ("ResourceNotFound", 404)
    assert _code(cw.set_alarm_state, AlarmName="never-made", StateValue="OK", StateReason="x") == (
        "ResourceNotFound",
        404,
    )
    cw.put_metric_alarm(**alarm_config("json-check", "Alarms/x"))
    assert _code(
        cw.set_alarm_state, AlarmName="json-check", StateValue="OK", StateReason="x", StateReasonData="{nope"
    ) == ("InvalidFormat", 400)
    assert _code(cw.describe_alarms, AlarmNames=["a"], AlarmNamePrefix="a") == (
        "InvalidParameterCombination",
        400,
    )
    assert _code(cw.describe_alarms, NextToken="junk") == ("InvalidNextToken", 400)
    missing = f"arn:aws:cloudwatch:us-east-1:{ACCOUNT_ID}:alarm:never-made"
    assert _code(cw.list_tags_for_resource, ResourceARN=missing) == ("ResourceNotFoundException", 404)
    # JSON 1.0 (what stock botocore picks) gets the same codes
    assert _code(client(server).delete_alarms, AlarmNames=["never-made"]) == ("ResourceNotFound", 404)
    cw.delete_alarms(AlarmNames=["json-check"])
