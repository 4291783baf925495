"""A real ``stowage server`` process for the CloudWatch API tests (alarms evaluated every
second), and boto3 clients for it: the stock one (botocore picks AWS JSON 1.0 for CloudWatch)
and one that speaks Smithy RPC v2 CBOR, CloudWatch's newest protocol (a copy of botocore's
model that lists only that protocol)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import botocore.session
import pytest

from tests.support.server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, ServerProcess, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = start_server(tmp_path_factory.mktemp("cloudwatch"), ["--alarm-evaluation-interval", "1"])
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def cbor_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    session = botocore.session.get_session()
    loader = session.get_component("data_loader")
    model = loader.load_service_model("cloudwatch", "service-2")
    version = model["metadata"]["apiVersion"]
    model["metadata"]["protocols"] = ["smithy-rpc-v2-cbor"]
    model["metadata"]["protocol"] = "smithy-rpc-v2-cbor"
    root = tmp_path_factory.mktemp("models")
    target = root / "cloudwatch" / version
    target.mkdir(parents=True)
    (target / "service-2.json").write_text(json.dumps(model))
    return root


def client(server: ServerProcess, models: Path | None = None) -> Any:
    session = botocore.session.get_session()
    if models is not None:
        session.get_component("data_loader").search_paths.insert(0, str(models))
    return boto3.Session(botocore_session=session).client(
        "cloudwatch",
        endpoint_url=server.endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


@pytest.fixture()
def cw(server: ServerProcess, cbor_models: Path) -> Any:
    """The CBOR client (what botocore will pick once it prefers CBOR)."""
    c = client(server, cbor_models)
    assert c.meta.service_model.protocol == "smithy-rpc-v2-cbor"
    return c


@pytest.fixture()
def cw_json(server: ServerProcess) -> Any:
    return client(server)
