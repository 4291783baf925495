"""Application Auto Scaling's resources as records: scalable targets, scaling policies,
scheduled actions and scaling activities of ECS services; their ARNs and AWS's wording.

Records are the API's shapes (``ScalableTarget``, ``ScalingPolicy``, ``ScheduledAction``,
``ScalingActivity``) plus private members (names starting with ``_``, never rendered):

- target ``_id`` (its ARN's id), ``_tags``, ``_enforce`` (min/max changed: the controller brings
  the service's desired count within them once);
- policy ``_cooldown`` (``autoscaling_rules.Cooldown``);
- scheduled action ``_last`` (epoch seconds of its last run).

Pure: no store, no clock.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

from stowage.model.alarm_actions import AUTOSCALING_ARN_PREFIX

Doc = dict[str, Any]

ECS = "ecs"
ECS_DIMENSION = "ecs:service:DesiredCount"
STEP = "StepScaling"
TRACKING = "TargetTrackingScaling"
PREDICTIVE = "PredictiveScaling"
ECS_CPU = "ECSServiceAverageCPUUtilization"
ECS_MEMORY = "ECSServiceAverageMemoryUtilization"
ECS_CPU_HIGH = "ECSServiceAverageCPUUtilizationHighResolution"
ECS_MEMORY_HIGH = "ECSServiceAverageMemoryUtilizationHighResolution"
ECS_METRICS = (ECS_CPU, ECS_MEMORY, ECS_CPU_HIGH, ECS_MEMORY_HIGH)

MAX_TARGETS = 3000
"""Scalable targets per namespace per account and region (AWS's default quota)."""
MAX_POLICIES = 50
"""Scaling policies per scalable target."""
MAX_SCHEDULED = 200
"""Scheduled actions per scalable target."""
MAX_TAGS = 50

SUCCESSFUL = "Successful"
FAILED = "Failed"

_SERVICE_ID = re.compile(r"^service/([A-Za-z0-9_-]{1,255})/([A-Za-z0-9_-]{1,255})$")

UNSUPPORTED = "Unsupported service namespace, resource type or scalable dimension"


def parse_service_id(resource_id: str) -> tuple[str, str] | None:
    """``service/<cluster>/<service>`` → (cluster, service)."""
    m = _SERVICE_ID.match(resource_id)
    return (m.group(1), m.group(2)) if m else None


def service_role_arn(account: str) -> str:
    """The service-linked role ECS targets use when RoleARN is not given."""
    return (
        f"arn:aws:iam::{account}:role/aws-service-role/ecs.application-autoscaling.amazonaws.com/"
        "AWSServiceRoleForApplicationAutoScaling_ECSService"
    )


def new_target_id() -> str:
    return uuid.uuid4().hex + uuid.uuid4().hex[:4]


def target_arn(region: str, account: str, target_id: str) -> str:
    return f"arn:aws:application-autoscaling:{region}:{account}:scalable-target/{target_id}"


def policy_arn(region: str, account: str, namespace: str, resource_id: str, name: str) -> str:
    return (
        f"{AUTOSCALING_ARN_PREFIX}{region}:{account}:scalingPolicy:{uuid.uuid4()}:"
        f"resource/{namespace}/{resource_id}:policyName/{name}"
    )


def scheduled_action_arn(region: str, account: str, namespace: str, resource_id: str, name: str) -> str:
    return (
        f"{AUTOSCALING_ARN_PREFIX}{region}:{account}:scheduledAction:{uuid.uuid4()}:"
        f"resource/{namespace}/{resource_id}:scheduledActionName/{name}"
    )


def tracking_alarms(region: str, account: str, resource_id: str, scale_in: bool) -> list[Doc]:
    """The alarms AWS creates for a target tracking policy (AlarmHigh, and AlarmLow unless
    scale-in is disabled). stowage evaluates them inside the controller; they are named here
    so activities can cite them as AWS's do."""
    kinds = ["AlarmHigh", "AlarmLow"] if scale_in else ["AlarmHigh"]
    out = []
    for kind in kinds:
        name = f"TargetTracking-{resource_id}-{kind}-{uuid.uuid4()}"
        out.append({"AlarmName": name, "AlarmARN": f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}"})
    return out


def target_missing(namespace: str, resource_id: str, dimension: str) -> str:
    return (
        f"No scalable target registered for service namespace: {namespace}, resource ID: "
        f"{resource_id}, scalable dimension: {dimension}"
    )


def policy_missing(namespace: str, resource_id: str, dimension: str, name: str) -> str:
    return (
        f"No scaling policy found for service namespace: {namespace}, resource ID: {resource_id}, "
        f"scalable dimension: {dimension}, policy name: {name}"
    )


def scheduled_missing(namespace: str, resource_id: str, dimension: str, name: str) -> str:
    return (
        f"No scheduled action found for service namespace: {namespace}, resource ID: {resource_id}, "
        f"scalable dimension: {dimension}, scheduled action name: {name}"
    )


# -- activities -------------------------------------------------------------------------------
def desired_description(count: int) -> str:
    return f"Setting desired count to {count}."


def desired_success(count: int) -> str:
    return f"Successfully set desired count to {count}. Change successfully fulfilled by ecs."


def desired_failure(count: int, reason: str) -> str:
    return f"Failed to set desired count to {count}. Reason: {reason}"


def alarm_cause(alarm_name: str, policy_name: str) -> str:
    return f"monitor alarm {alarm_name} in state ALARM triggered policy {policy_name}"


def bound_cause(low: int | None, high: int | None, count: int) -> str:
    """Why a min/max change moved the desired count."""
    if low is not None and count == low:
        return f"minimum capacity was set to {low}"
    return f"maximum capacity was set to {high}"


def scheduled_cause(name: str) -> str:
    return f"scheduled action name {name} was triggered"


def capacity_text(low: int | None, high: int | None) -> str:
    parts = []
    if low is not None:
        parts.append(f"min capacity to {low}")
    if high is not None:
        parts.append(f"max capacity to {high}")
    return " and ".join(parts)


def activity(
    target: Mapping[str, Any],
    *,
    activity_id: str,
    description: str,
    cause: str,
    start: float,
    end: float,
    status: str,
    message: str,
) -> Doc:
    return {
        "ActivityId": activity_id,
        "ServiceNamespace": target["ServiceNamespace"],
        "ResourceId": target["ResourceId"],
        "ScalableDimension": target["ScalableDimension"],
        "Description": description,
        "Cause": cause,
        "StartTime": start,
        "EndTime": end,
        "StatusCode": status,
        "StatusMessage": message,
    }


def render(doc: Mapping[str, Any]) -> Doc:
    """The API shape of a record: private members dropped."""
    return {k: v for k, v in doc.items() if not k.startswith("_")}
