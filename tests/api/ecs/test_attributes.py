"""ECS custom attributes: PutAttributes, ListAttributes, DeleteAttributes.

Over real HTTP for every error path a user can reach today. Container instances are
registered by a later part of the API, so the success paths (which need a registered
instance) run the same handlers in-process on a real MemoryStore, with the instance record
written where ``ecs_keys.container_instance`` says it lives.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from stowage.api.aws.context import RequestContext
from stowage.api.aws.errors import AwsError
from stowage.api.ecs.service import ecs_handlers
from stowage.resources import ecs_keys
from stowage.resources.records import Records
from stowage.store.memory import MemoryStore
from tests.support.server import ACCOUNT_ID, REGION

INSTANCE = "0123456789abcdef0123456789abcdef"


def unique(prefix: str = "attr") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def instance_arn(cluster: str, instance_id: str = INSTANCE) -> str:
    return f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:container-instance/{cluster}/{instance_id}"


# -- over HTTP -------------------------------------------------------------------------------
@pytest.fixture()
def cluster(ecs: Any) -> str:
    name = unique()
    ecs.create_cluster(clusterName=name)
    return name


def test_unregistered_target_is_not_found(ecs: Any, cluster: str) -> None:
    for target in (INSTANCE, instance_arn(cluster)):
        attrs = [{"name": "stack", "value": "prod", "targetType": "container-instance", "targetId": target}]
        with pytest.raises(ClientError) as exc:
            ecs.put_attributes(cluster=cluster, attributes=attrs)
        assert code(exc) == "TargetNotFoundException"
        with pytest.raises(ClientError) as exc:
            ecs.delete_attributes(cluster=cluster, attributes=attrs)
        assert code(exc) == "TargetNotFoundException"


@pytest.mark.parametrize(
    "attr",
    [
        {"name": "bad name!", "targetId": INSTANCE},
        {"name": "n" * 129, "targetId": INSTANCE},
        {"name": "ok", "value": " padded", "targetId": INSTANCE},
        {"name": "ok", "value": "semi;colon", "targetId": INSTANCE},
        {"name": "ok", "targetId": "not-an-instance-id"},
        {"name": "ok", "targetId": f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:task/c/{INSTANCE}"},
        {"name": "ok"},
    ],
)
def test_invalid_attributes(ecs: Any, cluster: str, attr: dict[str, str]) -> None:
    with pytest.raises(ClientError) as exc:
        ecs.put_attributes(cluster=cluster, attributes=[attr])
    assert code(exc) == "InvalidParameterException"


def test_more_than_ten_attributes_per_call(ecs: Any, cluster: str) -> None:
    attrs = [{"name": f"a{i}", "targetId": INSTANCE} for i in range(11)]
    with pytest.raises(ClientError) as exc:
        ecs.put_attributes(cluster=cluster, attributes=attrs)
    assert code(exc) == "InvalidParameterException"


def test_unknown_cluster(ecs: Any) -> None:
    missing = unique("nocluster")
    with pytest.raises(ClientError) as exc:
        ecs.put_attributes(cluster=missing, attributes=[{"name": "a", "targetId": INSTANCE}])
    assert code(exc) == "ClusterNotFoundException"
    with pytest.raises(ClientError) as exc:
        ecs.list_attributes(cluster=missing, targetType="container-instance")
    assert code(exc) == "ClusterNotFoundException"


def test_list_attributes_over_http(ecs: Any, cluster: str) -> None:
    assert ecs.list_attributes(cluster=cluster, targetType="container-instance")["attributes"] == []
    pages = list(
        ecs.get_paginator("list_attributes").paginate(cluster=cluster, targetType="container-instance")
    )
    assert [a for p in pages for a in p["attributes"]] == []
    for kwargs in (
        {"attributeValue": "x"},
        {"maxResults": 0},
        {"maxResults": 101},
        {"nextToken": "nonsense"},
    ):
        with pytest.raises(ClientError) as exc:
            ecs.list_attributes(cluster=cluster, targetType="container-instance", **kwargs)
        assert code(exc) == "InvalidParameterException"


# -- in-process, with a registered instance ---------------------------------------------------
def _ctx() -> RequestContext:
    return RequestContext(
        account_id=ACCOUNT_ID,
        region=REGION,
        request_id="r",
        access_key_id="AKIA",
        principal_arn=f"arn:aws:iam::{ACCOUNT_ID}:root",
        now=0.0,
    )


async def _call(handlers: dict[str, Any], op: str, **params: Any) -> dict[str, Any]:
    result: dict[str, Any] = await handlers[op](_ctx(), params)
    return result


def test_attribute_lifecycle_on_a_registered_instance() -> None:
    async def scenario() -> None:
        records = Records(MemoryStore())
        h = ecs_handlers(records)
        await _call(h, "CreateCluster", clusterName="attrs")
        other = "fedcba9876543210fedcba9876543210"
        for instance in (INSTANCE, other):
            await records.put(
                ecs_keys.container_instance(ACCOUNT_ID, REGION, "attrs", instance),
                {"containerInstanceArn": instance_arn("attrs", instance)},
            )
        put = await _call(
            h,
            "PutAttributes",
            cluster="attrs",
            attributes=[
                {"name": "stack", "value": "prod", "targetId": INSTANCE},
                {"name": "gpu", "targetId": instance_arn("attrs")},
                {"name": "stack", "value": "dev", "targetId": other, "targetType": "container-instance"},
            ],
        )
        assert len(put["attributes"]) == 3

        listed = await _call(h, "ListAttributes", cluster="attrs", targetType="container-instance")
        assert sorted((a["name"], a.get("value"), a["targetId"]) for a in listed["attributes"]) == sorted(
            [
                ("stack", "prod", instance_arn("attrs")),
                ("gpu", None, instance_arn("attrs")),
                ("stack", "dev", instance_arn("attrs", other)),
            ]
        )
        assert all(a["targetType"] == "container-instance" for a in listed["attributes"])
        by_value = await _call(
            h,
            "ListAttributes",
            cluster="attrs",
            targetType="container-instance",
            attributeName="stack",
            attributeValue="dev",
        )
        assert [a["targetId"] for a in by_value["attributes"]] == [instance_arn("attrs", other)]

        # Pages of one, continued by token, see each attribute once.
        seen: list[tuple[str, str]] = []
        token = None
        while True:
            params: dict[str, Any] = {"cluster": "attrs", "targetType": "container-instance", "maxResults": 1}
            if token:
                params["nextToken"] = token
            page = await _call(h, "ListAttributes", **params)
            assert len(page["attributes"]) == 1
            seen.extend((a["targetId"], a["name"]) for a in page["attributes"])
            token = page.get("nextToken")
            if not token:
                break
        assert len(seen) == 3 == len(set(seen))

        # Overwriting keeps one attribute per name; more than 10 custom attributes is refused.
        await _call(
            h,
            "PutAttributes",
            cluster="attrs",
            attributes=[{"name": "stack", "value": "qa", "targetId": INSTANCE}],
        )
        many = [{"name": f"extra{i}", "targetId": INSTANCE} for i in range(9)]
        with pytest.raises(AwsError) as exc:
            await _call(h, "PutAttributes", cluster="attrs", attributes=many)
        assert exc.value.code == "AttributeLimitExceededException"
        await _call(h, "PutAttributes", cluster="attrs", attributes=many[:8])

        # A target ARN must name the request's cluster.
        await _call(h, "CreateCluster", clusterName="elsewhere")
        with pytest.raises(AwsError) as exc:
            await _call(
                h,
                "PutAttributes",
                cluster="elsewhere",
                attributes=[{"name": "x", "targetId": instance_arn("attrs")}],
            )
        assert exc.value.code == "TargetNotFoundException"

        await _call(
            h, "DeleteAttributes", cluster="attrs", attributes=[{"name": "stack", "targetId": INSTANCE}]
        )
        stacks = await _call(
            h, "ListAttributes", cluster="attrs", targetType="container-instance", attributeName="stack"
        )
        assert [a.get("value") for a in stacks["attributes"]] == ["dev"]

    asyncio.run(scenario())
