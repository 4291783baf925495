"""EKS clusters through boto3 over real HTTP: life cycle, idempotency, pagination, updates, tags,
errors with EKS's codes, statuses and members."""

from __future__ import annotations

import base64
import datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.api.eks.support import FAST, ROLE, VPC, EksEnv, create_cluster, unique
from tests.support.server import ACCOUNT_ID, REGION


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    r = exc.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Message"]


def test_create_describe_list_delete(env: EksEnv, eks: Any) -> None:
    name = unique("life")
    made = eks.create_cluster(
        name=name,
        roleArn=ROLE,
        resourcesVpcConfig=VPC,
        tags={"team": "a"},
        accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"},
    )["cluster"]
    assert made["status"] in ("CREATING", "ACTIVE")
    assert made["arn"] == f"arn:aws:eks:{REGION}:{ACCOUNT_ID}:cluster/{name}"
    eks.get_waiter("cluster_active").wait(name=name, WaiterConfig=FAST)
    cluster = eks.describe_cluster(name=name)["cluster"]
    assert cluster["status"] == "ACTIVE"
    assert cluster["version"] == "1.32"
    assert cluster["platformVersion"].startswith("eks.")
    assert cluster["tags"] == {"team": "a"}
    assert cluster["accessConfig"] == {
        "bootstrapClusterCreatorAdminPermissions": True,
        "authenticationMode": "API_AND_CONFIG_MAP",
    }
    assert isinstance(cluster["createdAt"], datetime.datetime)
    assert abs((datetime.datetime.now(datetime.UTC) - cluster["createdAt"]).total_seconds()) < 120
    # its own endpoint: a port of the configured range, and a CA that is not the listener's
    first, last = env.plane.config.eks_port_range
    host, _, port = cluster["endpoint"].removeprefix("https://").rpartition(":")
    assert host == "127.0.0.1" and first <= int(port) <= last
    ca = base64.b64decode(cluster["certificateAuthority"]["data"])
    assert ca.startswith(b"-----BEGIN CERTIFICATE-----")
    assert ca != (env.plane.config.data_dir / "k8s" / "ca.crt").read_bytes()
    assert cluster["resourcesVpcConfig"]["subnetIds"] == VPC["subnetIds"]
    assert cluster["kubernetesNetworkConfig"]["serviceIpv4Cidr"] == "10.100.0.0/16"
    assert name in eks.list_clusters()["clusters"]

    def listeners() -> list[Any]:  # the cluster's pod controller listens to the task index
        index = env.plane.app.tasks.index  # type: ignore[union-attr]
        return [
            x
            for x in index._listeners
            if getattr(getattr(x, "backing", None), "cluster", "") == f"eks-{name}"
        ]

    assert len(listeners()) == 1
    gone = eks.delete_cluster(name=name)["cluster"]
    assert gone["status"] == "DELETING"
    eks.get_waiter("cluster_deleted").wait(name=name, WaiterConfig=FAST)
    assert name not in eks.list_clusters()["clusters"]
    assert listeners() == []  # torn down: nothing of it keeps running
    with pytest.raises(ClientError) as exc:
        eks.describe_cluster(name=name)
    assert _error(exc) == ("ResourceNotFoundException", 404, f"No cluster found for name: {name}.")
    assert exc.value.response["clusterName"] == name


def test_client_request_token_makes_create_idempotent(eks: Any) -> None:
    name = unique("idem")
    first = eks.create_cluster(name=name, roleArn=ROLE, resourcesVpcConfig=VPC, clientRequestToken="tok-1")
    again = eks.create_cluster(name=name, roleArn=ROLE, resourcesVpcConfig=VPC, clientRequestToken="tok-1")
    assert again["cluster"]["arn"] == first["cluster"]["arn"]
    assert again["cluster"]["createdAt"] == first["cluster"]["createdAt"]
    with pytest.raises(ClientError) as exc:
        eks.create_cluster(name=name, roleArn=ROLE, resourcesVpcConfig=VPC, clientRequestToken="tok-2")
    assert _error(exc) == ("ResourceInUseException", 409, f"Cluster already exists with name: {name}")
    assert exc.value.response["clusterName"] == name
    # boto3 fills a fresh token in by itself, so a plain second create is refused too
    with pytest.raises(eks.exceptions.ResourceInUseException):
        eks.create_cluster(name=name, roleArn=ROLE, resourcesVpcConfig=VPC)
    eks.delete_cluster(name=name)


