"""Who owns a request's log groups, the ARNs CloudWatch Logs shows, and resolving the
``logGroupName`` / ``logGroupIdentifier`` pair (a name or an ARN) that read operations take."""

from __future__ import annotations

from typing import Any

from stowage.api.aws.context import RequestContext
from stowage.api.logs.errors import invalid_parameter, resource_not_found
from stowage.logstore import Owner
from stowage.model.arns import PARTITION, parse_arn


def owner(ctx: RequestContext) -> Owner:
    return Owner(ctx.account_id, ctx.region)


def group_arn(ctx: RequestContext, name: str) -> str:
    """The ARN without the trailing ``:*`` (``logGroupArn``, and what tagging takes)."""
    return f"arn:{PARTITION}:logs:{ctx.region}:{ctx.account_id}:log-group:{name}"


def stream_arn(ctx: RequestContext, group: str, stream: str) -> str:
    return f"{group_arn(ctx, group)}:log-stream:{stream}"


def group_from_arn(ctx: RequestContext, arn: str) -> str:
    """The log group name in a log group ARN of the caller's account and region (``:*`` or not)."""
    parsed = parse_arn(arn)
    if parsed is None or parsed.service != "logs" or not parsed.resource.startswith("log-group:"):
        raise invalid_parameter(f"Invalid ARN: {arn}")
    if parsed.account != ctx.account_id or parsed.region != ctx.region:
        raise resource_not_found()
    name = parsed.resource[len("log-group:") :]
    if name.endswith(":*"):
        name = name[:-2]
    if not name or ":" in name:
        raise invalid_parameter(f"Invalid ARN: {arn}")
    return name


def requested_group(ctx: RequestContext, params: dict[str, Any]) -> str:
    """The group named by exactly one of ``logGroupName`` and ``logGroupIdentifier``."""
    name = params.get("logGroupName")
    ident = params.get("logGroupIdentifier")
    if name is not None and ident is not None:
        raise invalid_parameter("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
    if name is not None:
        return str(name)
    if ident is None:
        raise invalid_parameter("Should provide either name or ARN of the log group.")
    return group_from_arn(ctx, ident) if str(ident).startswith("arn:") else str(ident)
