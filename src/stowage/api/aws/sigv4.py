"""SigV4 verification for requests to the AWS JSON APIs: parse, check scope and time, recompute.

The algorithm is the one botocore's ``SigV4Auth`` signs with (canonical request → string to sign →
HMAC chain); this module recomputes it on the server side. It does not build a botocore
``AWSRequest`` per call: that path costs ~28 µs per request against ~4 µs here (see
``bench/aws_protocol.py``), and this is the hot path of every API call. What is reused from
botocore is the one non-trivial piece, URL-path normalisation; ``tests/api/aws/test_sigv4.py``
checks, over generated requests, that the canonical request built here is byte for byte the one
``SigV4Auth.canonical_request`` builds for the same request.

Derived signing keys are cached per (secret, date, region, service): the four-HMAC derivation
is otherwise half the cost of a verification, and the key only changes once a day.

Error answers follow AWS: ``MissingAuthenticationTokenException`` when there is no
Authorization header, ``IncompleteSignatureException`` when it is malformed,
``InvalidSignatureException`` for a wrong scope, a wrong signature, or a timestamp more than
15 minutes away from the server clock ("Signature expired: ..."). An unknown access key
(``UnrecognizedClientException``) is the caller's check: it owns the credential lookup.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from urllib.parse import quote

from botocore.utils import normalize_url_path

from stowage.api.aws.errors import incomplete_signature, invalid_signature, missing_authentication

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW_SECONDS = 15 * 60
"""AWS rejects a request whose timestamp is more than 15 minutes from its clock."""
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_KEY_CACHE_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class Authorization:
    """The parsed ``Authorization`` header plus the request timestamp it signs."""

    access_key_id: str
    date: str
    """``YYYYMMDD`` from the credential scope."""
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: str
    """``YYYYMMDDTHHMMSSZ``: the X-Amz-Date header (or the Date header, converted)."""

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


def parse_authorization(headers: Mapping[str, str]) -> Authorization:
    """Parse ``Authorization`` (and the request date) from lower-cased headers, or raise AwsError."""
    header = headers.get("authorization")
    if not header:
        raise missing_authentication()
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise incomplete_signature(f"Unsupported AWS 'algorithm': '{algorithm}'. Authorization={header}")
    params: dict[str, str] = {}
    for part in rest.split(","):
        name, eq, value = part.strip().partition("=")
        if eq:
            params[name] = value.strip()
    missing = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if not params.get(name)
    ]
    amz_date = headers.get("x-amz-date") or _date_header_as_amz_date(headers.get("date"))
    if not amz_date:
        missing.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    if missing:
        raise incomplete_signature(" ".join(missing) + f" Authorization={header}")
    credential = params["Credential"].split("/")
    if len(credential) != 5 or not all(credential):
        raise incomplete_signature(
            "Credential must have exactly 5 slash-delimited elements, e.g. "
            f"keyid/date/region/service/term, got '{params['Credential']}'"
        )
    key_id, date, region, service, terminator = credential
    if terminator != "aws4_request":
        raise invalid_signature(
            f"Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'."
        )
    if amz_date[:8] != date:
        raise invalid_signature(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{date}' != '{amz_date[:8]}', from '{amz_date}'."
        )
    signed = tuple(params["SignedHeaders"].split(";"))
    if "host" not in signed:
        raise invalid_signature("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
    return Authorization(key_id, date, region, service, signed, params["Signature"], amz_date)


def _date_header_as_amz_date(value: str | None) -> str:
    """AWS accepts an RFC 1123 ``Date`` header when X-Amz-Date is absent."""
    if not value:
        return ""
    try:
        return parsedate_to_datetime(value).strftime("%Y%m%dT%H%M%SZ")
    except (TypeError, ValueError):
        return ""


def parse_amz_date(amz_date: str) -> float:
    """``YYYYMMDDTHHMMSSZ`` → epoch seconds, or raise IncompleteSignatureException."""
    # Sliced by hand: time.strptime costs ~10 µs, a tenth of a whole request.
    try:
        d = amz_date
        if len(d) != 16 or d[8] != "T" or d[15] != "Z" or not (d.isascii() and (d[:8] + d[9:15]).isdigit()):
            raise ValueError(d)
        stamp = datetime(int(d[0:4]), int(d[4:6]), int(d[6:8]), int(d[9:11]), int(d[11:13]), int(d[13:15]))
        return float(calendar.timegm(stamp.timetuple()))
    except ValueError:
        raise incomplete_signature(
            f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'. See http://en.wikipedia.org/wiki/ISO_8601"
        ) from None


def check_request_time(amz_date: str, now: float) -> None:
    """Reject a timestamp more than 15 minutes from ``now``, with AWS's wording."""
    signed_at = parse_amz_date(amz_date)
    if signed_at < now - MAX_SKEW_SECONDS:
        raise invalid_signature(
            f"Signature expired: {amz_date} is now earlier than {_fmt(now - MAX_SKEW_SECONDS)} "
            f"({_fmt(now)} - 15 min.)"
        )
    if signed_at > now + MAX_SKEW_SECONDS:
        raise invalid_signature(
            f"Signature not yet current: {amz_date} is still later than {_fmt(now + MAX_SKEW_SECONDS)} "
            f"({_fmt(now)} + 15 min.)"
        )


