"""ECS clusters over real HTTP with boto3 and the AWS CLI: create, describe, list, update,
capacity providers, delete."""

from __future__ import annotations

import json
import subprocess
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.server import ACCOUNT_ID, REGION, ServerProcess

AWS = ".venv/bin/aws"


def unique(prefix: str = "c") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def arn(name: str) -> str:
    return f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:cluster/{name}"


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def cli(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AWS, "ecs", *args, "--output", "json"],
        env=server.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def asg_arn(name: str) -> str:
    return (
        f"arn:aws:autoscaling:{REGION}:{ACCOUNT_ID}:autoScalingGroup:"
        f"{uuid.uuid4()}:autoScalingGroupName/{name}"
    )


# -- create ----------------------------------------------------------------------------------
def test_create_cluster_returns_the_full_cluster(ecs: Any) -> None:
    name = unique()
    cluster = ecs.create_cluster(clusterName=name)["cluster"]
    assert cluster["clusterArn"] == arn(name)
    assert cluster["clusterName"] == name
    assert cluster["status"] == "ACTIVE"
    for count in (
        "registeredContainerInstancesCount",
        "runningTasksCount",
        "pendingTasksCount",
        "activeServicesCount",
    ):
        assert cluster[count] == 0
    assert cluster["statistics"] == []
    assert cluster["tags"] == []
    assert cluster["settings"] == [{"name": "containerInsights", "value": "disabled"}]
    assert cluster["capacityProviders"] == []
    assert cluster["defaultCapacityProviderStrategy"] == []
    assert "attachments" not in cluster
    assert "configuration" not in cluster


def test_create_cluster_is_idempotent_on_name(ecs: Any) -> None:
    name = unique()
    first = ecs.create_cluster(clusterName=name, tags=[{"key": "team", "value": "a"}])["cluster"]
    second = ecs.create_cluster(clusterName=name)["cluster"]
    assert second == first
    assert ecs.list_clusters()["clusterArns"].count(arn(name)) == 1


def test_create_cluster_without_a_name_creates_default(ecs: Any) -> None:
    cluster = ecs.create_cluster()["cluster"]
    assert cluster["clusterName"] == "default"
    described = ecs.describe_clusters()["clusters"]
    assert [c["clusterName"] for c in described] == ["default"]


@pytest.mark.parametrize("bad", ["has space", "a" * 256, "slash/name", "dot.name", "ünï"])
def test_create_cluster_rejects_bad_names(ecs: Any, bad: str) -> None:
    with pytest.raises(ClientError) as exc:
        ecs.create_cluster(clusterName=bad)
    assert code(exc) == "InvalidParameterException"


def test_create_cluster_accepts_longest_name(ecs: Any) -> None:
    name = "L" + uuid.uuid4().hex + "-" * (255 - 33)
    assert len(name) == 255
    assert ecs.create_cluster(clusterName=name)["cluster"]["clusterName"] == name


def test_create_cluster_with_settings_configuration_and_namespace(ecs: Any) -> None:
    name = unique()
    configuration = {
        "executeCommandConfiguration": {
            "kmsKeyId": "key-1",
            "logging": "OVERRIDE",
            "logConfiguration": {"cloudWatchLogGroupName": "/ecs/exec", "cloudWatchEncryptionEnabled": True},
        }
    }
    cluster = ecs.create_cluster(
        clusterName=name,
        settings=[{"name": "containerInsights", "value": "enhanced"}],
        configuration=configuration,
        serviceConnectDefaults={"namespace": "my-namespace"},
    )["cluster"]
    assert cluster["settings"] == [{"name": "containerInsights", "value": "enhanced"}]
    assert cluster["configuration"] == configuration
    ns = cluster["serviceConnectDefaults"]["namespace"]
    assert ns.startswith(f"arn:aws:servicediscovery:{REGION}:{ACCOUNT_ID}:namespace/ns-")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"settings": [{"name": "containerInsights", "value": "sometimes"}]},
        {"configuration": {"executeCommandConfiguration": {"logging": "OVERRIDE"}}},
        {
            "configuration": {
                "executeCommandConfiguration": {
                    "logging": "DEFAULT",
                    "logConfiguration": {"s3BucketName": "b"},
                }
            }
        },
        {"tags": [{"key": "aws:reserved", "value": "x"}]},
        {"tags": [{"key": "k" * 129, "value": "x"}]},
        {"tags": [{"key": "k", "value": "v" * 257}]},
        {"tags": [{"key": f"k{i}", "value": "v"} for i in range(51)]},
        {"tags": [{"key": "dup", "value": "1"}, {"key": "dup", "value": "2"}]},
        {"capacityProviders": ["nope-provider"]},
        {"capacityProviders": ["FARGATE", "FARGATE"]},
        {"defaultCapacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1}]},
        {
            "capacityProviders": ["FARGATE", "FARGATE_SPOT"],
            "defaultCapacityProviderStrategy": [
                {"capacityProvider": "FARGATE", "weight": 1, "base": 1},
                {"capacityProvider": "FARGATE_SPOT", "weight": 1, "base": 2},
            ],
        },
        {
            "capacityProviders": ["FARGATE", "FARGATE_SPOT"],
            "defaultCapacityProviderStrategy": [
                {"capacityProvider": "FARGATE", "weight": 0},
                {"capacityProvider": "FARGATE_SPOT", "weight": 0},
            ],
        },
    ],
)
def test_create_cluster_validates_its_members(ecs: Any, kwargs: dict[str, Any]) -> None:
    name = unique()
    with pytest.raises(ClientError) as exc:
        ecs.create_cluster(clusterName=name, **kwargs)
    assert code(exc) == "InvalidParameterException"
    assert ecs.describe_clusters(clusters=[name])["failures"][0]["reason"] == "MISSING"


