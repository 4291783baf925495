"""Log groups: CreateLogGroup, DeleteLogGroup, DescribeLogGroups, PutRetentionPolicy,
DeleteRetentionPolicy and PutLogGroupDeletionProtection."""

from __future__ import annotations

from stowage.api.aws.context import RequestContext
from stowage.api.aws.service import Params, Result
from stowage.api.logs import tokens
from stowage.api.logs.errors import invalid_parameter, validation
from stowage.api.logs.handler import LogsHandler, millis
from stowage.api.logs.names import group_from_arn, owner, requested_group
from stowage.api.logs.shapes import log_group
from stowage.logstore import LogGroup, LogStore

RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
"""The only values PutRetentionPolicy accepts (botocore documents them; the model has no enum)."""
MAX_TAGS = 50
_LOW_COST_CLASSES = ("INFREQUENT_ACCESS", "ESSENTIALS")


async def create_log_group(logs: LogStore, ctx: RequestContext, params: Params) -> Result:
    name: str = params["logGroupName"]
    if name.startswith("aws/"):
        raise invalid_parameter("Log group names can't start with the string aws/")
    tags = dict(params.get("tags") or {})
    if len(tags) > MAX_TAGS:
        raise invalid_parameter(f"A resource can have no more than {MAX_TAGS} tags.")
    group = LogGroup(
        name=name,
        creation_time=millis(ctx),
        kms_key_id=params.get("kmsKeyId"),
        log_group_class=params.get("logGroupClass") or "STANDARD",
        deletion_protection=bool(params.get("deletionProtectionEnabled", False)),
        tags=tags,
    )
    await logs.create_group(owner(ctx), group)
    return {}


async def delete_log_group(logs: LogStore, ctx: RequestContext, params: Params) -> Result:
    name: str = params["logGroupName"]
    group = await logs.get_group(owner(ctx), name)
    if group.deletion_protection:
        raise validation(
            "Deletion protection is enabled for this log group. Disable it with"
            " PutLogGroupDeletionProtection before deleting the log group."
        )
    await logs.delete_group(owner(ctx), name)
    return {}


async def describe_log_groups(logs: LogStore, ctx: RequestContext, params: Params) -> Result:
    prefix = params.get("logGroupNamePrefix")
    pattern = params.get("logGroupNamePattern")
    if prefix is not None and pattern is not None:
        raise invalid_parameter(
            "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters."
        )
    identifiers = params.get("logGroupIdentifiers")
    names = None
    if identifiers is not None:
        names = [group_from_arn(ctx, i) if i.startswith("arn:") else i for i in identifiers]
    group_class = params.get("logGroupClass")
    classes = None
    if group_class is not None:
        classes = list(_LOW_COST_CLASSES) if group_class in _LOW_COST_CLASSES else [group_class]
    limit = int(params.get("limit") or 50)
    after = None
    if params.get("nextToken") is not None:
        state = tokens.decode("DescribeLogGroups", params["nextToken"])
        if not isinstance(state.get("after"), str):
            raise invalid_parameter("The specified nextToken is invalid.")
        after = state["after"]
    found = await logs.list_groups(
        owner(ctx),
        prefix=prefix,
        contains=pattern or None,
        names=names,
        group_classes=classes,
        after=after,
        limit=limit + 1,
    )
    out: Result = {"logGroups": [log_group(ctx, g, brief=pattern is not None) for g in found[:limit]]}
    if len(found) > limit:
        out["nextToken"] = tokens.encode("DescribeLogGroups", {"after": found[limit - 1].name})
    return out


async def put_retention_policy(logs: LogStore, ctx: RequestContext, params: Params) -> Result:
    days = params["retentionInDays"]
    if days not in RETENTION_DAYS:
        allowed = ", ".join(str(d) for d in RETENTION_DAYS)
        raise invalid_parameter(
            f"1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy"
            f" constraint: Member must satisfy enum value set: [{allowed}]"
        )
    await logs.set_retention(owner(ctx), params["logGroupName"], int(days))
    return {}


async def delete_retention_policy(logs: LogStore, ctx: RequestContext, params: Params) -> Result:
    await logs.set_retention(owner(ctx), params["logGroupName"], None)
    return {}


async def put_deletion_protection(logs: LogStore, ctx: RequestContext, params: Params) -> Result:
    name = requested_group(ctx, {"logGroupIdentifier": params["logGroupIdentifier"]})
    await logs.set_deletion_protection(owner(ctx), name, bool(params["deletionProtectionEnabled"]))
    return {}


HANDLERS: dict[str, LogsHandler] = {
    "CreateLogGroup": create_log_group,
    "DeleteLogGroup": delete_log_group,
    "DescribeLogGroups": describe_log_groups,
    "PutRetentionPolicy": put_retention_policy,
    "DeleteRetentionPolicy": delete_retention_policy,
    "PutLogGroupDeletionProtection": put_deletion_protection,
}
