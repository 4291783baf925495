"""Log groups over HTTP with boto3: create, describe (prefix, pattern, paging), delete,
retention policies, deletion protection and tags, with CloudWatch's exact errors."""

from __future__ import annotations

from typing import Any

from tests.api.logs.support import expect_error, now_ms, unique

GROUP_MISSING = "The specified log group does not exist."


def test_create_and_describe_a_group(logs: Any, account: str) -> None:
    name = unique()
    before = now_ms()
    logs.create_log_group(logGroupName=name, tags={"team": "core"}, kmsKeyId="alias/mine")
    [group] = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    assert group["logGroupName"] == name
    assert group["arn"] == f"arn:aws:logs:us-east-1:{account}:log-group:{name}:*"
    assert group["logGroupArn"] == f"arn:aws:logs:us-east-1:{account}:log-group:{name}"
    assert before - 1000 <= group["creationTime"] <= now_ms() + 1000
    assert group["storedBytes"] == 0 and group["metricFilterCount"] == 0
    assert group["kmsKeyId"] == "alias/mine" and group["logGroupClass"] == "STANDARD"
    assert "retentionInDays" not in group
    assert logs.list_tags_log_group(logGroupName=name)["tags"] == {"team": "core"}
    expect_error(
        "ResourceAlreadyExistsException",
        lambda: logs.create_log_group(logGroupName=name),
        "The specified log group already exists",
    )


def test_describe_pages_in_ascii_order(logs: Any) -> None:
    base = unique("/page/")
    names = [f"{base}/{c}" for c in ("b", "A", "c", "a", "B")]
    for n in names:
        logs.create_log_group(logGroupName=n)
    first = logs.describe_log_groups(logGroupNamePrefix=base, limit=2)
    assert [g["logGroupName"] for g in first["logGroups"]] == [f"{base}/A", f"{base}/B"]
    second = logs.describe_log_groups(logGroupNamePrefix=base, limit=2, nextToken=first["nextToken"])
    assert [g["logGroupName"] for g in second["logGroups"]] == [f"{base}/a", f"{base}/b"]
    third = logs.describe_log_groups(logGroupNamePrefix=base, limit=2, nextToken=second["nextToken"])
    assert [g["logGroupName"] for g in third["logGroups"]] == [f"{base}/c"]
    assert "nextToken" not in third
    paged = logs.get_paginator("describe_log_groups").paginate(
        logGroupNamePrefix=base, PaginationConfig={"PageSize": 2}
    )
    assert [g["logGroupName"] for p in paged for g in p["logGroups"]] == sorted(names)
    expect_error(
        "InvalidParameterException",
        lambda: logs.describe_log_groups(nextToken="garbage"),
        "The specified nextToken is invalid.",
    )


def test_pattern_is_a_case_sensitive_substring_with_brief_output(logs: Any) -> None:
    tag = unique("").replace("-", "")
    logs.create_log_group(logGroupName=f"/svc/{tag}DataLogs")
    logs.create_log_group(logGroupName=f"/svc/{tag}datalogs")
    found = logs.describe_log_groups(logGroupNamePattern=f"{tag}DataLogs")["logGroups"]
    assert [g["logGroupName"] for g in found] == [f"/svc/{tag}DataLogs"]
    assert set(found[0]) == {"logGroupName", "creationTime", "arn"}
    expect_error(
        "InvalidParameterException",
        lambda: logs.describe_log_groups(logGroupNamePrefix="/svc", logGroupNamePattern=tag),
    )


def test_identifiers_and_class_filters(logs: Any, account: str) -> None:
    a, b = unique(), unique()
    logs.create_log_group(logGroupName=a, logGroupClass="INFREQUENT_ACCESS")
    logs.create_log_group(logGroupName=b)
    arn_b = f"arn:aws:logs:us-east-1:{account}:log-group:{b}"
    found = logs.describe_log_groups(logGroupIdentifiers=[a, arn_b])["logGroups"]
    assert sorted(g["logGroupName"] for g in found) == sorted([a, b])
    ia = logs.describe_log_groups(logGroupIdentifiers=[a, b], logGroupClass="ESSENTIALS")["logGroups"]
    assert [g["logGroupName"] for g in ia] == [a]


