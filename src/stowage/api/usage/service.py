"""The ``stowage`` service: its model (``stowage.model.aws_models``) plus the handlers, bound to
the metering controller, the server's price table, the Spot reclaimer and the metrics pipeline."""

from __future__ import annotations

import functools

from stowage.api.aws.service import AwsService
from stowage.api.usage.handlers import get_usage, reclaim_spot_capacity
from stowage.api.usage.task_metrics import get_task_metrics
from stowage.controllers.metering import Metering
from stowage.controllers.metrics import Metrics
from stowage.controllers.spot import SpotReclaimer
from stowage.model.pricing import PriceTable
from stowage.resources.clusters import ClusterRecords
from stowage.resources.records import Records

SERVICE_NAME = "stowage"


def usage_service(
    metering: Metering, prices: PriceTable, spot: SpotReclaimer, metrics: Metrics, records: Records
) -> AwsService:
    return AwsService(
        SERVICE_NAME,
        {
            "GetUsage": functools.partial(get_usage, metering, prices),
            "ReclaimSpotCapacity": functools.partial(reclaim_spot_capacity, spot),
            "GetTaskMetrics": functools.partial(get_task_metrics, metrics, ClusterRecords(records)),
        },
    )
