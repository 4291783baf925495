"""The ``stowage`` service: its model (``stowage.model.aws_models``) plus the handlers, bound to
the metering controller and the server's price table."""

from __future__ import annotations

import functools

from stowage.api.aws.service import AwsService
from stowage.api.usage.handlers import get_usage, reclaim_spot_capacity
from stowage.controllers.metering import Metering
from stowage.controllers.spot import SpotReclaimer
from stowage.model.pricing import PriceTable

SERVICE_NAME = "stowage"


def usage_service(metering: Metering, prices: PriceTable, spot: SpotReclaimer) -> AwsService:
    return AwsService(
        SERVICE_NAME,
        {
            "GetUsage": functools.partial(get_usage, metering, prices),
            "ReclaimSpotCapacity": functools.partial(reclaim_spot_capacity, spot),
        },
    )
