"""`ControlPlaneClients`: one pooled HTTP session and a client per service on one endpoint.

The control plane serves ECS, CloudWatch Logs and the agent service on one endpoint, so one
``aiohttp.ClientSession`` (one connection pool, keep-alive) serves every client, the agent
service's WebSocket channels (``agent_channel``) included. Credentials
come from the arguments or the standard AWS environment variables, like any SDK.
"""

from __future__ import annotations

import asyncio
import os
from types import TracebackType

import aiohttp
from botocore.credentials import Credentials

from stowage.client.channel import ChannelClient
from stowage.client.json_client import AwsJsonClient, RetryPolicy, Sleep
from stowage.client.services import AGENT, ECS, LOGS, STOWAGE, service_info
from stowage.client.signer import JsonSigner
from stowage.model.aws_models import AGENT_CHANNEL_PATH

DEFAULT_REGION = "us-east-1"
_POOL_SIZE = 32


def credentials_from_env(
    access_key_id: str | None = None, secret_access_key: str | None = None
) -> Credentials:
    """Explicit keys win; else AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN)."""
    key = access_key_id or os.environ.get("AWS_ACCESS_KEY_ID")
    secret = secret_access_key or os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not key or not secret:
        raise ValueError(
            "no credentials: pass --access-key-id/--secret-access-key or set "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    token = None if access_key_id else os.environ.get("AWS_SESSION_TOKEN")
    return Credentials(key, secret, token)


def region_from_env(region: str | None = None) -> str:
    return region or os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or DEFAULT_REGION


class ControlPlaneClients:
    """``ecs``, ``logs``, ``agent`` and ``stowage`` clients sharing one session. Use as an async context
    manager, or call `close`."""

    def __init__(
        self,
        endpoint: str,
        credentials: Credentials,
        region: str,
        *,
        retry: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        pool_size: int = _POOL_SIZE,
    ) -> None:
        self.endpoint = endpoint
        self.region = region
        # limit_per_host: the long-poll holds one connection; the rest stay free for reports.
        connector = aiohttp.TCPConnector(limit=pool_size, limit_per_host=pool_size, keepalive_timeout=30)
        self.session = aiohttp.ClientSession(connector=connector, skip_auto_headers=("User-Agent",))

        def make(name: str) -> AwsJsonClient:
            return AwsJsonClient(
                self.session, endpoint, service_info(name), credentials, region, retry=retry, sleep=sleep
            )

        self.ecs = make(ECS)
        self.logs = make(LOGS)
        self.agent = make(AGENT)
        self.stowage = make(STOWAGE)
        self._credentials = credentials
        self._channels: list[ChannelClient] = []

    def agent_channel(self) -> ChannelClient:
        """A new WebSocket channel to the agent service (``stowage.client.channel``): one per
        agent, as each host keeps its own; it opens at its first call."""
        signer = JsonSigner(
            self._credentials, service_info(AGENT).signing_name, self.region, self.endpoint.rstrip("/") + "/"
        )
        channel = ChannelClient(self.session, self.endpoint, AGENT_CHANNEL_PATH, signer)
        self._channels.append(channel)
        return channel

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()
        await self.session.close()

    async def __aenter__(self) -> ControlPlaneClients:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
