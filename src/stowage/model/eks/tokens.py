"""EKS bearer tokens, parsed: ``k8s-aws-v1.`` + base64url(a presigned STS GetCallerIdentity URL).

``aws eks get-token`` (and aws-iam-authenticator) presign ``GET https://<sts host>/?Action=
GetCallerIdentity&Version=2011-06-15&X-Amz-...`` with the header ``x-k8s-aws-id: <cluster
name>`` among the signed headers; the header's value is not in the URL, so only a verifier that
supplies the right cluster name gets the signature to match. This module checks the shape and
pulls out what the verifier needs (``api/eks/tokens``); it does no cryptography.

Validity is EKS's: 15 minutes from ``X-Amz-Date`` whatever ``X-Amz-Expires`` says (get-token
presigns for 60 s while client-go caches the token for 14 minutes), and not signed in the
future beyond the same 15-minute clock skew SigV4 allows. The URL's host is not checked: the
token is never forwarded to STS (the signature is checked here, with stowage's own keys), and
the host is covered by the signature anyway, so ``AWS_ENDPOINT_URL`` pointing at stowage and
the real STS host both work.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

PREFIX = "k8s-aws-v1."
CLUSTER_HEADER = "x-k8s-aws-id"
LIFETIME = 15 * 60
MAX_TOKEN_BYTES = 8 * 1024
_REQUIRED = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)


class BadToken(ValueError):
    """Not a token this API accepts (the reason is logged, the client gets a plain 401)."""


@dataclass(frozen=True, slots=True)
class PresignedToken:
    host: str
    """As signed: the URL's host[:port], without a default port."""
    query: str
    """The raw query string without ``X-Amz-Signature``: what the signature covers."""
    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: str


def is_eks_token(token: str) -> bool:
    return token.startswith(PREFIX)


def parse(token: str) -> PresignedToken:
    if len(token) > MAX_TOKEN_BYTES or not token.startswith(PREFIX):
        raise BadToken("not a k8s-aws-v1 token")
    body = token[len(PREFIX) :]
    try:
        url = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise BadToken("the token is not base64url") from None
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.path not in ("", "/"):
        raise BadToken("the token is not an STS URL")
    raw_pairs = [p for p in parts.query.split("&") if p]
    params: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in params:
            raise BadToken(f"repeated query parameter {key}")
        params[key] = value
    if params.get("Action") != "GetCallerIdentity" or params.get("Version") != "2011-06-15":
        raise BadToken("the token is not an STS GetCallerIdentity call")
    missing = [k for k in _REQUIRED if not params.get(k)]
    if missing:
        raise BadToken(f"missing {', '.join(missing)}")
    if params["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256":
        raise BadToken("unsupported signing algorithm")
    credential = params["X-Amz-Credential"].split("/")
    if len(credential) != 5 or credential[4] != "aws4_request" or not all(credential):
        raise BadToken("malformed X-Amz-Credential")
    signed = tuple(params["X-Amz-SignedHeaders"].split(";"))
    if CLUSTER_HEADER not in signed or "host" not in signed or set(signed) - {"host", CLUSTER_HEADER}:
        raise BadToken("the signed headers must be host and x-k8s-aws-id")
    if credential[3] != "sts":
        raise BadToken("the token is not signed for sts")
    if not params["X-Amz-Expires"].isdigit():
        raise BadToken("malformed X-Amz-Expires")
    amz_date = params["X-Amz-Date"]
    if amz_date[:8] != credential[1]:
        raise BadToken("X-Amz-Date does not match the credential scope")
    query = "&".join(p for p in raw_pairs if not p.startswith("X-Amz-Signature="))
    return PresignedToken(
        host=_signed_host(parts.scheme, parts.netloc),
        query=query,
        access_key_id=credential[0],
        date=credential[1],
        region=credential[2],
        service=credential[3],
        signed_headers=signed,
        signature=params["X-Amz-Signature"],
        amz_date=amz_date,
    )


def _signed_host(scheme: str, netloc: str) -> str:
    """SigV4 signs the host without the scheme's default port (botocore drops it)."""
    host = netloc.rsplit("@", 1)[-1]
    default = ":443" if scheme == "https" else ":80"
    return host[: -len(default)] if host.endswith(default) else host


def window(signed_at: float, now: float) -> float | None:
    """The token's expiry (epoch seconds) if it is valid at ``now``, else None."""
    expires = signed_at + LIFETIME
    if now >= expires or signed_at > now + LIFETIME:
        return None
    return expires
