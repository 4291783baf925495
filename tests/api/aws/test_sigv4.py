"""SigV4: every authentication answer over HTTP, and parity of the canonical request with botocore."""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st

from stowage.api.aws.sigv4 import SigV4Verifier, canonical_request, parse_authorization
from tests.api.aws.conftest import make_client
from tests.api.aws.support import ECS_PREFIX, SECRET, RawClient, sign
from tests.api.aws.test_errors import assert_error

TARGET = f"{ECS_PREFIX}.ListClusters"
MISMATCH = "The request signature we calculated does not match the signature you provided."


def post(raw: RawClient, headers: dict[str, str], body: bytes = b"{}") -> Any:
    return raw.request("POST", "/", body, headers)


def test_missing_authorization(raw: RawClient) -> None:
    headers = {"X-Amz-Target": TARGET, "Content-Type": "application/x-amz-json-1.1"}
    assert_error(
        post(raw, headers), 400, "MissingAuthenticationTokenException", "Missing Authentication Token"
    )


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda a: a.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512"), "Unsupported AWS 'algorithm'"),
        (lambda a: a.split(", Signature=")[0], "requires 'Signature' parameter"),
        (lambda a: a.replace("SignedHeaders=", "Signed="), "requires 'SignedHeaders' parameter"),
        (lambda a: a.replace("Credential=", "Cred="), "requires 'Credential' parameter"),
        (lambda a: a.replace("/us-east-1/", "/"), "Credential must have exactly 5 slash-delimited elements"),
    ],
)
def test_malformed_authorization_is_incomplete_signature(raw: RawClient, mutate: Any, fragment: str) -> None:
    headers = sign(raw.host, TARGET, b"{}")
    headers["Authorization"] = mutate(headers["Authorization"])
    assert_error(post(raw, headers), 400, "IncompleteSignatureException", fragment)


def test_missing_date_is_incomplete_signature(raw: RawClient) -> None:
    headers = sign(raw.host, TARGET, b"{}")
    del headers["X-Amz-Date"]
    assert_error(post(raw, headers), 400, "IncompleteSignatureException", "'X-Amz-Date' or a 'Date' header")


def test_unknown_access_key(host: str) -> None:
    ecs = make_client(host, aws_access_key_id="AKIANOBODYHASTHISKEY", aws_secret_access_key="x")
    with pytest.raises(Exception) as info:
        ecs.list_clusters()
    err = info.value.response  # type: ignore[attr-defined]
    assert err["Error"]["Code"] == "UnrecognizedClientException"
    assert err["Error"]["Message"] == "The security token included in the request is invalid."
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_wrong_secret(host: str) -> None:
    ecs = make_client(host, aws_secret_access_key="not-the-secret")
    with pytest.raises(Exception) as info:
        ecs.list_clusters()
    err = info.value.response  # type: ignore[attr-defined]
    assert err["Error"]["Code"] == "InvalidSignatureException"
    assert err["Error"]["Message"].startswith(MISMATCH)
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_tampered_body_and_header(raw: RawClient) -> None:
    body = orjson.dumps({"maxResults": 5})
    headers = sign(raw.host, TARGET, body)
    assert_error(
        post(raw, headers, orjson.dumps({"maxResults": 6})), 400, "InvalidSignatureException", MISMATCH
    )
    headers["X-Amz-Target"] = f"{ECS_PREFIX}.DescribeClusters"
    assert_error(post(raw, headers, body), 400, "InvalidSignatureException", MISMATCH)


def test_wrong_service_scope(raw: RawClient) -> None:
    headers = sign(raw.host, TARGET, b"{}", service="logs")
    assert_error(post(raw, headers), 400, "InvalidSignatureException", "scoped to correct service: 'ecs'")


def test_scope_date_must_match_request_date(raw: RawClient) -> None:
    headers = sign(raw.host, TARGET, b"{}")
    day = headers["X-Amz-Date"][:8]
    other = (datetime.strptime(day, "%Y%m%d") - timedelta(days=1)).strftime("%Y%m%d")
    headers["Authorization"] = headers["Authorization"].replace(f"/{day}/", f"/{other}/")
    assert_error(
        post(raw, headers), 400, "InvalidSignatureException", "Date in Credential scope does not match"
    )


@pytest.mark.parametrize(
    ("offset", "fragment"), [(-16, "Signature expired: "), (16, "Signature not yet current: ")]
)
def test_clock_skew_over_15_minutes(raw: RawClient, offset: int, fragment: str) -> None:
    when = datetime.now(UTC) + timedelta(minutes=offset)
    body = assert_error(raw.call("ListClusters", when=when), 400, "InvalidSignatureException", fragment)
    assert when.strftime("%Y%m%dT%H%M%SZ") in body["message"]


def test_skew_within_15_minutes_is_accepted(raw: RawClient) -> None:
    for minutes in (-14, 14):
        assert raw.call("ListClusters", when=datetime.now(UTC) + timedelta(minutes=minutes)).status == 200


def test_any_region_is_served(raw: RawClient) -> None:
    assert raw.call("ListClusters", region="ap-southeast-2").status == 200


# ---- parity with botocore's signer, over generated requests

_token = st.text(string.ascii_letters + string.digits + "-_.~", min_size=1, max_size=8)
_header_value = st.text(string.ascii_letters + string.digits + " ,;:/=-_", max_size=20)


@settings(max_examples=300, deadline=None)
@given(
    segments=st.lists(
        st.text(string.ascii_letters + string.digits + "-_.~%2F", min_size=1, max_size=6), max_size=3
    ),
    query=st.lists(st.tuples(_token, _token), max_size=3),
    extra=st.dictionaries(
        st.sampled_from(["x-amz-meta", "x-custom", "accept", "x-amz-target"]), _header_value
    ),
    body=st.binary(max_size=64),
)
def test_canonical_request_matches_botocore(
    segments: list[str], query: list[tuple[str, str]], extra: dict[str, str], body: bytes
) -> None:
    path = "/" + "/".join(segments)
    qs = "&".join(f"{k}={v}" for k, v in query)
    url = f"http://127.0.0.1:8080{path}" + (f"?{qs}" if qs else "")
    request = AWSRequest(method="POST", url=url, data=body, headers=extra)
    auth = SigV4Auth(Credentials("AKID", SECRET), "ecs", "us-east-1")
    request.context["timestamp"] = "20240101T000000Z"
    auth._modify_request_before_signing(request)
    expected = auth.canonical_request(request)
    signature = auth.signature(auth.string_to_sign(request, expected), request)
    auth._inject_signature_to_request(request, signature)

    # What the server sees: lower-case names, the Host header the HTTP client adds.
    seen = {k.lower(): v.strip() for k, v in request.headers.items()}
    seen["host"] = "127.0.0.1:8080"
    parsed = parse_authorization(seen)
    ours = canonical_request(
        method="POST", raw_path=path, query=qs, headers=seen, signed=parsed.signed_headers, body=body
    )
    assert ours == expected
    SigV4Verifier().verify(parsed, SECRET, method="POST", raw_path=path, query=qs, headers=seen, body=body)
