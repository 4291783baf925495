"""``ListMetrics``: the metrics with data in the store (``controllers/metrics_listing``), filtered
by namespace, metric name and dimensions (a name alone matches any value), ``RecentlyActive``
(``PT3H``: data in the last three hours), 500 a page in (namespace, name, dimensions) order."""

from __future__ import annotations

from stowage.api.aws.context import RequestContext
from stowage.api.aws.service import Params, Result
from stowage.api.cloudwatch.common import (
    MAX_DIMENSIONS,
    decode_token,
    dimension_list,
    encode_token,
    invalid_value,
)
from stowage.controllers.metrics import Metrics
from stowage.controllers.metrics_listing import ListedMetric, all_metrics

PAGE = 500
RECENT = 3 * 3600.0


def _matches(m: ListedMetric, params: Params, dims: list[tuple[str, str | None]]) -> bool:
    if params.get("Namespace") and m.namespace != params["Namespace"]:
        return False
    if params.get("MetricName") and m.metric != params["MetricName"]:
        return False
    for name, value in dims:
        if name not in m.dimensions or (value is not None and m.dimensions[name] != value):
            return False
    return True


async def list_metrics(metrics: Metrics, ctx: RequestContext, params: Params) -> Result:
    filters = list(params.get("Dimensions") or [])
    if len(filters) > MAX_DIMENSIONS:
        raise invalid_value(f"The collection Dimensions must not have a size greater than {MAX_DIMENSIONS}.")
    dims = [(str(f["Name"]), f.get("Value")) for f in filters]
    recent = params.get("RecentlyActive")
    if recent is not None and recent != "PT3H":
        raise invalid_value(
            f"The value {recent} for parameter RecentlyActive is invalid: PT3H is the only one."
        )
    offset = 0
    if params.get("NextToken"):
        offset = int(decode_token("ListMetrics", params["NextToken"]).get("offset", 0))
    found = [
        m
        for m in all_metrics(metrics.store, metrics.custom, ctx.account_id, ctx.region)
        if _matches(m, params, dims) and (recent is None or m.last_active >= ctx.now - RECENT)
    ]
    found.sort(key=lambda m: (m.namespace, m.metric, sorted(m.dimensions.items())))
    page = found[offset : offset + PAGE]
    out: Result = {
        "Metrics": [
            {"Namespace": m.namespace, "MetricName": m.metric, "Dimensions": dimension_list(m.dimensions)}
            for m in page
        ]
    }
    if offset + PAGE < len(found):
        out["NextToken"] = encode_token("ListMetrics", {"offset": offset + PAGE})
    return out