def _fmt(epoch: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch))


def canonical_request(
    *,
    method: str,
    raw_path: str,
    query: str,
    headers: Mapping[str, str],
    signed: tuple[str, ...],
    body: bytes,
) -> str:
    """The SigV4 canonical request, as botocore's ``SigV4Auth.canonical_request`` builds it.

    ``raw_path`` and ``query`` are as received (already percent-encoded once by the client);
    the path is normalised and encoded again, as SigV4 specifies for every service but S3.
    """
    path = "/" if raw_path == "/" else quote(normalize_url_path(raw_path), safe="/~")
    if query:
        pairs = sorted(pair.partition("=")[::2] for pair in query.split("&"))
        query = "&".join(f"{k}={v}" for k, v in pairs)
    canonical_headers = "".join(
        f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in sorted(set(signed))
    )
    payload = headers.get("x-amz-content-sha256") or (
        hashlib.sha256(body).hexdigest() if body else _EMPTY_SHA256
    )
    return f"{method}\n{path}\n{query}\n{canonical_headers}\n{';'.join(sorted(set(signed)))}\n{payload}"


class SigV4Verifier:
    """Recomputes signatures; keeps the derived signing keys (per secret, date, region, service)."""

    def __init__(self) -> None:
        self._keys: dict[tuple[str, str, str, str], bytes] = {}

    def signing_key(self, secret: str, date: str, region: str, service: str) -> bytes:
        cache_key = (secret, date, region, service)
        key = self._keys.get(cache_key)
        if key is None:
            key = _hmac(f"AWS4{secret}".encode(), date)
            for part in (region, service, "aws4_request"):
                key = _hmac(key, part)
            if len(self._keys) >= _KEY_CACHE_LIMIT:
                # Keys roll over daily; dropping everything at the limit is simpler than an LRU
                # and costs one re-derivation per live key.
                self._keys.clear()
            self._keys[cache_key] = key
        return key

    def expected_signature(
        self,
        auth: Authorization,
        secret: str,
        *,
        method: str,
        raw_path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
    ) -> str:
        creq = canonical_request(
            method=method,
            raw_path=raw_path,
            query=query,
            headers=headers,
            signed=auth.signed_headers,
            body=body,
        )
        string_to_sign = (
            f"{ALGORITHM}\n{auth.amz_date}\n{auth.scope}\n{hashlib.sha256(creq.encode()).hexdigest()}"
        )
        key = self.signing_key(secret, auth.date, auth.region, auth.service)
        return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()

    def verify(
        self,
        auth: Authorization,
        secret: str,
        *,
        method: str,
        raw_path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
    ) -> None:
        """Raise InvalidSignatureException unless ``auth.signature`` is right for this request."""
        expected = self.expected_signature(
            auth, secret, method=method, raw_path=raw_path, query=query, headers=headers, body=body
        )
        # Bytes, not str: compare_digest refuses non-ASCII str, and the header is client input.
        if not hmac.compare_digest(expected.encode(), auth.signature.encode()):
            raise invalid_signature()


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()