def test_list_clusters_pages(eks: Any) -> None:
    names = sorted(unique("page") for _ in range(3))
    for n in names:
        eks.create_cluster(name=n, roleArn=ROLE, resourcesVpcConfig=VPC)
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        kwargs = {"maxResults": 1, **({"nextToken": token} if token else {})}
        out = eks.list_clusters(**kwargs)
        assert len(out["clusters"]) <= 1
        seen.extend(out["clusters"])
        pages += 1
        token = out.get("nextToken")
        if not token:
            break
    assert pages == len(seen) and set(names) <= set(seen)
    paginated = [n for page in eks.get_paginator("list_clusters").paginate(PaginationConfig={"PageSize": 2})
                 for n in page["clusters"]]  # fmt: skip
    # other tests' clusters may come and go meanwhile: compare this test's own
    assert [n for n in paginated if n in names] == [n for n in seen if n in names] == names
    with pytest.raises(ClientError) as exc:
        eks.list_clusters(nextToken="not-a-token")
    assert _error(exc)[:2] == ("InvalidParameterException", 400)
    for n in names:
        eks.delete_cluster(name=n)


def test_bad_parameters_get_invalid_parameter(eks: Any) -> None:
    cases: list[dict[str, Any]] = [
        {"name": unique("v"), "version": "1.20"},
        {"name": unique("r"), "roleArn": "arn:aws:iam::123456789012:user/not-a-role"},
        {"name": unique("c"), "kubernetesNetworkConfig": {"serviceIpv4Cidr": "10.0.0.0/8"}},
    ]
    for case in cases:
        params = {"roleArn": ROLE, "resourcesVpcConfig": VPC, **case}
        with pytest.raises(ClientError) as exc:
            eks.create_cluster(**params)
        code, status, _ = _error(exc)
        assert (code, status) == ("InvalidParameterException", 400), case
        assert case["name"] not in eks.list_clusters()["clusters"]
    # a name the model's pattern refuses, sent past the client's own checks
    raw = _unvalidated(eks)
    with pytest.raises(ClientError) as exc:
        raw.create_cluster(name="-bad", roleArn=ROLE, resourcesVpcConfig=VPC)
    code, status, message = _error(exc)
    assert (code, status) == ("InvalidParameterException", 400)
    assert "failed to satisfy constraint" in message


def _unvalidated(eks: Any) -> Any:
    import boto3
    import botocore.config

    creds = eks._request_signer._credentials
    return boto3.client(
        "eks",
        endpoint_url=eks.meta.endpoint_url,
        region_name=REGION,
        aws_access_key_id=creds.access_key,
        aws_secret_access_key=creds.secret_key,
        config=botocore.config.Config(parameter_validation=False, retries={"max_attempts": 1}),
    )


