"""DescribeScalingActivities: the activities the controller and the step scaling sink recorded,
newest first (their keys sort that way), for a namespace, a resource, or one target."""

from __future__ import annotations

from stowage.api.autoscaling.common import check_namespace, decode_token, encode_token, max_results
from stowage.api.aws.context import RequestContext
from stowage.api.aws.service import Params, Result
from stowage.model import autoscaling as model
from stowage.resources import autoscaling as keys
from stowage.resources.autoscaling import AutoscalingRecords
from stowage.resources.records import Record, Records

DESCRIBE_MAX = 50


async def describe_scaling_activities(records: Records, ctx: RequestContext, params: Params) -> Result:
    namespace = check_namespace(params)
    limit = max_results(params, DESCRIBE_MAX)
    after = decode_token("DescribeScalingActivities", params.get("NextToken"))
    resource_id, dimension = params.get("ResourceId"), params.get("ScalableDimension")
    prefix = keys.child_prefix(
        ctx.account_id, ctx.region, keys.ACTIVITIES, namespace, rid=resource_id, dim=dimension
    )

    def keep(rec: Record) -> bool:
        return dimension is None or rec.doc["ScalableDimension"] == dimension

    recs, more = await AutoscalingRecords(records).page_children(prefix, after=after, limit=limit, keep=keep)
    activities = [model.render(r.doc) for r in recs]
    if resource_id is None:
        # several targets' activities: newest first across them
        activities.sort(key=lambda a: -float(a["StartTime"]))
    out: Result = {"ScalingActivities": activities}
    if more is not None:
        out["NextToken"] = encode_token("DescribeScalingActivities", more)
    return out