def test_delete_group(logs: Any) -> None:
    name = unique()
    logs.create_log_group(logGroupName=name)
    logs.create_log_stream(logGroupName=name, logStreamName="s")
    logs.put_log_events(
        logGroupName=name, logStreamName="s", logEvents=[{"timestamp": now_ms(), "message": "hi"}]
    )
    logs.delete_log_group(logGroupName=name)
    assert logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"] == []
    expect_error("ResourceNotFoundException", lambda: logs.delete_log_group(logGroupName=name), GROUP_MISSING)
    # Re-created, it starts empty.
    logs.create_log_group(logGroupName=name)
    expect_error(
        "ResourceNotFoundException",
        lambda: logs.get_log_events(logGroupName=name, logStreamName="s"),
        "The specified log stream does not exist.",
    )


def test_reserved_prefix_and_deletion_protection(logs: Any) -> None:
    expect_error("InvalidParameterException", lambda: logs.create_log_group(logGroupName="aws/mine"))
    name = unique()
    logs.create_log_group(logGroupName=name, deletionProtectionEnabled=True)
    expect_error("ValidationException", lambda: logs.delete_log_group(logGroupName=name))
    logs.put_log_group_deletion_protection(logGroupIdentifier=name, deletionProtectionEnabled=False)
    logs.delete_log_group(logGroupName=name)


def test_retention_policies(logs: Any) -> None:
    name = unique()
    logs.create_log_group(logGroupName=name)
    logs.put_retention_policy(logGroupName=name, retentionInDays=14)
    [group] = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    assert group["retentionInDays"] == 14
    err = expect_error(
        "InvalidParameterException", lambda: logs.put_retention_policy(logGroupName=name, retentionInDays=2)
    )
    assert "Value '2' at 'retentionInDays' failed to satisfy constraint" in err.response["Error"]["Message"]
    logs.delete_retention_policy(logGroupName=name)
    [group] = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    assert "retentionInDays" not in group
    missing = unique()
    expect_error(
        "ResourceNotFoundException",
        lambda: logs.put_retention_policy(logGroupName=missing, retentionInDays=1),
        GROUP_MISSING,
    )
    expect_error(
        "ResourceNotFoundException", lambda: logs.delete_retention_policy(logGroupName=missing), GROUP_MISSING
    )


def test_tags_by_arn_and_by_name(logs: Any, account: str) -> None:
    name = unique()
    logs.create_log_group(logGroupName=name)
    arn = f"arn:aws:logs:us-east-1:{account}:log-group:{name}"
    logs.tag_resource(resourceArn=arn, tags={"a": "1", "b": "2"})
    logs.untag_resource(resourceArn=arn, tagKeys=["a"])
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"b": "2"}
    logs.tag_log_group(logGroupName=name, tags={"c": "3"})
    logs.untag_log_group(logGroupName=name, tags=["b"])
    assert logs.list_tags_log_group(logGroupName=name)["tags"] == {"c": "3"}
    expect_error(
        "TooManyTagsException",
        lambda: logs.tag_resource(resourceArn=arn, tags={f"k{i}": "v" for i in range(50)}),
        "A resource can have no more than 50 tags.",
    )
    gone = f"arn:aws:logs:us-east-1:{account}:log-group:{unique()}"
    expect_error(
        "ResourceNotFoundException", lambda: logs.list_tags_for_resource(resourceArn=gone), GROUP_MISSING
    )
    expect_error(
        "InvalidParameterException",
        lambda: logs.list_tags_for_resource(resourceArn="arn:aws:ecs:us-east-1:000000000000:cluster/x"),
    )
