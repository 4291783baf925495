"""Log store records as CloudWatch Logs' response shapes (``LogGroup``, ``LogStream``)."""

from __future__ import annotations

from typing import Any

from stowage.api.aws.context import RequestContext
from stowage.api.logs.names import group_arn, stream_arn
from stowage.logstore import LogGroup, LogStream


def sequence_token(n: int) -> str:
    """CloudWatch's sequence tokens are long digit strings; clients only echo them back."""
    return f"{n:056d}"


def log_group(ctx: RequestContext, g: LogGroup, *, brief: bool = False) -> dict[str, Any]:
    """The ``LogGroup`` shape; ``brief`` is what a ``logGroupNamePattern`` search shows."""
    arn = group_arn(ctx, g.name)
    out: dict[str, Any] = {"logGroupName": g.name, "creationTime": g.creation_time, "arn": f"{arn}:*"}
    if brief:
        return out
    if g.retention_days is not None:
        out["retentionInDays"] = g.retention_days
    out["metricFilterCount"] = 0
    out["storedBytes"] = g.stored_bytes
    if g.kms_key_id is not None:
        out["kmsKeyId"] = g.kms_key_id
    out["logGroupClass"] = g.log_group_class
    out["logGroupArn"] = arn
    out["deletionProtectionEnabled"] = g.deletion_protection
    return out


def log_stream(ctx: RequestContext, group: str, s: LogStream) -> dict[str, Any]:
    out: dict[str, Any] = {"logStreamName": s.name, "creationTime": s.creation_time}
    if s.first_event_timestamp is not None:
        out["firstEventTimestamp"] = s.first_event_timestamp
    if s.last_event_timestamp is not None:
        out["lastEventTimestamp"] = s.last_event_timestamp
    if s.last_ingestion_time is not None:
        out["lastIngestionTime"] = s.last_ingestion_time
    out["uploadSequenceToken"] = sequence_token(s.upload_sequence + 1)
    out["arn"] = stream_arn(ctx, group, s.name)
    out["storedBytes"] = 0  # CloudWatch has reported 0 for streams since June 2019
    return out