def test_update_cluster_version(eks: Any) -> None:
    name = unique("upd")
    create_cluster(eks, name, version="1.30")
    with pytest.raises(ClientError) as exc:
        eks.update_cluster_version(name=name, version="1.32")  # one minor at a time
    assert _error(exc)[:2] == ("InvalidParameterException", 400)
    update = eks.update_cluster_version(name=name, version="1.31", clientRequestToken="u1")["update"]
    assert update["type"] == "VersionUpdate" and update["status"] == "InProgress"
    assert {"type": "Version", "value": "1.31"} in update["params"]
    assert (
        eks.update_cluster_version(name=name, version="1.31", clientRequestToken="u1")["update"]["id"]
        == (update["id"])
    )
    eks.get_waiter("cluster_active").wait(name=name, WaiterConfig=FAST)
    done = eks.describe_update(name=name, updateId=update["id"])["update"]
    assert done["status"] == "Successful"
    assert eks.describe_cluster(name=name)["cluster"]["version"] == "1.31"
    assert eks.list_updates(name=name)["updateIds"] == [update["id"]]
    with pytest.raises(ClientError) as exc:
        eks.describe_update(name=name, updateId="00000000-0000-0000-0000-000000000000")
    assert _error(exc)[:2] == ("ResourceNotFoundException", 404)
    second = eks.update_cluster_version(name=name, version="1.32")["update"]
    eks.get_waiter("cluster_active").wait(name=name, WaiterConfig=FAST)
    assert eks.describe_update(name=name, updateId=second["id"])["update"]["status"] == "Successful"
    first_page = eks.list_updates(name=name, maxResults=1)
    assert len(first_page["updateIds"]) == 1 and first_page["nextToken"]
    rest = eks.list_updates(name=name, maxResults=1, nextToken=first_page["nextToken"])
    assert first_page["updateIds"] + rest["updateIds"] == [update["id"], second["id"]]
    eks.delete_cluster(name=name)


def test_update_cluster_config_access_mode(eks: Any) -> None:
    name = unique("mode")
    cluster = create_cluster(eks, name)
    assert cluster["accessConfig"]["authenticationMode"] == "CONFIG_MAP"
    with pytest.raises(ClientError) as exc:
        eks.create_access_entry(clusterName=name, principalArn=f"arn:aws:iam::{ACCOUNT_ID}:user/x")
    assert _error(exc)[:2] == ("InvalidRequestException", 400)
    update = eks.update_cluster_config(name=name, accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"})
    assert update["update"]["type"] == "AccessConfigUpdate"
    eks.get_waiter("cluster_active").wait(name=name, WaiterConfig=FAST)
    described = eks.describe_cluster(name=name)["cluster"]
    assert described["accessConfig"]["authenticationMode"] == "API_AND_CONFIG_MAP"
    with pytest.raises(ClientError) as exc:
        eks.update_cluster_config(name=name, accessConfig={"authenticationMode": "CONFIG_MAP"})
    assert _error(exc)[:2] == ("InvalidParameterException", 400)
    eks.delete_cluster(name=name)


def test_tags(eks: Any) -> None:
    name = unique("tags")
    arn = create_cluster(eks, name, tags={"a": "1"})["arn"]
    eks.tag_resource(resourceArn=arn, tags={"b": "2", "c": "3"})
    assert eks.list_tags_for_resource(resourceArn=arn)["tags"] == {"a": "1", "b": "2", "c": "3"}
    eks.untag_resource(resourceArn=arn, tagKeys=["a", "c"])
    assert eks.list_tags_for_resource(resourceArn=arn)["tags"] == {"b": "2"}
    assert eks.describe_cluster(name=name)["cluster"]["tags"] == {"b": "2"}
    missing = arn + "-nope"
    with pytest.raises(ClientError) as exc:
        eks.list_tags_for_resource(resourceArn=missing)
    assert _error(exc)[:2] == ("NotFoundException", 404)
    with pytest.raises(ClientError) as exc:
        eks.tag_resource(resourceArn="arn:aws:ecs:us-east-1:123456789012:cluster/x", tags={"a": "b"})
    assert _error(exc)[:2] == ("BadRequestException", 400)
    with pytest.raises(ClientError) as exc:
        eks.tag_resource(resourceArn=arn, tags={"aws:reserved": "x"})
    assert _error(exc)[:2] == ("BadRequestException", 400)
    eks.delete_cluster(name=name)


def test_unknown_cluster_errors(eks: Any) -> None:
    for call in (
        lambda: eks.delete_cluster(name="no-such"),
        lambda: eks.update_cluster_version(name="no-such", version="1.32"),
        lambda: eks.list_updates(name="no-such"),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert _error(exc) == ("ResourceNotFoundException", 404, "No cluster found for name: no-such.")
