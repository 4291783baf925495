"""An AWS service as the protocol layer serves it: a botocore model plus one handler per operation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from stowage.api.aws.context import RequestContext

Params = dict[str, Any]
"""A request, already validated against the operation's input shape (timestamps as floats)."""
Result = dict[str, Any]
"""A response in the operation's output shape; datetimes may be floats (epoch seconds)."""
Handler = Callable[[RequestContext, Params], Awaitable[Result]]


@dataclass(frozen=True)
class AwsService:
    service_name: str
    """botocore's name for the model, e.g. ``ecs`` or ``logs``."""
    handlers: Mapping[str, Handler]
    """Operation name (``CreateCluster``) → handler. Operations in the model without a handler
    answer ``UnknownOperationException``."""
