"""Other AWS JSON services through the same layer: CloudWatch Logs (1.1) and a JSON 1.0 model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import botocore.config
import pytest

from stowage.api.aws.app import AwsApi
from stowage.api.aws.context import RequestContext
from stowage.api.aws.service import AwsService
from tests.api.aws.support import ACCESS_KEY_ID, ECS_PREFIX, SECRET, RawClient, lookup, serve


async def create_log_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {}


async def list_tables(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"TableNames": ["a", "b"][: params.get("Limit", 2)]}


@pytest.fixture(scope="module")
def multi_host() -> Iterator[str]:
    services = [
        AwsService("logs", {"CreateLogGroup": create_log_group}),
        AwsService("dynamodb", {"ListTables": list_tables}),
        AwsService("ecs", {}),
    ]
    with serve(AwsApi(services, lookup, strict_shapes=True)) as hostport:
        yield hostport


def client(host: str, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=f"http://{host}",
        region_name="us-west-2",
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET,
        config=botocore.config.Config(retries={"max_attempts": 1}, parameter_validation=False),
    )


def test_logs_operation_and_its_pattern_constraint(multi_host: str) -> None:
    logs = client(multi_host, "logs")
    assert logs.create_log_group(logGroupName="/ecs/web")["ResponseMetadata"]["HTTPStatusCode"] == 200
    with pytest.raises(logs.exceptions.InvalidParameterException) as info:
        logs.create_log_group(logGroupName="no spaces allowed")
    assert "Member must satisfy regular expression pattern" in info.value.response["Error"]["Message"]
    with pytest.raises(logs.exceptions.InvalidParameterException) as info:
        logs.create_log_group(logGroupName="x" * 513)
    assert "length less than or equal to 512" in info.value.response["Error"]["Message"]


def test_json_1_0_service_speaks_1_0(multi_host: str) -> None:
    ddb = client(multi_host, "dynamodb")
    resp = ddb.list_tables(Limit=1)
    assert resp["TableNames"] == ["a"]
    assert resp["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/x-amz-json-1.0"
    # Its model lists ValidationException, not InvalidParameterException: that is the code used.
    with pytest.raises(ddb.exceptions.ClientError) as info:
        ddb.list_tables(Limit=0)
    assert info.value.response["Error"]["Code"] == "ValidationException"


def test_content_type_must_be_the_services_own(multi_host: str) -> None:
    raw = RawClient(multi_host)
    try:
        resp = raw.call(
            "DynamoDB_20120810.ListTables", {}, service="dynamodb", content_type="application/x-amz-json-1.1"
        )
        assert resp.status == 400
        assert resp.json()["__type"] == "UnknownOperationException"
        assert (
            raw.call(
                "DynamoDB_20120810.ListTables",
                {},
                service="dynamodb",
                content_type="application/x-amz-json-1.0",
            ).status
            == 200
        )
    finally:
        raw.close()


def test_signature_must_be_scoped_to_the_targets_service(multi_host: str) -> None:
    raw = RawClient(multi_host)
    try:
        resp = raw.call("Logs_20140328.CreateLogGroup", {"logGroupName": "x"}, service="ecs")
        assert resp.status == 400
        assert resp.json()["__type"] == "InvalidSignatureException"
        assert "'logs'" in resp.json()["message"]
    finally:
        raw.close()


def test_service_without_handlers_answers_unknown_operation(multi_host: str) -> None:
    raw = RawClient(multi_host)
    try:
        resp = raw.call(f"{ECS_PREFIX}.ListClusters", {})
        assert (resp.status, resp.json()["__type"]) == (400, "UnknownOperationException")
    finally:
        raw.close()


def test_handler_for_an_operation_not_in_the_model_is_refused_at_startup() -> None:
    with pytest.raises(ValueError, match="not in the model"):
        AwsApi([AwsService("ecs", {"LaunchRockets": create_log_group})], lookup)
