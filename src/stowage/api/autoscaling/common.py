"""What every Application Auto Scaling handler shares: its errors (shape names of the botocore
model, so boto3 raises ``client.exceptions.<Code>``), the scalable target a request names,
paging tokens and ``MaxResults``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stowage.api.aws import page_tokens
from stowage.api.aws.context import RequestContext
from stowage.api.aws.errors import AwsError
from stowage.model import autoscaling as model
from stowage.resources import autoscaling as keys
from stowage.resources.autoscaling import AutoscalingRecords
from stowage.resources.records import Record, Records


def validation(message: str) -> AwsError:
    return AwsError("ValidationException", message)


def not_found(message: str) -> AwsError:
    return AwsError("ObjectNotFoundException", message)


def limit_exceeded(message: str) -> AwsError:
    return AwsError("LimitExceededException", message)


def concurrent_update() -> AwsError:
    return AwsError(
        "ConcurrentUpdateException",
        "Concurrent updates to the same resource are in progress; retry the request.",
    )


def target_ref(params: Mapping[str, Any]) -> tuple[str, str, str]:
    """(namespace, resource id, dimension), checked: stowage scales ECS services' desired count."""
    namespace, resource_id = str(params["ServiceNamespace"]), str(params["ResourceId"])
    dimension = str(params["ScalableDimension"])
    if namespace != model.ECS or dimension != model.ECS_DIMENSION:
        raise validation(model.UNSUPPORTED)
    if model.parse_service_id(resource_id) is None:
        raise validation(
            f"Unsupported resource ID: {resource_id}. Expected service/<cluster-name>/<service-name>"
        )
    return namespace, resource_id, dimension


def check_namespace(params: Mapping[str, Any]) -> str:
    namespace = str(params["ServiceNamespace"])
    dimension = params.get("ScalableDimension")
    if namespace != model.ECS or (dimension is not None and dimension != model.ECS_DIMENSION):
        raise validation(model.UNSUPPORTED)
    return namespace


async def existing_target(records: Records, ctx: RequestContext, params: Mapping[str, Any]) -> Record:
    namespace, resource_id, dimension = target_ref(params)
    rec = await AutoscalingRecords(records).target(
        ctx.account_id, ctx.region, namespace, resource_id, dimension
    )
    if rec is None:
        raise not_found(model.target_missing(namespace, resource_id, dimension))
    return rec


def max_results(params: Mapping[str, Any], maximum: int) -> int:
    value = params.get("MaxResults")
    if value is None:
        return maximum
    if value < 1 or value > maximum:
        bound = f"less than or equal to {maximum}" if value > maximum else "greater than or equal to 1"
        raise validation(
            f"1 validation error detected: Value '{value}' at 'maxResults' failed to satisfy constraint: "
            f"Member must have value {bound}"
        )
    return int(value)


def encode_token(operation: str, after: str) -> str:
    return page_tokens.encode(operation, {"after": after})


def decode_token(operation: str, token: str | None) -> str | None:
    if token is None:
        return None
    after = page_tokens.decode_after(operation, token)
    if after is None:
        raise AwsError("InvalidNextTokenException", "Invalid NextToken")
    return after


async def describe_children(
    records: Records,
    ctx: RequestContext,
    params: Mapping[str, Any],
    *,
    operation: str,
    kind: str,
    names: tuple[str, str],
    out_member: str,
    maximum: int,
) -> dict[str, Any]:
    """DescribeScalingPolicies / DescribeScheduledActions: one page of a kind of target child
    (``kind``: ``keys.POLICIES`` or ``keys.SCHEDULED``), filtered by ResourceId, ScalableDimension
    and a list of names (``names``: the request member and the record field it matches)."""
    namespace = check_namespace(params)
    limit = max_results(params, maximum)
    after = decode_token(operation, params.get("NextToken"))
    wanted = set(params.get(names[0]) or [])
    resource_id, dimension = params.get("ResourceId"), params.get("ScalableDimension")
    prefix = keys.child_prefix(ctx.account_id, ctx.region, kind, namespace, rid=resource_id, dim=dimension)

    def keep(rec: Record) -> bool:
        return (not wanted or rec.doc[names[1]] in wanted) and (
            dimension is None or rec.doc["ScalableDimension"] == dimension
        )

    recs, more = await AutoscalingRecords(records).page_children(prefix, after=after, limit=limit, keep=keep)
    out: dict[str, Any] = {out_member: [model.render(r.doc) for r in recs]}
    if more is not None:
        out["NextToken"] = encode_token(operation, more)
    return out
