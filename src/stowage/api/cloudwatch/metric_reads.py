"""``GetMetricStatistics`` and ``GetMetricData``: statistics over time from the metrics pipeline's
query function (``controllers/metrics_query``: AWS/ECS, ECS/ContainerInsights and custom
metrics).

GetMetricData answers ``MetricStat`` queries; a metric math ``Expression`` is refused with a
``ValidationError`` naming the query (stowage does not evaluate metric math). Its results come
newest first unless ``ScanBy`` is ``TimestampAscending``; ``MaxDatapoints`` (default 100,800)
caps the points of one answer, the rest follows with ``NextToken``.
"""

from __future__ import annotations

import re
from typing import Any

from stowage.api.aws.context import RequestContext
from stowage.api.aws.errors import AwsError
from stowage.api.aws.service import Params, Result
from stowage.api.cloudwatch.common import (
    combination,
    decode_token,
    dimensions,
    encode_token,
    invalid_value,
    is_percentile,
    missing,
    validation,
)
from stowage.controllers.metrics import Metrics
from stowage.controllers.metrics_query import MetricPoints, MetricQuery, MetricQueryError

STATISTICS_MAX_POINTS = 1440
DATA_MAX_POINTS = 100_800
MAX_QUERIES = 500
_ID = re.compile(r"^[a-z][a-zA-Z0-9_]*$")


def _query_error(exc: MetricQueryError) -> AwsError:
    return AwsError(exc.code, exc.message)


async def _run(metrics: Metrics, q: MetricQuery) -> MetricPoints:
    try:
        return await metrics.query(q)
    except MetricQueryError as exc:
        raise _query_error(exc) from None


async def get_metric_statistics(metrics: Metrics, ctx: RequestContext, params: Params) -> Result:
    stats = list(params.get("Statistics") or [])
    extended = list(params.get("ExtendedStatistics") or [])
    if not stats and not extended:
        raise missing("Must specify either Statistics or ExtendedStatistics.")
    if stats and extended:
        raise combination("The parameters Statistics and ExtendedStatistics are mutually exclusive.")
    for name in extended:
        if not is_percentile(name):
            raise invalid_value(
                f"The value {name} for parameter ExtendedStatistics is not a valid percentile (p0.0 to p100)."
            )
    dims = dimensions(params.get("Dimensions"), "Dimensions")
    unit = params.get("Unit")
    rows: dict[float, dict[str, Any]] = {}
    for name in [*stats, *extended]:
        q = MetricQuery(
            ctx.account_id,
            ctx.region,
            params["Namespace"],
            params["MetricName"],
            dims,
            float(params["StartTime"]),
            float(params["EndTime"]),
            int(params["Period"]),
            name,
            max_points=STATISTICS_MAX_POINTS,
            unit=unit,
        )
        points = await _run(metrics, q)
        for ts, value in zip(points.timestamps, points.values, strict=True):
            row = rows.setdefault(ts, {"Timestamp": ts, "Unit": points.unit})
            if name in stats:
                row[name] = value
            else:
                row.setdefault("ExtendedStatistics", {})[name] = value
    return {"Label": params["MetricName"], "Datapoints": [rows[ts] for ts in sorted(rows)]}


def _check_queries(queries: list[dict[str, Any]]) -> None:
    if not queries:
        raise missing("The parameter MetricDataQueries is required.")
    if len(queries) > MAX_QUERIES:
        raise validation(f"The collection MetricDataQueries must not have a size greater than {MAX_QUERIES}.")
    seen: set[str] = set()
    for i, query in enumerate(queries, 1):
        qid = str(query.get("Id") or "")
        if not _ID.match(qid):
            raise validation(
                f"The value {qid} for parameter MetricDataQueries.member.{i}.Id is not valid: it must start "
                "with a lowercase letter and contain only letters, numbers and underscores."
            )
        if qid in seen:
            raise validation(f"The values for parameter id in MetricDataQueries are not unique: {qid}.")
        seen.add(qid)
        has_stat, has_expr = query.get("MetricStat") is not None, query.get("Expression") is not None
        if has_stat == has_expr:
            raise validation(
                f"Exactly one element of the MetricStat and Expression arrays must be specified "
                f"(MetricDataQueries.member.{i})."
            )
        if has_expr:
            raise validation(
                f"Metric math expressions are not supported (MetricDataQueries.member.{i}, Id {qid}): "
                "stowage answers MetricStat queries only."
            )
    if not any(q.get("ReturnData", True) for q in queries):
        raise validation("At least one MetricDataQuery must have ReturnData set to true.")


async def get_metric_data(metrics: Metrics, ctx: RequestContext, params: Params) -> Result:
    queries = list(params.get("MetricDataQueries") or [])
    _check_queries(queries)
    start, end = float(params["StartTime"]), float(params["EndTime"])
    if start >= end:
        raise validation("The parameter StartTime must be less than the parameter EndTime.")
    max_points = int(params.get("MaxDatapoints") or DATA_MAX_POINTS)
    if max_points <= 0:
        raise validation("The parameter MaxDatapoints must be greater than 0.")
    ascending = params.get("ScanBy") == "TimestampAscending"
    skip: dict[str, int] = {}
    if params.get("NextToken"):
        skip = {str(k): int(v) for k, v in decode_token("GetMetricData", params["NextToken"])["skip"].items()}
    budget = max_points
    results: list[dict[str, Any]] = []
    partial = False
    for i, query in enumerate(queries, 1):
        if not query.get("ReturnData", True):
            continue
        stat = query["MetricStat"]
        metric = stat["Metric"]
        if not metric.get("Namespace") or not metric.get("MetricName"):
            raise validation(
                f"MetricDataQueries.member.{i}.MetricStat.Metric needs a Namespace and a MetricName."
            )
        member = f"MetricDataQueries.member.{i}.MetricStat.Metric.Dimensions"
        q = MetricQuery(
            ctx.account_id,
            ctx.region,
            metric["Namespace"],
            metric["MetricName"],
            dimensions(metric.get("Dimensions"), member),
            start,
            end,
            int(query.get("Period") or stat["Period"]),
            stat["Stat"],
            unit=stat.get("Unit"),
        )
        points = await _run(metrics, q)
        pairs = list(zip(points.timestamps, points.values, strict=True))
        if not ascending:
            pairs.reverse()
        done = skip.get(query["Id"], 0)
        rest = pairs[done:]
        take = rest[: max(budget, 0)]
        budget -= len(take)
        complete = len(take) == len(rest)
        partial = partial or not complete
        skip[query["Id"]] = done + len(take)
        results.append(
            {
                "Id": query["Id"],
                "Label": query.get("Label") or metric["MetricName"],
                "Timestamps": [ts for ts, _ in take],
                "Values": [v for _, v in take],
                "StatusCode": "Complete" if complete else "PartialData",
            }
        )
    out: Result = {"MetricDataResults": results, "Messages": []}
    if partial:
        out["NextToken"] = encode_token("GetMetricData", {"skip": skip})
    return out
