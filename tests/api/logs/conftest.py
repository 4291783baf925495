"""Fixtures: the CloudWatch Logs service on the real protocol layer, served over real HTTP by
uvicorn in a thread with a LogStore in a temp dir, and boto3 / AWS CLI clients for it.

When the control plane (``server`` fixture, a real ``stowage server`` process) answers
CloudWatch Logs, the tests run against it instead; everything here talks to the endpoint only.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import orjson
import pytest

from stowage.api.aws.app import AwsApi
from stowage.api.logs.service import logs_service
from stowage.logstore import LogStore
from tests.api.aws.support import ACCESS_KEY_ID, ACCOUNT_ID, SECRET, lookup, serve
from tests.support import server as real_server


class Endpoint:
    def __init__(
        self,
        url: str,
        data_dir: Path,
        key: str = ACCESS_KEY_ID,
        secret: str = SECRET,
        account: str = ACCOUNT_ID,
    ) -> None:
        self.url = url
        self.data_dir = data_dir
        self.key = key
        self.secret = secret
        self.account = account

    def client(self) -> Any:
        return boto3.client(
            "logs",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=self.key,
            aws_secret_access_key=self.secret,
            config=botocore.config.Config(retries={"max_attempts": 1}),
        )

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            AWS_ENDPOINT_URL=self.url,
            AWS_ACCESS_KEY_ID=self.key,
            AWS_SECRET_ACCESS_KEY=self.secret,
            AWS_DEFAULT_REGION="us-east-1",
            AWS_CONFIG_FILE=str(self.data_dir / "aws-config-absent"),
            AWS_SHARED_CREDENTIALS_FILE=str(self.data_dir / "aws-credentials-absent"),
        )
        return env

    def aws(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the real AWS CLI (``python -m awscli``) against the endpoint."""
        return subprocess.run(
            [sys.executable, "-m", "awscli", *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=check,
        )

    def aws_json(self, *args: str) -> Any:
        return orjson.loads(self.aws(*args, "--output", "json").stdout or b"{}")


def _control_plane(request: pytest.FixtureRequest) -> Endpoint | None:
    """The session's real server, if it starts and serves CloudWatch Logs."""
    try:
        proc: real_server.ServerProcess = request.getfixturevalue("server")
    except Exception:
        return None
    ep = Endpoint(
        proc.endpoint,
        proc.data_dir,
        real_server.ACCESS_KEY_ID,
        real_server.SECRET_ACCESS_KEY,
        real_server.ACCOUNT_ID,
    )
    try:
        ep.client().describe_log_groups(limit=1)
    except Exception:
        return None
    return ep


@pytest.fixture(scope="module")
def endpoint(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    served = _control_plane(request)
    if served is not None:
        yield served
        return
    data_dir = tmp_path_factory.mktemp("logs")
    store = asyncio.run(LogStore.open_in(data_dir))
    app = AwsApi([logs_service(store)], lookup, strict_shapes=True)
    try:
        with serve(app) as host:
            yield Endpoint(f"http://{host}", data_dir)
    finally:
        asyncio.run(store.close())


@pytest.fixture(scope="module")
def account(endpoint: Endpoint) -> str:
    return endpoint.account


@pytest.fixture(scope="module")
def logs(endpoint: Endpoint) -> Any:
    return endpoint.client()
