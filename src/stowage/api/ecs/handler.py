"""The shape of an ECS handler before the service binds it to the store.

Each ECS handler module exports ``HANDLERS: dict[str, EcsHandler]`` (operation name → handler).
An ``EcsHandler`` takes the ``Records`` of the control plane first; ``ecs_service`` binds it,
turning it into the protocol layer's ``Handler`` (``(ctx, params) -> result``). Handlers keep no
state of their own, so binding is all the wiring there is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from stowage.api.aws.context import RequestContext
from stowage.api.aws.service import Params, Result
from stowage.resources.records import Records

EcsHandler = Callable[[Records, RequestContext, Params], Awaitable[Result]]
