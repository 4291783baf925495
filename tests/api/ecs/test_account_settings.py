"""ECS account settings over real HTTP: per-principal settings, account defaults, effective
settings, filters and pagination."""

from __future__ import annotations

import json
import subprocess
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.server import ACCOUNT_ID, ServerProcess

ROOT = f"arn:aws:iam::{ACCOUNT_ID}:root"
ALL_NAMES = [
    "serviceLongArnFormat",
    "taskLongArnFormat",
    "containerInstanceLongArnFormat",
    "awsvpcTrunking",
    "containerInsights",
    "fargateFIPSMode",
    "tagResourceAuthorization",
    "fargateTaskRetirementWaitPeriod",
    "guardDutyActivate",
    "defaultLogDriverMode",
    "fargateEventWindows",
]


def user() -> str:
    return f"arn:aws:iam::{ACCOUNT_ID}:user/u-{uuid.uuid4().hex[:10]}"


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_put_and_list_for_a_principal(ecs: Any) -> None:
    principal = user()
    setting = ecs.put_account_setting(name="awsvpcTrunking", value="enabled", principalArn=principal)[
        "setting"
    ]
    assert setting == {
        "name": "awsvpcTrunking",
        "value": "enabled",
        "principalArn": principal,
        "type": "user",
    }
    listed = ecs.list_account_settings(principalArn=principal)["settings"]
    assert listed == [setting]
    assert ecs.list_account_settings(principalArn=user())["settings"] == []


def test_effective_settings_cover_every_name(ecs: Any) -> None:
    principal = user()
    ecs.put_account_setting(name="defaultLogDriverMode", value="blocking", principalArn=principal)
    first = ecs.list_account_settings(principalArn=principal, effectiveSettings=True)
    # ECS answers at most 10 settings a page by default.
    assert [s["name"] for s in first["settings"]] == ALL_NAMES[:10]
    assert "nextToken" in first
    pages = ecs.get_paginator("list_account_settings").paginate(
        principalArn=principal, effectiveSettings=True
    )
    settings = [s for page in pages for s in page["settings"]]
    assert [s["name"] for s in settings] == ALL_NAMES
    by_name = {s["name"]: s for s in settings}
    assert by_name["defaultLogDriverMode"]["value"] == "blocking"
    assert by_name["defaultLogDriverMode"]["type"] == "user"
    assert by_name["serviceLongArnFormat"]["value"] == "enabled"
    assert by_name["fargateTaskRetirementWaitPeriod"]["value"] == "7"
    assert by_name["guardDutyActivate"]["type"] == "aws_managed"
    assert all(s["principalArn"] == principal for s in settings)


def test_filters(ecs: Any) -> None:
    principal = user()
    ecs.put_account_setting(name="awsvpcTrunking", value="enabled", principalArn=principal)
    ecs.put_account_setting(name="fargateEventWindows", value="enabled", principalArn=principal)
    named = ecs.list_account_settings(principalArn=principal, name="fargateEventWindows")["settings"]
    assert [s["name"] for s in named] == ["fargateEventWindows"]
    assert (
        ecs.list_account_settings(principalArn=principal, name="awsvpcTrunking", value="disabled")["settings"]
        == []
    )
    eff = ecs.list_account_settings(principalArn=principal, effectiveSettings=True, name="taskLongArnFormat")
    assert [s["name"] for s in eff["settings"]] == ["taskLongArnFormat"]
    with pytest.raises(ClientError) as exc:
        ecs.list_account_settings(principalArn=principal, value="enabled")
    assert code(exc) == "InvalidParameterException"


def test_pagination_and_paginator(ecs: Any) -> None:
    principal = user()
    pages = list(
        ecs.get_paginator("list_account_settings").paginate(
            principalArn=principal, effectiveSettings=True, PaginationConfig={"PageSize": 3}
        )
    )
    assert [len(p["settings"]) for p in pages] == [3, 3, 3, 2]
    assert [s["name"] for p in pages for s in p["settings"]] == ALL_NAMES
    first = ecs.list_account_settings(principalArn=principal, effectiveSettings=True, maxResults=10)
    second = ecs.list_account_settings(
        principalArn=principal, effectiveSettings=True, nextToken=first["nextToken"]
    )
    assert [s["name"] for s in second["settings"]] == ALL_NAMES[10:]
    assert "nextToken" not in second
    for kwargs in ({"maxResults": 11}, {"maxResults": 0}, {"nextToken": "not-a-token"}):
        with pytest.raises(ClientError) as exc:
            ecs.list_account_settings(**kwargs)
        assert code(exc) == "InvalidParameterException"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("containerInsights", "on"),
        ("tagResourceAuthorization", "enabled"),
        ("fargateTaskRetirementWaitPeriod", "3"),
        ("defaultLogDriverMode", "fast"),
        ("guardDutyActivate", "on"),
    ],
)
def test_invalid_values(ecs: Any, name: str, value: str) -> None:
    with pytest.raises(ClientError) as exc:
        ecs.put_account_setting(name=name, value=value, principalArn=user())
    assert code(exc) == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        ecs.put_account_setting_default(name=name, value=value)
    assert code(exc) == "InvalidParameterException"


