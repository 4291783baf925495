"""The ECS service: botocore's ECS model plus every implemented operation's handler.

Each handler module exports ``HANDLERS`` (operation name → handler); this module binds them.
Most take the control plane's ``Records`` (``EcsHandler``); tasks, container instances and
the cluster count overlay take the ``TaskPlane`` (``PlaneHandler``) and, when a plane is
given, replace the plain cluster handlers of the same name. Operations without a handler
answer ``UnknownOperationException`` from the protocol layer.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from stowage.api.aws.service import AwsService, Handler
from stowage.api.ecs import (
    account_settings,
    attributes,
    capacity_providers,
    cluster_counts,
    clusters,
    container_instances,
    service_history,
    services,
    tags,
    task_definitions,
    task_state,
    task_views,
    tasks,
)
from stowage.api.ecs.handler import EcsHandler
from stowage.api.ecs.plane import PlaneHandler
from stowage.controllers.task_plane import TaskPlane
from stowage.resources.records import Records

_MODULES: tuple[Mapping[str, EcsHandler], ...] = (
    clusters.HANDLERS,
    capacity_providers.HANDLERS,
    tags.HANDLERS,
    attributes.HANDLERS,
    account_settings.HANDLERS,
    task_definitions.HANDLERS,
)

_PLANE_MODULES: tuple[Mapping[str, PlaneHandler], ...] = (
    container_instances.HANDLERS,
    tasks.HANDLERS,
    task_views.HANDLERS,
    task_state.HANDLERS,
    services.HANDLERS,
    service_history.HANDLERS,
)


def ecs_handlers(records: Records, plane: TaskPlane | None = None) -> dict[str, Handler]:
    bound: dict[str, Handler] = {}
    for handlers in _MODULES:
        for operation, handler in handlers.items():
            if operation in bound:
                raise RuntimeError(f"two ECS handlers for {operation}")
            bound[operation] = functools.partial(handler, records)
    if plane is None:
        return bound
    for plane_handlers in _PLANE_MODULES:
        for operation, plane_handler in plane_handlers.items():
            if operation in bound:
                raise RuntimeError(f"two ECS handlers for {operation}")
            bound[operation] = functools.partial(plane_handler, plane)
    for overlay in (cluster_counts.HANDLERS, attributes.PLANE_HANDLERS):
        for operation, plane_handler in overlay.items():
            bound[operation] = functools.partial(plane_handler, plane)  # replaces the plain one
    return bound


def ecs_service(records: Records, plane: TaskPlane | None = None) -> AwsService:
    return AwsService("ecs", ecs_handlers(records, plane))
