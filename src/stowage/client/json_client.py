"""`AwsJsonClient`: one AWS JSON 1.0/1.1 service over aiohttp, signed with botocore's SigV4.

A call is one POST to the endpoint's root with ``X-Amz-Target: <prefix>.<Operation>`` and an
orjson body, signed with SigV4 by `stowage.client.signer` (botocore's algorithm for this one
request shape, checked against ``botocore.auth.SigV4Auth`` by a test). Answers decode with orjson; an
error answer becomes `ApiError` with the ``__type`` code (the part after ``#`` when the service
sends ``namespace#Code``, as botocore strips it).

Retries: only for no answer (connection refused/reset, timeout) and for 5xx answers, with
exponential backoff and full jitter (the AWS SDKs' "standard" mode formula); a 4xx is the
request's fault and is raised at once. Connections are pooled by the shared
``aiohttp.ClientSession`` (see `stowage.client.session`). The sleep between attempts is
injected so tests of callers need not wait.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from botocore.credentials import Credentials

from stowage.client.errors import ApiError, EndpointUnavailableError
from stowage.client.services import ServiceInfo
from stowage.client.signer import JsonSigner

JSON = dict[str, Any]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 4
    base_delay_s: float = 0.1
    max_delay_s: float = 5.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Full-jitter backoff before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
        cap = min(self.max_delay_s, self.base_delay_s * (2 ** (attempt - 1)))
        return (rng or random).uniform(0, cap)


async def retrying(
    once: Callable[[], Awaitable[JSON]], attempts: int, retry: RetryPolicy, sleep: Sleep
) -> JSON:
    """``once()`` again, after a backoff, while it fails in a way that may pass (no answer, or
    a 5xx), up to ``attempts`` in all; a 4xx is raised at once."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return await once()
        except ApiError as exc:
            if exc.status < 500 or attempt >= attempts:
                raise
        except EndpointUnavailableError:
            if attempt >= attempts:
                raise
        await sleep(retry.delay(attempt))


def error_code(raw: object) -> str:
    """The error code of an ``__type`` (botocore keeps the part after a ``namespace#``)."""
    code = str(raw or "")
    return code.rpartition("#")[2] or "UnknownError"


class AwsJsonClient:
    """Calls one service's operations. Cheap to create; the session does the pooling."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        endpoint: str,
        service: ServiceInfo,
        credentials: Credentials,
        region: str,
        *,
        retry: RetryPolicy | None = None,
        timeout_s: float = 30.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._session = session
        self._url = endpoint.rstrip("/") + "/"
        self.service = service
        self._signer = JsonSigner(credentials, service.signing_name, region, self._url)
        self.retry = retry or RetryPolicy()
        self.timeout_s = timeout_s
        self.sleep = sleep

    def _signed_headers(self, operation: str, body: bytes) -> dict[str, str]:
        return self._signer.headers(
            self.service.content_type, f"{self.service.target_prefix}.{operation}", body
        )

    async def call(
        self,
        operation: str,
        params: Mapping[str, Any] | None = None,
        *,
        timeout_s: float | None = None,
        max_attempts: int | None = None,
    ) -> JSON:
        """Call ``operation`` with ``params``; return the decoded answer (``{}`` when empty)."""
        body = orjson.dumps(dict(params or {}))
        limit = aiohttp.ClientTimeout(total=timeout_s or self.timeout_s)
        # Signed per attempt: the signature covers X-Amz-Date.
        return await retrying(
            lambda: self._once(operation, body, limit),
            max_attempts or self.retry.max_attempts,
            self.retry,
            self.sleep,
        )

    async def _once(self, operation: str, body: bytes, limit: aiohttp.ClientTimeout) -> JSON:
        headers = self._signed_headers(operation, body)
        try:
            async with self._session.post(self._url, data=body, headers=headers, timeout=limit) as resp:
                raw = await resp.read()
                status = resp.status
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
            raise EndpointUnavailableError(f"{operation}: {self._url}: {exc or type(exc).__name__}") from exc
        try:
            data = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            data = {"message": raw[:200].decode("utf-8", "replace")}
        if not isinstance(data, dict):
            data = {}
        if status >= 300:
            code = error_code(data.get("__type") or data.get("code"))
            if code == "UnknownError" and status >= 500:
                code = "ServerException"
            message = str(data.get("message") or data.get("Message") or "")
            raise ApiError(code, message, status, operation)
        return data
