"""Fixtures: the protocol layer under uvicorn with the small CloudWatch service of ``support``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from stowage.api.aws.app import AwsApi
from stowage.api.aws.service import AwsService
from tests.api.aws.support import RawClient, lookup, serve
from tests.api.aws_protocols.support import MetricsBook, client

MAX_BODY = 64 * 1024


@pytest.fixture(scope="module")
def book() -> MetricsBook:
    return MetricsBook()


@pytest.fixture(scope="module")
def host(book: MetricsBook) -> Iterator[str]:
    app = AwsApi(
        [AwsService("cloudwatch", book.handlers())], lookup, max_body_bytes=MAX_BODY, strict_shapes=True
    )
    with serve(app) as hostport:
        yield hostport


@pytest.fixture(params=["json", "cbor", "query"])
def cw(request: pytest.FixtureRequest, host: str) -> Any:
    """The same test through stock boto3 (AWS JSON 1.0), boto3 over RPC v2 CBOR and over query."""
    return client(request.param, host)


@pytest.fixture(params=["json", "cbor", "query"])
def cw_unvalidated(request: pytest.FixtureRequest, host: str) -> Any:
    """A client that sends what it is given, so the server's validation answers."""
    return client(request.param, host, validate=False)


@pytest.fixture()
def raw(host: str) -> Iterator[RawClient]:
    conn = RawClient(host)
    yield conn
    conn.close()
