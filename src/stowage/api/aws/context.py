"""What a handler knows about the request it serves: who signed it, for which account and region."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RequestContext:
    account_id: str
    """The account the signing key belongs to; ARNs are built in it."""
    region: str
    """The region from the signature's credential scope (e.g. ``us-east-1``)."""
    request_id: str
    """Also sent back as ``x-amzn-RequestId``."""
    access_key_id: str
    principal_arn: str
    """``arn:aws:iam::ACCOUNT:root`` for an account's admin key, else the key's user ARN."""
    now: float
    """Wall-clock time the request arrived (epoch seconds); handlers use it, not time.time()."""