def test_create_cluster_with_fargate_strategy(ecs: Any) -> None:
    name = unique()
    cluster = ecs.create_cluster(
        clusterName=name,
        capacityProviders=["FARGATE", "FARGATE_SPOT"],
        defaultCapacityProviderStrategy=[
            {"capacityProvider": "FARGATE", "weight": 1, "base": 2},
            {"capacityProvider": "FARGATE_SPOT", "weight": 3},
        ],
    )["cluster"]
    assert cluster["capacityProviders"] == ["FARGATE", "FARGATE_SPOT"]
    assert cluster["defaultCapacityProviderStrategy"] == [
        {"capacityProvider": "FARGATE", "weight": 1, "base": 2},
        {"capacityProvider": "FARGATE_SPOT", "weight": 3, "base": 0},
    ]


# -- describe --------------------------------------------------------------------------------
def test_describe_shows_included_members_only_when_asked(ecs: Any) -> None:
    name = unique()
    ecs.create_cluster(
        clusterName=name,
        tags=[{"key": "env", "value": "test"}],
        configuration={"executeCommandConfiguration": {"logging": "NONE"}},
    )
    plain = ecs.describe_clusters(clusters=[name])["clusters"][0]
    for member in ("tags", "settings", "statistics", "configuration", "attachments"):
        assert member not in plain
    assert plain["capacityProviders"] == []

    full = ecs.describe_clusters(
        clusters=[arn(name)], include=["TAGS", "SETTINGS", "STATISTICS", "CONFIGURATIONS", "ATTACHMENTS"]
    )["clusters"][0]
    assert full["tags"] == [{"key": "env", "value": "test"}]
    assert full["settings"] == [{"name": "containerInsights", "value": "disabled"}]
    assert full["configuration"] == {"executeCommandConfiguration": {"logging": "NONE"}}
    assert full["attachments"] == []
    stats = {s["name"]: s["value"] for s in full["statistics"]}
    assert stats["runningFargateTasksCount"] == "0"
    assert stats["activeEC2ServiceCount"] == "0"

    only_tags = ecs.describe_clusters(clusters=[name], include=["TAGS"])["clusters"][0]
    assert "tags" in only_tags
    assert "settings" not in only_tags


def test_describe_reports_missing_clusters_as_failures(ecs: Any) -> None:
    name = unique()
    ecs.create_cluster(clusterName=name)
    missing = unique("missing")
    foreign = f"arn:aws:ecs:eu-west-1:{ACCOUNT_ID}:cluster/{name}"
    out = ecs.describe_clusters(clusters=[name, missing, foreign])
    assert [c["clusterName"] for c in out["clusters"]] == [name]
    assert out["failures"] == [
        {"arn": arn(missing), "reason": "MISSING"},
        {"arn": foreign, "reason": "MISSING"},
    ]


def test_describe_accepts_at_most_100_clusters(ecs: Any) -> None:
    with pytest.raises(ClientError) as exc:
        ecs.describe_clusters(clusters=[f"c{i}" for i in range(101)])
    assert code(exc) == "InvalidParameterException"


