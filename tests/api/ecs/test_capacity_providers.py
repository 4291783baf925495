"""ECS capacity providers over real HTTP: create, describe (with the built-in Fargate
providers and pagination), update, delete."""

from __future__ import annotations

import json
import subprocess
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.server import ACCOUNT_ID, REGION, ServerProcess


def unique(prefix: str = "cp") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def cp_arn(name: str) -> str:
    return f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:capacity-provider/{name}"


def asg_arn(name: str) -> str:
    return (
        f"arn:aws:autoscaling:{REGION}:{ACCOUNT_ID}:autoScalingGroup:"
        f"{uuid.uuid4()}:autoScalingGroupName/{name}"
    )


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def create(ecs: Any, name: str, **asg: Any) -> dict[str, Any]:
    provider = {"autoScalingGroupArn": asg_arn(name), **asg}
    result: dict[str, Any] = ecs.create_capacity_provider(name=name, autoScalingGroupProvider=provider)[
        "capacityProvider"
    ]
    return result


def test_create_fills_in_ecs_defaults(ecs: Any) -> None:
    name = unique()
    asg = asg_arn(name)
    cp = ecs.create_capacity_provider(
        name=name, autoScalingGroupProvider={"autoScalingGroupArn": asg}, tags=[{"key": "k", "value": "v"}]
    )["capacityProvider"]
    assert cp == {
        "capacityProviderArn": cp_arn(name),
        "name": name,
        "status": "ACTIVE",
        "autoScalingGroupProvider": {
            "autoScalingGroupArn": asg,
            "managedScaling": {
                "status": "DISABLED",
                "targetCapacity": 100,
                "minimumScalingStepSize": 1,
                "maximumScalingStepSize": 10000,
                "instanceWarmupPeriod": 300,
            },
            "managedTerminationProtection": "DISABLED",
            "managedDraining": "ENABLED",
        },
        "tags": [{"key": "k", "value": "v"}],
        "type": "EC2_AUTOSCALING",
    }


def test_create_echoes_given_settings(ecs: Any) -> None:
    name = unique()
    cp = create(
        ecs,
        name,
        managedScaling={"status": "ENABLED", "targetCapacity": 75, "maximumScalingStepSize": 10},
        managedTerminationProtection="ENABLED",
        managedDraining="DISABLED",
    )
    asg = cp["autoScalingGroupProvider"]
    assert asg["managedScaling"]["targetCapacity"] == 75
    assert asg["managedScaling"]["maximumScalingStepSize"] == 10
    assert asg["managedScaling"]["status"] == "ENABLED"
    assert asg["managedTerminationProtection"] == "ENABLED"
    assert asg["managedDraining"] == "DISABLED"


@pytest.mark.parametrize("bad", ["aws-x", "ECS-x", "fargate1", "FARGATE", "has space", "n" * 256])
def test_create_rejects_bad_names(ecs: Any, bad: str) -> None:
    with pytest.raises(ClientError) as exc:
        ecs.create_capacity_provider(name=bad, autoScalingGroupProvider={"autoScalingGroupArn": asg_arn("x")})
    assert code(exc) == "InvalidParameterException"


@pytest.mark.parametrize(
    "provider",
    [
        {"autoScalingGroupArn": "not-an-arn"},
        {"autoScalingGroupArn": f"arn:aws:ec2:{REGION}:{ACCOUNT_ID}:instance/i-1"},
        # Managed termination protection needs managed scaling.
        {"autoScalingGroupArn": asg_arn("tp"), "managedTerminationProtection": "ENABLED"},
        {
            "autoScalingGroupArn": asg_arn("steps"),
            "managedScaling": {"minimumScalingStepSize": 20, "maximumScalingStepSize": 10},
        },
    ],
)
def test_create_validates_the_auto_scaling_group_provider(ecs: Any, provider: dict[str, Any]) -> None:
    with pytest.raises(ClientError) as exc:
        ecs.create_capacity_provider(name=unique(), autoScalingGroupProvider=provider)
    assert code(exc) == "InvalidParameterException"


def test_create_duplicate_name_or_group_is_a_client_exception(ecs: Any) -> None:
    name = unique()
    cp = create(ecs, name)
    with pytest.raises(ClientError) as exc:
        ecs.create_capacity_provider(
            name=name, autoScalingGroupProvider={"autoScalingGroupArn": asg_arn(name)}
        )
    assert code(exc) == "ClientException"
    assert "already exists" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        ecs.create_capacity_provider(
            name=unique(),
            autoScalingGroupProvider={
                "autoScalingGroupArn": cp["autoScalingGroupProvider"]["autoScalingGroupArn"]
            },
        )
    assert code(exc) == "ClientException"


