"""EKS bearer tokens: the tokens ``aws eks get-token`` makes are accepted for their cluster and
refused (401 ``Status``) when tampered with, expired, made for another cluster, signed with an
unknown key or a wrong secret; verified tokens are cached until they expire, never beyond."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import urllib.error
import urllib.request
from typing import Any

import botocore.session
import pytest
from awscli.customizations.eks.get_token import STSClientFactory, TokenGenerator

from stowage.api.eks.tokens import TokenRefused, TokenVerifier
from stowage.model.eks import tokens as model
from stowage.model.identity import Credential
from tests.api.eks.support import EksEnv, create_cluster, unique
from tests.support.server import ACCESS_KEY_ID, ACCOUNT_ID, SECRET_ACCESS_KEY

ROOT = Credential(ACCESS_KEY_ID, SECRET_ACCESS_KEY, ACCOUNT_ID, f"arn:aws:iam::{ACCOUNT_ID}:root")


def make_token(cluster: str, *, endpoint: str | None = None, secret: str = SECRET_ACCESS_KEY) -> str:
    """What ``aws eks get-token --cluster-name <cluster>`` prints, made by the CLI's own code."""
    session = botocore.session.get_session()
    session.set_credentials(ACCESS_KEY_ID, secret)
    factory = STSClientFactory(session)
    if endpoint is None:
        sts = factory.get_sts_client(region_name="us-east-1")
    else:
        sts = session.create_client("sts", region_name="us-east-1", endpoint_url=endpoint)
        factory._register_k8s_aws_id_handlers(sts)
    return str(TokenGenerator(sts).get_token(cluster))


async def _lookup(key: str) -> Credential | None:
    return ROOT if key == ROOT.access_key_id else None


class Clock:
    def __init__(self) -> None:
        import time

        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _verify(verifier: TokenVerifier, token: str, cluster: str) -> Any:
    return asyncio.run(verifier.verify(token, cluster))


def _url(token: str) -> str:
    body = token[len(model.PREFIX) :]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


def _token(url: str) -> str:
    return model.PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


@pytest.mark.parametrize("endpoint", [None, "http://127.0.0.1:8686", "https://localhost:443"])
def test_cli_tokens_verify_for_their_cluster_only(endpoint: str | None) -> None:
    token = make_token("demo", endpoint=endpoint)
    verifier = TokenVerifier(_lookup)
    assert _verify(verifier, token, "demo").principal_arn == ROOT.principal_arn
    with pytest.raises(TokenRefused, match="signature"):
        _verify(verifier, token, "other")


def test_tampered_tokens_are_refused() -> None:
    token = make_token("demo")
    url = _url(token)
    signature = url.rsplit("X-Amz-Signature=", 1)[1]
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    later = url.replace("X-Amz-Date=", "X-Amz-Date=X")
    tampered = [
        _token(url.replace(signature, flipped)),  # the signature
        _token(url.replace("X-Amz-Expires=60", "X-Amz-Expires=900")),  # a signed parameter
        _token(url.replace("sts.us-east-1.amazonaws.com", "sts.us-west-2.amazonaws.com")),  # the host
        _token(url.replace("X-Amz-SignedHeaders=host%3Bx-k8s-aws-id", "X-Amz-SignedHeaders=host")),
        _token(later),
        token[:-4],  # truncated
        "k8s-aws-v1.!!!",
        _token("https://sts.amazonaws.com/?Action=AssumeRole&Version=2011-06-15"),
    ]
    assert len(set(tampered)) == len(tampered) and token not in tampered  # each one changed something
    verifier = TokenVerifier(_lookup)
    assert _verify(verifier, token, "demo")
    for bad in tampered:
        with pytest.raises(TokenRefused):
            _verify(verifier, bad, "demo")


def test_wrong_secret_and_unknown_key_are_refused() -> None:
    verifier = TokenVerifier(_lookup)
    with pytest.raises(TokenRefused, match="signature"):
        _verify(verifier, make_token("demo", secret="not-the-secret"), "demo")
    unknown = _token(_url(make_token("demo")).replace(ACCESS_KEY_ID, "AKIAUNKNOWNKEY000000"))
    with pytest.raises(TokenRefused, match="unknown access key"):
        _verify(verifier, unknown, "demo")


def test_expiry_is_fifteen_minutes_from_signing_and_the_cache_honours_it() -> None:
    clock = Clock()
    token = make_token("demo")  # signed "now" (X-Amz-Expires=60, as get-token sets it)
    verifier = TokenVerifier(_lookup, clock=clock)
    assert _verify(verifier, token, "demo")
    clock.now += 14 * 60  # still valid: kubectl reuses a token for 14 minutes
    assert _verify(verifier, token, "demo")
    clock.now += 2 * 60
    with pytest.raises(TokenRefused, match="expired"):
        _verify(verifier, token, "demo")
    # a fresh verifier (no cache) agrees; and a token signed in the future is refused too
    with pytest.raises(TokenRefused, match="expired"):
        _verify(TokenVerifier(_lookup, clock=clock), token, "demo")
    clock.now -= 40 * 60
    with pytest.raises(TokenRefused, match="expired"):
        _verify(TokenVerifier(_lookup, clock=clock), token, "demo")


def test_cache_is_per_cluster_and_counts_verifications() -> None:
    calls = 0

    async def counting(key: str) -> Credential | None:
        nonlocal calls
        calls += 1
        return await _lookup(key)

    verifier = TokenVerifier(counting)
    token = make_token("demo")
    for _ in range(5):
        _verify(verifier, token, "demo")
    assert calls == 1
    with pytest.raises(TokenRefused):
        _verify(verifier, token, "other")
    assert calls == 2


# -- over HTTPS, against a cluster's endpoint ---------------------------------------------------------
def _get(url: str, token: str, ca: bytes) -> tuple[int, dict[str, Any]]:
    context = ssl.create_default_context(cadata=ca.decode())
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_the_endpoint_answers_401_status_to_bad_tokens(env: EksEnv, eks: Any) -> None:
    name, other = unique("tok"), unique("tok-other")
    cluster = create_cluster(eks, name)
    create_cluster(eks, other)
    ca = base64.b64decode(cluster["certificateAuthority"]["data"])
    url = cluster["endpoint"] + "/api/v1/namespaces"
    good = json.loads(env.aws("eks", "get-token", "--cluster-name", name).stdout)["status"]["token"]
    status, body = _get(url, good, ca)
    assert status == 200 and body["kind"] == "NamespaceList"
    wrong_cluster = json.loads(env.aws("eks", "get-token", "--cluster-name", other).stdout)["status"]["token"]
    local_admin = (env.plane.config.data_dir / "k8s" / "token").read_text().strip()
    signature = _url(good).rsplit("=", 1)[1]
    tampered = _token(_url(good).replace(signature, signature[::-1]))
    for bad in (wrong_cluster, local_admin, tampered, "k8s-aws-v1.", ""):
        status, body = _get(url, bad, ca)
        assert status == 401, bad
        assert (body["kind"], body["code"], body["reason"], body["status"]) == (
            "Status", 401, "Unauthorized", "Failure"
        )  # fmt: skip
    # and an EKS token does not open stowage's own API server
    local = f"https://127.0.0.1:{env.plane.config.k8s_port}/api/v1/namespaces"
    assert _get(local, good, (env.plane.config.data_dir / "k8s" / "ca.crt").read_bytes())[0] == 401
    eks.delete_cluster(name=name)
    eks.delete_cluster(name=other)
