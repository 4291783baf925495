"""The ``stowage`` admin service's operations: ``GetUsage`` (the Fargate bill over the API) and
``ReclaimSpotCapacity`` (a FARGATE_SPOT interruption on request).

The metering controller supplies the metered tasks (ledger + running tasks up to now);
``model/billing`` groups and prices them with the server's price table. Bad input gets the
model's ``InvalidParameterException`` with a message naming the member, as ECS does.
"""

from __future__ import annotations

from stowage.api.aws.context import RequestContext
from stowage.api.aws.errors import AwsError
from stowage.api.aws.service import Params, Result
from stowage.controllers.metering import Metering
from stowage.controllers.spot import SpotReclaimer
from stowage.model import billing
from stowage.model.arns import parse_arn
from stowage.model.clusters import name_from_ref, valid_name
from stowage.model.metering import instant
from stowage.model.pricing import PriceTable

DEFAULT_GROUPING = "CLUSTER"


def _invalid(message: str) -> AwsError:
    return AwsError("InvalidParameterException", message)


def cluster_param(ctx: RequestContext, ref: str | None) -> str | None:
    if ref is None:
        return None
    name = name_from_ref(ref, ctx.account_id, ctx.region)
    if name is None:
        raise _invalid(
            f"Invalid cluster '{ref}': not a cluster name or a cluster ARN of this account and region."
        )
    return name


def service_param(ctx: RequestContext, ref: str | None, cluster: str | None) -> tuple[str | None, str | None]:
    """(cluster, service name) a ``service`` parameter (name or ARN) narrows the query to."""
    if ref is None:
        return cluster, None
    if not ref.startswith("arn:"):
        if not valid_name(ref):
            raise _invalid(f"Invalid service name '{ref}'.")
        return cluster, ref
    arn = parse_arn(ref)
    parts = [] if arn is None else arn.resource.split("/")
    if (
        arn is None
        or arn.service != "ecs"
        or arn.resource_type != "service"
        or arn.account != ctx.account_id
        or arn.region != ctx.region
        or len(parts) != 3
    ):
        raise _invalid(
            f"Invalid service '{ref}': not a service name or a service ARN of this account and region."
        )
    if cluster is not None and cluster != parts[1]:
        raise _invalid(f"The service '{ref}' is not in the cluster '{cluster}'.")
    return parts[1], parts[2]


async def get_usage(metering: Metering, prices: PriceTable, ctx: RequestContext, params: Params) -> Result:
    cluster = cluster_param(ctx, params.get("cluster"))
    cluster, service = service_param(ctx, params.get("service"), cluster)
    by = params.get("groupBy") or DEFAULT_GROUPING
    since = None if params.get("since") is None else instant(params["since"])
    until = None if params.get("until") is None else instant(params["until"])
    if since is not None and until is not None and until <= since:
        raise _invalid("until must be later than since.")
    usages = await metering.usage(ctx.account_id, ctx.region, cluster=cluster, service=service, since=since)
    result = billing.bill(usages, by, since=since, until=until)
    out: Result = {
        "groupBy": by,
        "generatedAt": metering.clock(),
        "rows": [billing.row_doc(row, prices) for row in result.rows],
        "total": billing.row_doc(result.total, prices),
        "prices": prices.to_doc(),
    }
    if since is not None:
        out["since"] = float(since)
    if until is not None:
        out["until"] = float(until)
    return out


async def reclaim_spot_capacity(spot: SpotReclaimer, ctx: RequestContext, params: Params) -> Result:
    """Interrupt RUNNING FARGATE_SPOT tasks now (``controllers.spot``)."""
    cluster = cluster_param(ctx, params.get("cluster"))
    count = int(params.get("count") or 1)
    arns = await spot.reclaim(ctx.account_id, ctx.region, cluster=cluster, count=count)
    return {"interruptedTasks": arns}
