"""Who may call the APIs: access keys, each belonging to one account and principal."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_ACCOUNT_ID = "000000000000"
DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True, slots=True)
class Credential:
    access_key_id: str
    secret_access_key: str
    account_id: str
    principal_arn: str
