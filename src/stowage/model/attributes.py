"""ECS custom attributes on container instances: name and value rules, and targets.

A target is a container instance given by its id or full ARN. The rules are ECS's: names of
1..128 letters, digits and ``- _ / \\ .``; values of 1..128 letters, digits, spaces and
``- _ . @ / \\ :`` that neither start nor end with a space; at most 10 custom attributes per
resource and per call.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stowage.model.arns import parse_arn
from stowage.model.validation import Invalid

TARGET_TYPE = "container-instance"
MAX_PER_CALL = 10
MAX_PER_TARGET = 10
MAX_LIST_PAGE = 100

_NAME = re.compile(r"^[A-Za-z0-9_./\\-]{1,128}$")
_VALUE = re.compile(r"^[A-Za-z0-9_.@/\\: -]{1,128}$")
# Container instance ids: 32 hex digits (current format) or a dashed UUID (older format).
_INSTANCE_ID = re.compile(r"^(?:[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")


@dataclass(frozen=True, slots=True)
class Target:
    instance_id: str
    cluster: str | None
    """The cluster named in the target ARN, if an ARN was given."""


def check_attribute(attr: Mapping[str, Any]) -> None:
    name = attr.get("name", "")
    if not _NAME.match(name):
        raise Invalid(
            f"Attribute name '{name}' is invalid. Names must be 1-128 characters: letters, numbers, "
            "hyphens, underscores, forward slashes, back slashes or periods."
        )
    value = attr.get("value")
    if value is not None and (not _VALUE.match(value) or value != value.strip(" ")):
        raise Invalid(
            f"Attribute value '{value}' is invalid. Values must be 1-128 characters: letters, numbers, "
            "hyphens, underscores, periods, at signs, forward slashes, back slashes, colons or "
            "spaces, and cannot start or end with a space."
        )
    target_type = attr.get("targetType", TARGET_TYPE)
    if target_type != TARGET_TYPE:
        raise Invalid(f"Invalid targetType '{target_type}'. Valid values: {TARGET_TYPE}.")


def parse_target(target_id: str, account: str, region: str) -> Target:
    """A container instance target from its short id or its full ARN."""
    if target_id.startswith("arn:"):
        arn = parse_arn(target_id)
        if (
            arn is None
            or arn.service != "ecs"
            or arn.resource_type != TARGET_TYPE
            or arn.account != account
            or arn.region != region
        ):
            raise Invalid(f"The target '{target_id}' is not a valid container instance ARN.")
        parts = arn.resource_id.split("/")
        if len(parts) == 2:
            cluster, instance_id = parts
        elif len(parts) == 1:
            cluster, instance_id = None, parts[0]
        else:
            raise Invalid(f"The target '{target_id}' is not a valid container instance ARN.")
        if not _INSTANCE_ID.match(instance_id):
            raise Invalid(f"The target '{target_id}' is not a valid container instance ARN.")
        return Target(instance_id, cluster)
    if not _INSTANCE_ID.match(target_id):
        raise Invalid(f"The target '{target_id}' is not a valid container instance id or ARN.")
    return Target(target_id, None)
