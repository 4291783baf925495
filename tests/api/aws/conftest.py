"""Fixtures: the protocol layer served by uvicorn with a small ECS service, and clients for it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import botocore.config
import pytest

from stowage.api.aws.app import AwsApi
from stowage.api.aws.service import AwsService
from tests.api.aws.support import (
    ACCESS_KEY_ID,
    SECRET,
    ClusterBook,
    RawClient,
    catch_all_service,
    lookup,
    serve,
)


@pytest.fixture(scope="module")
def book() -> ClusterBook:
    return ClusterBook()


@pytest.fixture(scope="module")
def host(book: ClusterBook) -> Iterator[str]:
    app = AwsApi([AwsService("ecs", book.handlers())], lookup, max_body_bytes=64 * 1024, strict_shapes=True)
    with serve(app) as hostport:
        yield hostport


@pytest.fixture(scope="module")
def fuzz_host() -> Iterator[str]:
    app = AwsApi([catch_all_service()], lookup, strict_shapes=True)
    with serve(app) as hostport:
        yield hostport


@pytest.fixture()
def raw(host: str) -> Iterator[RawClient]:
    client = RawClient(host)
    yield client
    client.close()


def make_client(host: str, **kwargs: Any) -> Any:
    return boto3.client(
        "ecs",
        endpoint_url=f"http://{host}",
        region_name=kwargs.pop("region_name", "us-east-1"),
        aws_access_key_id=kwargs.pop("aws_access_key_id", ACCESS_KEY_ID),
        aws_secret_access_key=kwargs.pop("aws_secret_access_key", SECRET),
        config=botocore.config.Config(
            retries={"max_attempts": 1}, parameter_validation=kwargs.pop("validate", True)
        ),
    )


@pytest.fixture()
def ecs(host: str) -> Any:
    return make_client(host)