def test_create_needs_a_provider(ecs: Any) -> None:
    with pytest.raises(ClientError) as exc:
        ecs.create_capacity_provider(name=unique())
    assert code(exc) == "InvalidParameterException"


def test_describe_always_includes_fargate(ecs: Any) -> None:
    out = ecs.describe_capacity_providers(capacityProviders=["FARGATE", "FARGATE_SPOT"])
    assert out["failures"] == []
    assert [cp["name"] for cp in out["capacityProviders"]] == ["FARGATE", "FARGATE_SPOT"]
    assert out["capacityProviders"][0] == {
        "capacityProviderArn": cp_arn("FARGATE"),
        "name": "FARGATE",
        "status": "ACTIVE",
        "type": "FARGATE",
    }
    everything = ecs.describe_capacity_providers()["capacityProviders"]
    assert [cp["name"] for cp in everything[:2]] == ["FARGATE", "FARGATE_SPOT"]


def test_describe_by_name_and_arn_with_failures_and_tags(ecs: Any) -> None:
    name = unique()
    ecs.create_capacity_provider(
        name=name,
        autoScalingGroupProvider={"autoScalingGroupArn": asg_arn(name)},
        tags=[{"key": "team", "value": "infra"}],
    )
    missing = unique("gone")
    out = ecs.describe_capacity_providers(capacityProviders=[cp_arn(name), missing])
    assert [cp["name"] for cp in out["capacityProviders"]] == [name]
    assert "tags" not in out["capacityProviders"][0]
    assert out["failures"] == [{"arn": cp_arn(missing), "reason": "MISSING"}]
    tagged = ecs.describe_capacity_providers(capacityProviders=[name], include=["TAGS"])
    assert tagged["capacityProviders"][0]["tags"] == [{"key": "team", "value": "infra"}]


def test_describe_paginates_over_builtin_and_created(ecs: Any) -> None:
    names = sorted(unique("pg") for _ in range(4))
    for n in names:
        create(ecs, n)
    seen: list[str] = []
    token = None
    while True:
        kwargs: dict[str, Any] = {"maxResults": 1}
        if token:
            kwargs["nextToken"] = token
        out = ecs.describe_capacity_providers(**kwargs)
        assert len(out["capacityProviders"]) == 1
        seen.extend(cp["name"] for cp in out["capacityProviders"])
        token = out.get("nextToken")
        if not token:
            break
    assert seen[:2] == ["FARGATE", "FARGATE_SPOT"]
    assert len(seen) == len(set(seen))
    assert [n for n in seen if n in names] == names
    assert seen[2:] == sorted(seen[2:])


def test_describe_rejects_bad_paging(ecs: Any) -> None:
    for kwargs in ({"maxResults": 11}, {"maxResults": 0}, {"nextToken": "bogus"}):
        with pytest.raises(ClientError) as exc:
            ecs.describe_capacity_providers(**kwargs)
        assert code(exc) == "InvalidParameterException"


def test_update_changes_the_given_members(ecs: Any) -> None:
    name = unique()
    create(ecs, name)
    cp = ecs.update_capacity_provider(
        name=name,
        autoScalingGroupProvider={
            "managedScaling": {"status": "ENABLED", "targetCapacity": 60},
            "managedTerminationProtection": "ENABLED",
        },
    )["capacityProvider"]
    assert cp["updateStatus"] == "UPDATE_COMPLETE"
    asg = cp["autoScalingGroupProvider"]
    assert asg["managedScaling"]["targetCapacity"] == 60
    assert asg["managedScaling"]["instanceWarmupPeriod"] == 300
    assert asg["managedTerminationProtection"] == "ENABLED"
    assert asg["managedDraining"] == "ENABLED"
    described = ecs.describe_capacity_providers(capacityProviders=[name])["capacityProviders"][0]
    assert described["autoScalingGroupProvider"] == asg


def test_update_errors(ecs: Any) -> None:
    with pytest.raises(ClientError) as exc:
        ecs.update_capacity_provider(name=unique(), autoScalingGroupProvider={"managedDraining": "DISABLED"})
    assert code(exc) == "InvalidParameterException"
    name = unique()
    create(ecs, name)
    with pytest.raises(ClientError) as exc:
        ecs.update_capacity_provider(
            name=name, autoScalingGroupProvider={"managedTerminationProtection": "ENABLED"}
        )
    assert code(exc) == "InvalidParameterException"


