"""``logs_service``: CloudWatch Logs (botocore model ``logs``) over a ``LogStore``.

Binds every handler module's ``HANDLERS`` to the store, and turns log store errors into
CloudWatch Logs' answers (ResourceNotFoundException, ResourceAlreadyExistsException, …).
"""

from __future__ import annotations

from stowage.api.aws.context import RequestContext
from stowage.api.aws.service import AwsService, Handler, Params, Result
from stowage.api.logs import events, groups, streams, tags
from stowage.api.logs.errors import from_store
from stowage.api.logs.handler import LogsHandler
from stowage.logstore import LogStore, LogStoreError

ALL_HANDLERS: dict[str, LogsHandler] = {
    **groups.HANDLERS,
    **streams.HANDLERS,
    **events.HANDLERS,
    **tags.HANDLERS,
}


def _bind(logs: LogStore, handler: LogsHandler) -> Handler:
    async def bound(ctx: RequestContext, params: Params) -> Result:
        try:
            return await handler(logs, ctx, params)
        except LogStoreError as err:
            raise from_store(err) from None

    return bound


def logs_service(logs: LogStore) -> AwsService:
    return AwsService("logs", {name: _bind(logs, h) for name, h in ALL_HANDLERS.items()})
