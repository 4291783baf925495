"""Scaling policies: PutScalingPolicy, DescribeScalingPolicies, DeleteScalingPolicy.

Target tracking policies track ``ECSServiceAverageCPUUtilization`` /
``ECSServiceAverageMemoryUtilization`` (and their ``HighResolution`` variants) or a customized
metric; the controller evaluates them. Step scaling policies wait for a CloudWatch alarm to
invoke their ``PolicyARN``. Putting a policy under an existing name replaces its configuration
and keeps its ARN and cooldown state.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stowage.api.autoscaling.common import (
    concurrent_update,
    describe_children,
    existing_target,
    limit_exceeded,
    not_found,
    target_ref,
    validation,
)
from stowage.api.aws.context import RequestContext
from stowage.api.aws.service import Params, Result
from stowage.model import autoscaling as model
from stowage.model import autoscaling_rules as rules
from stowage.resources import autoscaling as keys
from stowage.resources.autoscaling import AutoscalingRecords
from stowage.resources.records import ContentionError, Doc, Records

DESCRIBE_MAX = 10


def _cooldown(config: Mapping[str, Any], member: str) -> None:
    value = config.get(member)
    if value is not None and value < 0:
        raise validation(f"{member} must be greater than or equal to 0")


def _check_tracking(config: Mapping[str, Any] | None) -> Doc:
    if not config:
        raise validation(
            "TargetTrackingScalingPolicyConfiguration is required for a TargetTrackingScaling policy"
        )
    predefined, custom = (
        config.get("PredefinedMetricSpecification"),
        config.get("CustomizedMetricSpecification"),
    )
    if bool(predefined) == bool(custom):
        raise validation(
            "Exactly one of PredefinedMetricSpecification and CustomizedMetricSpecification must be specified"
        )
    if predefined and predefined.get("PredefinedMetricType") not in model.ECS_METRICS:
        raise validation(
            f"Unsupported PredefinedMetricType {predefined.get('PredefinedMetricType')} "
            "for service namespace ecs: "
            f"use one of {', '.join(model.ECS_METRICS)}"
        )
    if custom:
        if not custom.get("Metrics") and not (custom.get("MetricName") and custom.get("Namespace")):
            raise validation(
                "CustomizedMetricSpecification requires MetricName, Namespace and Statistic, or Metrics"
            )
        if custom.get("MetricName") and not custom.get("Statistic"):
            raise validation("CustomizedMetricSpecification requires a Statistic")
    if not float(config["TargetValue"]) > 0:
        raise validation("TargetValue must be greater than 0")
    _cooldown(config, "ScaleOutCooldown")
    _cooldown(config, "ScaleInCooldown")
    return dict(config)


def _check_step(config: Mapping[str, Any] | None) -> Doc:
    if not config:
        raise validation("StepScalingPolicyConfiguration is required for a StepScaling policy")
    if not config.get("AdjustmentType"):
        raise validation("AdjustmentType is required for a StepScaling policy")
    problem = rules.step_errors(rules.steps_from(config).steps)
    if problem:
        raise validation(problem)
    magnitude = config.get("MinAdjustmentMagnitude")
    if magnitude is not None:
        if config["AdjustmentType"] != rules.PERCENT:
            raise validation(
                "MinAdjustmentMagnitude is only supported with AdjustmentType PercentChangeInCapacity"
            )
        if magnitude < 1:
            raise validation("MinAdjustmentMagnitude must be greater than or equal to 1")
    _cooldown(config, "Cooldown")
    return dict(config)


async def put_scaling_policy(records: Records, ctx: RequestContext, params: Params) -> Result:
    await existing_target(records, ctx, params)
    namespace, resource_id, dimension = target_ref(params)
    name = str(params["PolicyName"])
    kind = str(params.get("PolicyType") or model.STEP)
    doc: Doc = {
        "PolicyName": name,
        "ServiceNamespace": namespace,
        "ResourceId": resource_id,
        "ScalableDimension": dimension,
        "PolicyType": kind,
    }
    if kind == model.TRACKING:
        doc["TargetTrackingScalingPolicyConfiguration"] = _check_tracking(
            params.get("TargetTrackingScalingPolicyConfiguration")
        )
    elif kind == model.STEP:
        doc["StepScalingPolicyConfiguration"] = _check_step(params.get("StepScalingPolicyConfiguration"))
    else:
        raise validation(
            f"Unsupported policy type {kind} for service namespace ecs: "
            "stowage serves StepScaling and TargetTrackingScaling"
        )
    store = AutoscalingRecords(records)
    key = keys.child_key((ctx.account_id, ctx.region, namespace, resource_id, dimension), keys.POLICIES, name)
    current = await store.get(key)
    if current is None:
        siblings = await store.children(
            ctx.account_id, ctx.region, keys.POLICIES, namespace, rid=resource_id, dim=dimension
        )
        if len(siblings) >= model.MAX_POLICIES:
            raise limit_exceeded(
                f"You have reached the maximum number of scaling policies ({model.MAX_POLICIES}) "
                "for this scalable target"
            )
    previous = current.doc if current is not None else {}
    doc["PolicyARN"] = previous.get("PolicyARN") or model.policy_arn(
        ctx.region, ctx.account_id, namespace, resource_id, name
    )
    doc["CreationTime"] = previous.get("CreationTime") or ctx.now
    if previous.get("_cooldown"):
        doc["_cooldown"] = previous["_cooldown"]
    if kind == model.TRACKING:
        scale_in = not doc["TargetTrackingScalingPolicyConfiguration"].get("DisableScaleIn")
        alarms = previous.get("Alarms") or []
        if previous.get("PolicyType") != model.TRACKING or len(alarms) != (2 if scale_in else 1):
            alarms = model.tracking_alarms(ctx.region, ctx.account_id, resource_id, scale_in)
        doc["Alarms"] = alarms
    try:
        await store.put(key, doc)
    except ContentionError:
        raise concurrent_update() from None
    out: Result = {"PolicyARN": doc["PolicyARN"]}
    if kind == model.TRACKING:
        out["Alarms"] = doc["Alarms"]
    return out


async def describe_scaling_policies(records: Records, ctx: RequestContext, params: Params) -> Result:
    return await describe_children(
        records, ctx, params, operation="DescribeScalingPolicies", kind=keys.POLICIES,
        names=("PolicyNames", "PolicyName"), out_member="ScalingPolicies", maximum=DESCRIBE_MAX,
    )  # fmt: skip


async def delete_scaling_policy(records: Records, ctx: RequestContext, params: Params) -> Result:
    namespace, resource_id, dimension = target_ref(params)
    name = str(params["PolicyName"])
    store = AutoscalingRecords(records)
    key = keys.child_key((ctx.account_id, ctx.region, namespace, resource_id, dimension), keys.POLICIES, name)
    if await store.get(key) is None:
        raise not_found(model.policy_missing(namespace, resource_id, dimension, name))
    await store.delete(key)
    return {}