def test_delete_unused_provider(ecs: Any) -> None:
    name = unique()
    create(ecs, name)
    cp = ecs.delete_capacity_provider(capacityProvider=cp_arn(name))["capacityProvider"]
    assert cp["name"] == name
    assert cp["updateStatus"] == "DELETE_IN_PROGRESS"
    out = ecs.describe_capacity_providers(capacityProviders=[name])
    assert out["capacityProviders"] == []
    assert out["failures"] == [{"arn": cp_arn(name), "reason": "MISSING"}]
    with pytest.raises(ClientError) as exc:
        ecs.delete_capacity_provider(capacityProvider=name)
    assert code(exc) == "InvalidParameterException"


def test_delete_is_refused_while_a_cluster_uses_it(ecs: Any) -> None:
    name = unique()
    create(ecs, name)
    cluster = unique("cl")
    ecs.create_cluster(clusterName=cluster, capacityProviders=[name])
    cp = ecs.delete_capacity_provider(capacityProvider=name)["capacityProvider"]
    assert cp["status"] == "ACTIVE"
    assert cp["updateStatus"] == "DELETE_FAILED"
    assert cluster in cp["updateStatusReason"]
    assert (
        ecs.describe_capacity_providers(capacityProviders=[name])["capacityProviders"][0]["status"]
        == "ACTIVE"
    )
    # Once the cluster lets go of it, it can be deleted.
    ecs.put_cluster_capacity_providers(
        cluster=cluster, capacityProviders=[], defaultCapacityProviderStrategy=[]
    )
    assert (
        ecs.delete_capacity_provider(capacityProvider=name)["capacityProvider"]["updateStatus"]
        == "DELETE_IN_PROGRESS"
    )


def test_builtin_providers_cannot_be_deleted(ecs: Any) -> None:
    with pytest.raises(ClientError) as exc:
        ecs.delete_capacity_provider(capacityProvider="FARGATE")
    assert code(exc) == "InvalidParameterException"


def test_managed_instances_provider_belongs_to_its_cluster(ecs: Any) -> None:
    with pytest.raises(ClientError) as exc:
        ecs.create_capacity_provider(
            name=unique(),
            cluster=unique("nocluster"),
            managedInstancesProvider={
                "infrastructureRoleArn": f"arn:aws:iam::{ACCOUNT_ID}:role/infra",
                "instanceLaunchTemplate": {
                    "ec2InstanceProfileArn": f"arn:aws:iam::{ACCOUNT_ID}:instance-profile/p",
                    "networkConfiguration": {"subnets": ["subnet-1"]},
                },
            },
        )
    assert code(exc) == "ClusterNotFoundException"
    cluster = unique("mi")
    ecs.create_cluster(clusterName=cluster)
    name = unique()
    cp = ecs.create_capacity_provider(
        name=name,
        cluster=cluster,
        managedInstancesProvider={
            "infrastructureRoleArn": f"arn:aws:iam::{ACCOUNT_ID}:role/infra",
            "instanceLaunchTemplate": {
                "ec2InstanceProfileArn": f"arn:aws:iam::{ACCOUNT_ID}:instance-profile/p",
                "networkConfiguration": {"subnets": ["subnet-1"]},
            },
        },
    )["capacityProvider"]
    assert cp["type"] == "MANAGED_INSTANCES"
    assert cp["cluster"] == cluster
    assert cp["managedInstancesProvider"]["infrastructureRoleArn"].endswith(":role/infra")
    with pytest.raises(ClientError) as exc:
        ecs.delete_cluster(cluster=cluster)
    assert code(exc) == "ClientException"
    ecs.delete_capacity_provider(capacityProvider=name)
    assert ecs.delete_cluster(cluster=cluster)["cluster"]["status"] == "INACTIVE"


def test_cli_create_and_describe(server: ServerProcess) -> None:
    name = unique("cli")
    created = subprocess.run(
        [
            ".venv/bin/aws", "ecs", "create-capacity-provider", "--name", name,
            "--auto-scaling-group-provider",
            f"autoScalingGroupArn={asg_arn(name)},managedScaling={{status=ENABLED,targetCapacity=90}}",
            "--output", "json",
        ],
        env=server.env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert (
        json.loads(created.stdout)["capacityProvider"]["autoScalingGroupProvider"]["managedScaling"][
            "targetCapacity"
        ]
        == 90
    )
    described = subprocess.run(
        [
            ".venv/bin/aws", "ecs", "describe-capacity-providers",
            "--capacity-providers", "FARGATE", "FARGATE_SPOT", name, "--output", "json",
        ],
        env=server.env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert described.returncode == 0, described.stderr
    names = [cp["name"] for cp in json.loads(described.stdout)["capacityProviders"]]
    assert names == ["FARGATE", "FARGATE_SPOT", name]
