"""ECS account settings: the names, the values each accepts, AWS's defaults, and principals.

A setting is resolved for a principal the way ECS does it: the principal's own setting, else
the account default (set with PutAccountSettingDefault, or PutAccountSetting on the root user),
else the AWS default below.
"""

from __future__ import annotations

import re

from stowage.model.arns import root_principal_arn
from stowage.model.validation import Invalid

_ON_OFF = ("enabled", "disabled")

# Every SettingName in the ECS model, in the model's order, with its accepted values.
VALUES: dict[str, tuple[str, ...]] = {
    "serviceLongArnFormat": _ON_OFF,
    "taskLongArnFormat": _ON_OFF,
    "containerInstanceLongArnFormat": _ON_OFF,
    "awsvpcTrunking": _ON_OFF,
    "containerInsights": ("enhanced", "enabled", "disabled"),
    "fargateFIPSMode": _ON_OFF,
    "tagResourceAuthorization": ("on", "off"),
    "fargateTaskRetirementWaitPeriod": ("0", "7", "14"),
    "guardDutyActivate": ("on", "off"),
    "defaultLogDriverMode": ("blocking", "non-blocking"),
    "fargateEventWindows": _ON_OFF,
}
NAMES = tuple(VALUES)

AWS_DEFAULTS: dict[str, str] = {
    "serviceLongArnFormat": "enabled",
    "taskLongArnFormat": "enabled",
    "containerInstanceLongArnFormat": "enabled",
    "awsvpcTrunking": "disabled",
    "containerInsights": "disabled",
    "fargateFIPSMode": "disabled",
    "tagResourceAuthorization": "on",
    "fargateTaskRetirementWaitPeriod": "7",
    "guardDutyActivate": "off",
    "defaultLogDriverMode": "non-blocking",
    "fargateEventWindows": "disabled",
}

READ_ONLY = frozenset({"guardDutyActivate"})
"""Reported by ECS but set elsewhere (GuardDuty): Put answers InvalidParameterException."""
ROOT_ONLY = frozenset({"fargateTaskRetirementWaitPeriod"})
"""Only settable account-wide (on the root user or as the default)."""

MAX_LIST_PAGE = 10

_PRINCIPAL = re.compile(r"^arn:aws:iam::(?P<account>\d{12}):(?P<kind>root|user/.+|role/.+)$")


def check_value(name: str, value: str) -> str:
    if name in READ_ONLY:
        raise Invalid(f"The {name} account setting is read-only and cannot be modified.")
    accepted = VALUES[name]
    if value not in accepted:
        raise Invalid(
            f"Invalid value '{value}' for account setting {name}. Valid values: {', '.join(accepted)}."
        )
    return value


def check_principal(principal_arn: str, account: str) -> str:
    """A principal ARN of this account: its root user, a user or a role."""
    m = _PRINCIPAL.match(principal_arn)
    if m is None or m["account"] != account:
        raise Invalid(
            f"The principalArn '{principal_arn}' is not a valid IAM user, role or root ARN of this account."
        )
    return principal_arn


def is_root(principal_arn: str, account: str) -> bool:
    return principal_arn == root_principal_arn(account)
