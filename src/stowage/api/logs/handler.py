"""The shape of a CloudWatch Logs handler before the service binds it to the log store.

Each handler module exports ``HANDLERS: dict[str, LogsHandler]``; ``logs_service`` binds each to
the ``LogStore`` and maps log store errors to CloudWatch Logs' answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from stowage.api.aws.context import RequestContext
from stowage.api.aws.service import Params, Result
from stowage.logstore import LogStore

LogsHandler = Callable[[LogStore, RequestContext, Params], Awaitable[Result]]


def millis(ctx: RequestContext) -> int:
    """The request's arrival time in CloudWatch's unit, milliseconds since the epoch."""
    return int(ctx.now * 1000)
