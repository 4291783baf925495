"""Access keys in the store (``/iam/keys/{access_key_id}``) and a cached lookup for the API.

Keys live in the store, not only in a file, so every control-plane replica sharing one etcd
knows the same keys. The lookup caches what it found: a request must not cost a store read
just to find its signing secret. Keys are only ever added at start-up today, so a cached key
never goes stale; unknown keys are looked up again each time (and are cheap to refuse).
"""

from __future__ import annotations

import secrets
import string

from stowage.model.identity import Credential
from stowage.resources.records import Records

KEYS_PREFIX = "/iam/keys/"

_AKID_ALPHABET = string.ascii_uppercase + "234567"


def new_credential(account_id: str) -> Credential:
    """A fresh admin key pair in AWS's shapes: ``AKIA`` + 16 characters, 40-character secret."""
    akid = "AKIA" + "".join(secrets.choice(_AKID_ALPHABET) for _ in range(16))
    secret = secrets.token_urlsafe(30)[:40]
    return Credential(akid, secret, account_id, f"arn:aws:iam::{account_id}:root")


class CredentialStore:
    def __init__(self, records: Records) -> None:
        self._records = records
        self._cache: dict[str, Credential] = {}

    async def put(self, cred: Credential) -> None:
        await self._records.put(
            KEYS_PREFIX + cred.access_key_id,
            {
                "accessKeyId": cred.access_key_id,
                "secretAccessKey": cred.secret_access_key,
                "accountId": cred.account_id,
                "principalArn": cred.principal_arn,
            },
        )
        self._cache[cred.access_key_id] = cred

    async def lookup(self, access_key_id: str) -> Credential | None:
        cred = self._cache.get(access_key_id)
        if cred is not None:
            return cred
        if not access_key_id or "/" in access_key_id or len(access_key_id) > 128:
            return None
        rec = await self._records.get(KEYS_PREFIX + access_key_id)
        if rec is None:
            return None
        d = rec.doc
        cred = Credential(d["accessKeyId"], d["secretAccessKey"], d["accountId"], d["principalArn"])
        self._cache[access_key_id] = cred
        return cred
