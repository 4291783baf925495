"""`JsonSigner` signs exactly what botocore's ``SigV4Auth`` signs for the same request."""

from __future__ import annotations

import datetime
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from stowage.client.signer import JsonSigner, host_of

NOW = 1795678369.0
CONTENT_TYPE = "application/x-amz-json-1.1"
TARGET = "AmazonEC2ContainerServiceV20141113.RunTask"


def botocore_headers(
    creds: Credentials, url: str, body: bytes, service: str, region: str, now: float = NOW
) -> dict[str, str]:
    request = AWSRequest(
        method="POST", url=url, data=body, headers={"Content-Type": CONTENT_TYPE, "X-Amz-Target": TARGET}
    )
    at = datetime.datetime.fromtimestamp(now, datetime.UTC).replace(tzinfo=None)
    # botocore reads the clock through this one function: pin it to the signer's time.
    with mock.patch("botocore.auth.get_current_datetime", return_value=at):
        SigV4Auth(creds, service, region).add_auth(request)
    return dict(request.headers.items())


@pytest.mark.parametrize("token", [None, "session-token"])
@pytest.mark.parametrize("url", ["http://127.0.0.1:8123/", "https://ecs.example.com/", "http://[::1]:80/"])
def test_same_signature_as_botocore(token: str | None, url: str) -> None:
    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    body = b'{"cluster":"c","count":10}'
    mine = JsonSigner(creds, "ecs", "eu-west-3", url).headers(CONTENT_TYPE, TARGET, body, now=NOW)
    theirs = botocore_headers(creds, url, body, "ecs", "eu-west-3")
    assert mine["Authorization"] == theirs["Authorization"]
    assert mine["X-Amz-Date"] == theirs["X-Amz-Date"]
    assert mine.get("X-Amz-Security-Token") == theirs.get("X-Amz-Security-Token")


def test_signing_key_follows_the_day() -> None:
    creds = Credentials("AKID", "SECRET")
    signer = JsonSigner(creds, "ecs", "us-east-1", "http://127.0.0.1:1/")
    today = signer.headers(CONTENT_TYPE, TARGET, b"{}", now=NOW)
    tomorrow = signer.headers(CONTENT_TYPE, TARGET, b"{}", now=NOW + 86400)
    theirs = botocore_headers(creds, "http://127.0.0.1:1/", b"{}", "ecs", "us-east-1", now=NOW + 86400)
    assert tomorrow["Authorization"] == theirs["Authorization"]
    assert today["Authorization"] != tomorrow["Authorization"]


def test_host_of() -> None:
    assert host_of("http://127.0.0.1:8080/") == "127.0.0.1:8080"
    assert host_of("http://example.com:80/") == "example.com"
    assert host_of("https://example.com:443/") == "example.com"
    assert host_of("https://example.com:8443/") == "example.com:8443"


@pytest.mark.parametrize("token", [None, "session-token"])
def test_upgrade_signature_is_botocores_for_a_get_without_body(token: str | None) -> None:
    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    url = "http://127.0.0.1:8123/"
    mine = JsonSigner(creds, "ecs", "eu-west-3", url).upgrade_headers("/agent/channel", now=NOW)
    request = AWSRequest(method="GET", url=url + "agent/channel")
    at = datetime.datetime.fromtimestamp(NOW, datetime.UTC).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=at):
        SigV4Auth(creds, "ecs", "eu-west-3").add_auth(request)
    assert mine["Authorization"] == request.headers["Authorization"]
    assert mine.get("X-Amz-Security-Token") == request.headers.get("X-Amz-Security-Token")
