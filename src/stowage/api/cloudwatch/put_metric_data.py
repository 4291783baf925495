"""``PutMetricData``: custom metrics into the metric store (``controllers/metrics_custom``), with
CloudWatch's limits: at most 1,000 data per call, 30 dimensions and 150 ``Values`` per datum,
values 0 or of magnitude 8.515920e-109 to 1.174271e+108, timestamps from two weeks ago to two
hours ahead, ``StorageResolution`` 1 or 60, namespaces not starting with ``AWS/``. One bad
datum refuses the whole call (nothing is stored)."""

from __future__ import annotations

import math
from typing import Any

from stowage.api.aws.context import RequestContext
from stowage.api.aws.service import Params, Result
from stowage.api.cloudwatch.common import combination, dimensions, invalid_value, missing
from stowage.controllers.metrics import Metrics
from stowage.controllers.metrics_custom import Datum, StatPoint

MAX_DATA = 1000
MAX_VALUES = 150
MIN_MAGNITUDE = 8.515920e-109
MAX_MAGNITUDE = 1.174271e108
PAST = 14 * 86400.0
FUTURE = 2 * 3600.0


def _value(v: Any, member: str) -> float:
    x = float(v)
    if math.isnan(x) or math.isinf(x) or (x != 0 and not MIN_MAGNITUDE <= abs(x) <= MAX_MAGNITUDE):
        raise invalid_value(
            f"The value {v} for parameter {member} is invalid: values must be 0 or between "
            f"{MIN_MAGNITUDE} and {MAX_MAGNITUDE} in magnitude."
        )
    return x


def _points(d: dict[str, Any], m: str) -> list[StatPoint]:
    given = [k for k in ("Value", "StatisticValues", "Values") if d.get(k) is not None]
    if len(given) > 1:
        raise combination(
            f"The parameters {m}.{given[0]} and {m}.{given[1]} are mutually exclusive "
            "and you have specified both."
        )
    if not given:
        raise missing(f"The parameter {m}.Value, {m}.StatisticValues or {m}.Values is required.")
    if d.get("Counts") is not None and given[0] != "Values":
        raise combination(f"The parameter {m}.Counts may only be given with {m}.Values.")
    if given[0] == "Value":
        v = _value(d["Value"], f"{m}.Value")
        return [(1.0, v, v, v)]
    if given[0] == "StatisticValues":
        s = d["StatisticValues"]
        count = _value(s["SampleCount"], f"{m}.StatisticValues.SampleCount")
        total = _value(s["Sum"], f"{m}.StatisticValues.Sum")
        low = _value(s["Minimum"], f"{m}.StatisticValues.Minimum")
        high = _value(s["Maximum"], f"{m}.StatisticValues.Maximum")
        if count <= 0:
            raise invalid_value(f"The parameter {m}.StatisticValues.SampleCount must be greater than 0.")
        if low > high:
            raise invalid_value(
                f"The parameter {m}.StatisticValues.Minimum must be less than or equal to "
                f"{m}.StatisticValues.Maximum."
            )
        return [(count, total, low, high)]
    values = list(d["Values"])
    if len(values) > MAX_VALUES:
        raise invalid_value(f"The collection {m}.Values must not have a size greater than {MAX_VALUES}.")
    counts = list(d.get("Counts") or [1.0] * len(values))
    if len(counts) != len(values):
        raise invalid_value(f"The parameters {m}.Values and {m}.Counts must be of the same size.")
    out: list[StatPoint] = []
    for i, (v, c) in enumerate(zip(values, counts, strict=True), 1):
        x = _value(v, f"{m}.Values.member.{i}")
        n = _value(c, f"{m}.Counts.member.{i}")
        if n < 0:
            raise invalid_value(f"The value {c} for parameter {m}.Counts.member.{i} must not be negative.")
        if n > 0:
            out.append((n, x * n, x, x))
    return out


def _datum(d: dict[str, Any], i: int, now: float) -> Datum:
    m = f"MetricData.member.{i}"
    if not d.get("MetricName"):
        raise missing(f"The parameter {m}.MetricName is required.")
    ts = float(d["Timestamp"]) if d.get("Timestamp") is not None else now
    if ts < now - PAST:
        raise invalid_value(
            f"The parameter {m}.Timestamp must specify a time no more than two weeks in the past."
        )
    if ts > now + FUTURE:
        raise invalid_value(
            f"The parameter {m}.Timestamp must specify a time no more than two hours in the future."
        )
    resolution = int(d.get("StorageResolution") or 60)
    if resolution not in (1, 60):
        raise invalid_value(
            f"The value {resolution} for parameter {m}.StorageResolution is invalid: use 1 or 60."
        )
    return Datum(
        str(d["MetricName"]),
        dimensions(d.get("Dimensions"), f"{m}.Dimensions"),
        str(d.get("Unit") or "None"),
        ts,
        resolution,
        _points(d, m),
    )


async def put_metric_data(metrics: Metrics, ctx: RequestContext, params: Params) -> Result:
    namespace = str(params.get("Namespace") or "")
    if not namespace:
        raise missing("The parameter Namespace is required.")
    if namespace.startswith("AWS/"):
        raise invalid_value(
            f"The value {namespace} for parameter Namespace is invalid: the AWS/ prefix is reserved."
        )
    data = list(params.get("MetricData") or [])
    for entity in params.get("EntityMetricData") or []:
        data.extend(entity.get("MetricData") or [])
    if not data:
        raise missing("The parameter MetricData is required.")
    if len(data) > MAX_DATA:
        raise invalid_value(f"The collection MetricData must not have a size greater than {MAX_DATA}.")
    parsed = [_datum(d, i, ctx.now) for i, d in enumerate(data, 1)]
    metrics.custom.put(ctx.account_id, ctx.region, namespace, parsed)
    return {}
