"""``autoscaling_service``: Application Auto Scaling (botocore model ``application-autoscaling``,
target prefix ``AnyScaleFrontendService``) over the state store. Store contention that outlasts
the retries is AWS's ``ConcurrentUpdateException``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from stowage.api.autoscaling import activities, policies, scheduled, targets
from stowage.api.autoscaling.common import concurrent_update
from stowage.api.aws.context import RequestContext
from stowage.api.aws.service import AwsService, Handler, Params, Result
from stowage.resources.records import ContentionError, Records

SERVICE_NAME = "application-autoscaling"

RecordsHandler = Callable[[Records, RequestContext, Params], Awaitable[Result]]

HANDLERS: dict[str, RecordsHandler] = {
    "RegisterScalableTarget": targets.register_scalable_target,
    "DescribeScalableTargets": targets.describe_scalable_targets,
    "DeregisterScalableTarget": targets.deregister_scalable_target,
    "TagResource": targets.tag_resource,
    "UntagResource": targets.untag_resource,
    "ListTagsForResource": targets.list_tags_for_resource,
    "PutScalingPolicy": policies.put_scaling_policy,
    "DescribeScalingPolicies": policies.describe_scaling_policies,
    "DeleteScalingPolicy": policies.delete_scaling_policy,
    "PutScheduledAction": scheduled.put_scheduled_action,
    "DescribeScheduledActions": scheduled.describe_scheduled_actions,
    "DeleteScheduledAction": scheduled.delete_scheduled_action,
    "DescribeScalingActivities": activities.describe_scaling_activities,
}


def _bind(records: Records, handler: RecordsHandler) -> Handler:
    async def bound(ctx: RequestContext, params: Params) -> Result:
        try:
            return await handler(records, ctx, params)
        except ContentionError:
            raise concurrent_update() from None

    return bound


def autoscaling_service(records: Records) -> AwsService:
    return AwsService(SERVICE_NAME, {name: _bind(records, h) for name, h in HANDLERS.items()})
