"""Verifying EKS bearer tokens with stowage's own keys, and caching what was verified.

``verify(token, cluster)`` parses the token (``model/eks/tokens``), looks up the access key,
recomputes the presigned request's SigV4 signature with ``x-k8s-aws-id: <cluster>`` (so a token
made for another cluster, or tampered with anywhere, does not match), checks the 15-minute
window, and answers the key's identity. A verified token is cached with its expiry, keyed by
(cluster, token): kubectl sends the same token on every request for 14 minutes, and the cache
turns the verification (~30 µs) into one dict lookup (``bench/eks_tokens.py`` measures both).
Failures are never cached: they are cheap to refuse and must not pin a key that appears later.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from stowage.api.aws.errors import AwsError
from stowage.api.aws.sigv4 import Authorization, SigV4Verifier, parse_amz_date
from stowage.model.eks import tokens
from stowage.model.identity import Credential

log = logging.getLogger(__name__)

CredentialLookup = Callable[[str], Awaitable[Credential | None]]
CACHE_LIMIT = 10_000


class TokenRefused(Exception):
    """The token does not authenticate anyone for this cluster (the API answers 401)."""


@dataclass(frozen=True, slots=True)
class Identity:
    access_key_id: str
    account_id: str
    principal_arn: str


class TokenVerifier:
    def __init__(self, credentials: CredentialLookup, clock: Callable[[], float] = time.time) -> None:
        self._credentials = credentials
        self._clock = clock
        self._sigv4 = SigV4Verifier()
        self._cache: dict[tuple[str, str], tuple[Identity, float]] = {}

    async def verify(self, token: str, cluster: str) -> Identity:
        now = self._clock()
        hit = self._cache.get((cluster, token))
        if hit is not None and now < hit[1]:
            return hit[0]
        identity, expires = await self._verify(token, cluster, now)
        if len(self._cache) >= CACHE_LIMIT:
            self._evict(now)
        self._cache[(cluster, token)] = (identity, expires)
        return identity

    def _evict(self, now: float) -> None:
        for key in [k for k, (_, exp) in self._cache.items() if exp <= now]:
            del self._cache[key]
        if len(self._cache) >= CACHE_LIMIT:
            self._cache.clear()

    async def _verify(self, token: str, cluster: str, now: float) -> tuple[Identity, float]:
        try:
            parsed = tokens.parse(token)
            signed_at = parse_amz_date(parsed.amz_date)
        except (tokens.BadToken, AwsError) as exc:
            raise TokenRefused(str(exc)) from None
        expires = tokens.window(signed_at, now)
        if expires is None:
            raise TokenRefused(f"the token signed at {parsed.amz_date} has expired")
        credential = await self._credentials(parsed.access_key_id)
        if credential is None:
            raise TokenRefused(f"unknown access key {parsed.access_key_id}")
        auth = Authorization(
            parsed.access_key_id,
            parsed.date,
            parsed.region,
            parsed.service,
            parsed.signed_headers,
            parsed.signature,
            parsed.amz_date,
        )
        headers = {"host": parsed.host, tokens.CLUSTER_HEADER: cluster}
        try:
            self._sigv4.verify(
                auth,
                credential.secret_access_key,
                method="GET",
                raw_path="/",
                query=parsed.query,
                headers=headers,
                body=b"",
            )
        except AwsError:
            raise TokenRefused(f"the signature does not match (for cluster {cluster})") from None
        return Identity(credential.access_key_id, credential.account_id, credential.principal_arn), expires