# -- list ------------------------------------------------------------------------------------
def test_list_clusters_paginates(ecs: Any) -> None:
    prefix = unique("page")
    names = [f"{prefix}-{i:02d}" for i in range(7)]
    for n in names:
        ecs.create_cluster(clusterName=n)
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        kwargs: dict[str, Any] = {"maxResults": 2}
        if token:
            kwargs["nextToken"] = token
        out = ecs.list_clusters(**kwargs)
        assert len(out["clusterArns"]) <= 2
        seen.extend(out["clusterArns"])
        pages += 1
        token = out.get("nextToken")
        if not token:
            break
    assert pages >= 4
    assert len(seen) == len(set(seen))
    assert [a for a in seen if f"/{prefix}-" in a] == [arn(n) for n in names]


def test_list_clusters_paginator(ecs: Any) -> None:
    prefix = unique("pgr")
    for i in range(5):
        ecs.create_cluster(clusterName=f"{prefix}-{i}")
    paginator = ecs.get_paginator("list_clusters")
    pages = list(paginator.paginate(PaginationConfig={"PageSize": 2}))
    arns = [a for p in pages for a in p["clusterArns"]]
    assert all(len(p["clusterArns"]) <= 2 for p in pages)
    assert [a for a in arns if f"/{prefix}-" in a] == [arn(f"{prefix}-{i}") for i in range(5)]


@pytest.mark.parametrize("kwargs", [{"maxResults": 0}, {"maxResults": 101}, {"nextToken": "garbage!"}])
def test_list_clusters_rejects_bad_paging(ecs: Any, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ClientError) as exc:
        ecs.list_clusters(**kwargs)
    assert code(exc) == "InvalidParameterException"


def test_list_clusters_rejects_another_operations_token(ecs: Any) -> None:
    token = ecs.list_account_settings(effectiveSettings=True, maxResults=1)["nextToken"]
    with pytest.raises(ClientError) as exc:
        ecs.list_clusters(nextToken=token)
    assert code(exc) == "InvalidParameterException"


