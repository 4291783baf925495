"""The ECS service: botocore's ECS model plus every implemented operation's handler.

Each handler module exports ``HANDLERS`` (operation name → ``EcsHandler``); this module binds
them to the control plane's ``Records``. Operations without a handler answer
``UnknownOperationException`` from the protocol layer.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from stowage.api.aws.service import AwsService, Handler
from stowage.api.ecs import account_settings, attributes, capacity_providers, clusters, tags, task_definitions
from stowage.api.ecs.handler import EcsHandler
from stowage.resources.records import Records

_MODULES: tuple[Mapping[str, EcsHandler], ...] = (
    clusters.HANDLERS,
    capacity_providers.HANDLERS,
    tags.HANDLERS,
    attributes.HANDLERS,
    account_settings.HANDLERS,
    task_definitions.HANDLERS,
)


def ecs_handlers(records: Records) -> dict[str, Handler]:
    bound: dict[str, Handler] = {}
    for handlers in _MODULES:
        for operation, handler in handlers.items():
            if operation in bound:
                raise RuntimeError(f"two ECS handlers for {operation}")
            bound[operation] = functools.partial(handler, records)
    return bound


def ecs_service(records: Records) -> AwsService:
    return AwsService("ecs", ecs_handlers(records))
