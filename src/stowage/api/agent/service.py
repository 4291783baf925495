"""The ``stowage-agent`` service: its model (``stowage.model.aws_models``) plus the handlers,
bound to the control plane's task plane."""

from __future__ import annotations

import functools

from stowage.api.agent.handlers import HANDLERS
from stowage.api.aws.service import AwsService, Handler
from stowage.controllers.task_plane import TaskPlane

SERVICE_NAME = "stowage-agent"


def agent_service(plane: TaskPlane) -> AwsService:
    bound: dict[str, Handler] = {op: functools.partial(h, plane) for op, h in HANDLERS.items()}
    return AwsService(SERVICE_NAME, bound)