# -- update ----------------------------------------------------------------------------------
def test_update_cluster_settings_and_configuration(ecs: Any) -> None:
    name = unique()
    ecs.create_cluster(clusterName=name)
    updated = ecs.update_cluster_settings(
        cluster=name, settings=[{"name": "containerInsights", "value": "enabled"}]
    )["cluster"]
    assert updated["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    updated = ecs.update_cluster(
        cluster=arn(name),
        configuration={"managedStorageConfiguration": {"kmsKeyId": "k1"}},
        serviceConnectDefaults={"namespace": "ns-a"},
    )["cluster"]
    assert updated["configuration"] == {"managedStorageConfiguration": {"kmsKeyId": "k1"}}
    assert "serviceConnectDefaults" in updated
    updated = ecs.update_cluster(cluster=name, serviceConnectDefaults={"namespace": ""})["cluster"]
    assert "serviceConnectDefaults" not in updated
    described = ecs.describe_clusters(clusters=[name], include=["SETTINGS", "CONFIGURATIONS"])["clusters"][0]
    assert described["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    assert described["configuration"] == {"managedStorageConfiguration": {"kmsKeyId": "k1"}}


def test_update_unknown_cluster(ecs: Any) -> None:
    with pytest.raises(ClientError) as exc:
        ecs.update_cluster_settings(
            cluster=unique(), settings=[{"name": "containerInsights", "value": "enabled"}]
        )
    assert code(exc) == "ClusterNotFoundException"
    with pytest.raises(ClientError) as exc:
        ecs.update_cluster(cluster=unique(), settings=[])
    assert code(exc) == "ClusterNotFoundException"


def test_update_cluster_settings_rejects_bad_value(ecs: Any) -> None:
    name = unique()
    ecs.create_cluster(clusterName=name)
    with pytest.raises(ClientError) as exc:
        ecs.update_cluster_settings(cluster=name, settings=[{"name": "containerInsights", "value": "on"}])
    assert code(exc) == "InvalidParameterException"


# -- capacity providers on clusters ----------------------------------------------------------
def test_put_cluster_capacity_providers(ecs: Any) -> None:
    name = unique()
    ecs.create_cluster(clusterName=name)
    cluster = ecs.put_cluster_capacity_providers(
        cluster=name,
        capacityProviders=["FARGATE_SPOT"],
        defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT", "weight": 1}],
    )["cluster"]
    assert cluster["capacityProviders"] == ["FARGATE_SPOT"]
    assert cluster["defaultCapacityProviderStrategy"] == [
        {"capacityProvider": "FARGATE_SPOT", "weight": 1, "base": 0}
    ]
    cleared = ecs.put_cluster_capacity_providers(
        cluster=name, capacityProviders=[], defaultCapacityProviderStrategy=[]
    )["cluster"]
    assert cleared["capacityProviders"] == []


def test_asg_provider_serves_one_cluster_and_mixing_with_fargate_is_refused(ecs: Any) -> None:
    provider = unique("cp")
    ecs.create_capacity_provider(
        name=provider,
        autoScalingGroupProvider={
            "autoScalingGroupArn": asg_arn(provider),
            "managedScaling": {"status": "ENABLED", "targetCapacity": 80},
        },
    )
    first, second = unique(), unique()
    cluster = ecs.create_cluster(clusterName=first, capacityProviders=[provider])["cluster"]
    assert cluster["capacityProviders"] == [provider]
    described = ecs.describe_clusters(clusters=[first], include=["ATTACHMENTS"])["clusters"][0]
    assert described["attachmentsStatus"] == "UPDATE_COMPLETE"
    [attachment] = described["attachments"]
    assert attachment["type"] == "as_policy"
    assert {"name": "capacityProviderName", "value": provider} in attachment["details"]

    ecs.create_cluster(clusterName=second)
    with pytest.raises(ClientError) as exc:
        ecs.put_cluster_capacity_providers(
            cluster=second, capacityProviders=[provider], defaultCapacityProviderStrategy=[]
        )
    assert code(exc) == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        ecs.put_cluster_capacity_providers(
            cluster=first,
            capacityProviders=[provider, "FARGATE"],
            defaultCapacityProviderStrategy=[
                {"capacityProvider": provider, "weight": 1},
                {"capacityProvider": "FARGATE", "weight": 1},
            ],
        )
    assert code(exc) == "InvalidParameterException"


def test_put_cluster_capacity_providers_unknown_cluster(ecs: Any) -> None:
    with pytest.raises(ClientError) as exc:
        ecs.put_cluster_capacity_providers(
            cluster=unique(), capacityProviders=[], defaultCapacityProviderStrategy=[]
        )
    assert code(exc) == "ClusterNotFoundException"


# -- delete ----------------------------------------------------------------------------------
def test_delete_cluster_marks_it_inactive(ecs: Any) -> None:
    name = unique()
    ecs.create_cluster(clusterName=name)
    deleted = ecs.delete_cluster(cluster=arn(name))["cluster"]
    assert deleted["status"] == "INACTIVE"
    assert deleted["clusterArn"] == arn(name)
    assert arn(name) not in ecs.list_clusters()["clusterArns"]
    assert ecs.describe_clusters(clusters=[name])["clusters"][0]["status"] == "INACTIVE"
    for call in (
        lambda: ecs.delete_cluster(cluster=name),
        lambda: ecs.update_cluster_settings(
            cluster=name, settings=[{"name": "containerInsights", "value": "enabled"}]
        ),
        lambda: ecs.list_tags_for_resource(resourceArn=arn(name)),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert code(exc) == "ClusterNotFoundException"
    # The name can be used again, for a fresh cluster.
    again = ecs.create_cluster(clusterName=name, tags=[{"key": "round", "value": "2"}])["cluster"]
    assert again["status"] == "ACTIVE"
    assert again["tags"] == [{"key": "round", "value": "2"}]


def test_delete_unknown_cluster(ecs: Any) -> None:
    with pytest.raises(ClientError) as exc:
        ecs.delete_cluster(cluster=unique())
    assert code(exc) == "ClusterNotFoundException"


# -- the AWS CLI -----------------------------------------------------------------------------
def test_cli_cluster_lifecycle(server: ServerProcess) -> None:
    name = unique("cli")
    created = cli(server, "create-cluster", "--cluster-name", name, "--tags", "key=owner,value=cli")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["cluster"]["clusterArn"] == arn(name)

    described = cli(server, "describe-clusters", "--clusters", name, "--include", "TAGS")
    assert described.returncode == 0, described.stderr
    assert json.loads(described.stdout)["clusters"][0]["tags"] == [{"key": "owner", "value": "cli"}]

    listed = cli(server, "list-clusters", "--page-size", "1")
    assert listed.returncode == 0, listed.stderr
    assert arn(name) in json.loads(listed.stdout)["clusterArns"]

    deleted = cli(server, "delete-cluster", "--cluster", name)
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(deleted.stdout)["cluster"]["status"] == "INACTIVE"

    failed = cli(
        server,
        "update-cluster-settings",
        "--cluster",
        name,
        "--settings",
        "name=containerInsights,value=enabled",
    )
    assert failed.returncode != 0
    assert "ClusterNotFoundException" in failed.stderr
