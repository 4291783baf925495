"""The happy path as users drive it: boto3 and the AWS CLI, signed for real, against uvicorn."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from botocore.exceptions import ClientError

from tests.api.aws.conftest import make_client
from tests.api.aws.support import ACCOUNT_ID, USER_ARN, USER_KEY_ID, USER_SECRET, ClusterBook, RawClient


def test_create_describe_list_round_trip(ecs: Any) -> None:
    name = f"c-{uuid.uuid4().hex[:8]}"
    created = ecs.create_cluster(clusterName=name, tags=[{"key": "team", "value": "infra"}])["cluster"]
    assert created["clusterArn"] == f"arn:aws:ecs:us-east-1:{ACCOUNT_ID}:cluster/{name}"
    assert created["tags"] == [{"key": "team", "value": "infra"}]
    assert "settings" not in created  # None is dropped, never sent as null

    described = ecs.describe_clusters(clusters=[name, "nope"])
    assert [c["clusterName"] for c in described["clusters"]] == [name]
    assert described["failures"][0]["reason"] == "MISSING"
    assert created["clusterArn"] in ecs.list_clusters()["clusterArns"]


def test_response_metadata_carries_a_uuid_request_id(ecs: Any) -> None:
    meta = ecs.list_clusters()["ResponseMetadata"]
    assert meta["HTTPStatusCode"] == 200
    assert uuid.UUID(meta["RequestId"]).version == 4
    assert meta["HTTPHeaders"]["content-type"] == "application/x-amz-json-1.1"


def test_context_has_account_region_principal_and_request_id(host: str, book: ClusterBook) -> None:
    client = make_client(
        host, region_name="eu-west-3", aws_access_key_id=USER_KEY_ID, aws_secret_access_key=USER_SECRET
    )
    resp = client.create_cluster(clusterName="ctx-check")
    ctx = book.last_context
    assert ctx is not None
    assert (ctx.account_id, ctx.region, ctx.access_key_id, ctx.principal_arn) == (
        ACCOUNT_ID,
        "eu-west-3",
        USER_KEY_ID,
        USER_ARN,
    )
    assert ctx.request_id == resp["ResponseMetadata"]["RequestId"]
    assert abs(ctx.now - datetime.now(UTC).timestamp()) < 600
    assert resp["cluster"]["clusterArn"].startswith(f"arn:aws:ecs:eu-west-3:{ACCOUNT_ID}:")


def test_timestamps_are_sent_as_epoch_seconds(ecs: Any, raw: RawClient) -> None:
    td = ecs.describe_task_definition(taskDefinition="web")["taskDefinition"]
    assert td["registeredAt"] == datetime(2024, 5, 6, 7, 8, 9, 500000, tzinfo=UTC)
    body = raw.call("DescribeTaskDefinition", {"taskDefinition": "web"}).json()
    assert body["taskDefinition"]["registeredAt"] == 1714979289.5
    assert body["taskDefinition"]["deregisteredAt"] == 1714979289.25


def test_handler_error_reaches_boto3_as_its_modelled_exception(ecs: Any) -> None:
    with pytest.raises(ecs.exceptions.ClusterNotFoundException) as info:
        ecs.delete_cluster(cluster="never-created")
    assert info.value.response["Error"]["Message"] == "Cluster not found."
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_unhandled_exception_is_a_generic_server_exception(
    ecs: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(ecs.exceptions.ServerException) as info:
        ecs.delete_cluster(cluster="explode")
    err = info.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert "secret internal detail" not in err["Error"]["Message"]
    assert "Traceback" not in str(err)
    # ...but the server log has the traceback and the request id.
    assert any(r.exc_info and "secret internal detail" in str(r.exc_info[1]) for r in caplog.records)
    assert any(err["ResponseMetadata"]["RequestId"] in r.getMessage() for r in caplog.records)


def test_lost_races_are_throttling_which_botocore_retries(ecs: Any) -> None:
    """A write that lost every compare-and-swap answers ThrottlingException (retried by the
    SDK: three attempts in botocore's legacy mode, the last one's answer surfaces)."""
    with pytest.raises(ClientError) as info:
        ecs.delete_cluster(cluster="contended")
    err = info.value.response
    assert err["Error"]["Code"] == "ThrottlingException"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err["ResponseMetadata"]["RetryAttempts"] >= 1
    assert "/some/key" not in err["Error"]["Message"]


def test_strict_shapes_turn_an_unknown_output_member_into_a_server_error(ecs: Any) -> None:
    with pytest.raises(ClientError) as info:
        ecs.delete_cluster(cluster="bad-output")
    assert info.value.response["Error"]["Code"] == "ServerException"


def test_aws_cli_lists_clusters(host: str, ecs: Any, tmp_path: Path) -> None:
    ecs.create_cluster(clusterName="for-the-cli")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=USER_KEY_ID,
        AWS_SECRET_ACCESS_KEY=USER_SECRET,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(tmp_path / "absent-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "absent-credentials"),
    )
    aws = Path(sys.executable).parent / "aws"
    out = subprocess.run(
        [str(aws), "ecs", "list-clusters", "--endpoint-url", f"http://{host}", "--output", "json"],
        env=env,
        capture_output=True,
        check=True,
        timeout=60,
    )
    arns = orjson.loads(out.stdout)["clusterArns"]
    assert f"arn:aws:ecs:us-east-1:{ACCOUNT_ID}:cluster/for-the-cli" in arns

    failed = subprocess.run(
        [str(aws), "ecs", "delete-cluster", "--cluster", "absent", "--endpoint-url", f"http://{host}"],
        env=env,
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert failed.returncode != 0
    assert b"ClusterNotFoundException" in failed.stderr