def test_retirement_wait_period_is_root_only(ecs: Any) -> None:
    with pytest.raises(ClientError) as exc:
        ecs.put_account_setting(name="fargateTaskRetirementWaitPeriod", value="14", principalArn=user())
    assert code(exc) == "InvalidParameterException"


@pytest.mark.parametrize(
    "principal",
    [
        "not-an-arn",
        "arn:aws:iam::999999999999:user/other-account",
        f"arn:aws:s3:::{ACCOUNT_ID}",
        f"arn:aws:iam::{ACCOUNT_ID}:group/g",
    ],
)
def test_invalid_principal(ecs: Any, principal: str) -> None:
    with pytest.raises(ClientError) as exc:
        ecs.put_account_setting(name="awsvpcTrunking", value="enabled", principalArn=principal)
    assert code(exc) == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        ecs.list_account_settings(principalArn=principal)
    assert code(exc) == "InvalidParameterException"


def test_delete_account_setting(ecs: Any) -> None:
    principal = user()
    ecs.put_account_setting(name="containerInsights", value="enhanced", principalArn=principal)
    deleted = ecs.delete_account_setting(name="containerInsights", principalArn=principal)["setting"]
    assert deleted["value"] == "enhanced"
    assert ecs.list_account_settings(principalArn=principal)["settings"] == []
    # Deleting again answers what now applies.
    again = ecs.delete_account_setting(name="containerInsights", principalArn=principal)["setting"]
    assert again["name"] == "containerInsights"
    assert again["principalArn"] == principal


def test_account_default_applies_to_principals_and_new_clusters(fresh_server: ServerProcess) -> None:
    ecs = fresh_server.boto3_client("ecs")
    principal = user()
    default = ecs.put_account_setting_default(name="containerInsights", value="enabled")["setting"]
    assert default == {"name": "containerInsights", "value": "enabled", "principalArn": ROOT, "type": "user"}
    # The caller is the root user: its own list shows the default.
    assert ecs.list_account_settings(name="containerInsights")["settings"] == [default]
    eff = ecs.list_account_settings(principalArn=principal, effectiveSettings=True, name="containerInsights")
    assert eff["settings"][0]["value"] == "enabled"
    ecs.put_account_setting(name="containerInsights", value="disabled", principalArn=principal)
    eff = ecs.list_account_settings(principalArn=principal, effectiveSettings=True, name="containerInsights")
    assert eff["settings"][0]["value"] == "disabled"

    cluster = ecs.create_cluster(clusterName="insightful")["cluster"]
    assert cluster["settings"] == [{"name": "containerInsights", "value": "enabled"}]

    # PutAccountSetting on the root user is the account default too.
    ecs.put_account_setting(name="containerInsights", value="enhanced")
    assert (
        ecs.list_account_settings(principalArn=ROOT, name="containerInsights")["settings"][0]["value"]
        == "enhanced"
    )
    ecs.delete_account_setting(name="containerInsights")
    eff = ecs.list_account_settings(effectiveSettings=True, name="containerInsights")["settings"][0]
    assert eff["value"] == "disabled"
    assert eff["type"] == "aws_managed"


def test_cli_account_settings(fresh_server: ServerProcess) -> None:
    def aws(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [".venv/bin/aws", "ecs", *args, "--output", "json"],
            env=fresh_server.env(), capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    put = aws("put-account-setting-default", "--name", "awsvpcTrunking", "--value", "enabled")
    assert put.returncode == 0, put.stderr
    assert json.loads(put.stdout)["setting"]["principalArn"] == ROOT
    listed = aws("list-account-settings", "--effective-settings", "--page-size", "2")
    assert listed.returncode == 0, listed.stderr
    settings = json.loads(listed.stdout)["settings"]
    assert [s["name"] for s in settings] == ALL_NAMES
    assert {s["name"]: s["value"] for s in settings}["awsvpcTrunking"] == "enabled"
    bad = aws("put-account-setting", "--name", "awsvpcTrunking", "--value", "maybe")
    assert bad.returncode != 0
    assert "InvalidParameterException" in bad.stderr
