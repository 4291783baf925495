"""ECS tagging over real HTTP: TagResource, UntagResource, ListTagsForResource on clusters,
capacity providers and task definitions, with ECS's tag rules and error codes."""

from __future__ import annotations

import json
import subprocess
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.server import ACCOUNT_ID, REGION, ServerProcess


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def ecs_arn(resource: str) -> str:
    return f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:{resource}"


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


@pytest.fixture()
def cluster_arn(ecs: Any) -> str:
    arn: str = ecs.create_cluster(clusterName=unique("tagc"))["cluster"]["clusterArn"]
    return arn


def test_tag_list_untag_cluster(ecs: Any, cluster_arn: str) -> None:
    assert ecs.list_tags_for_resource(resourceArn=cluster_arn)["tags"] == []
    ecs.tag_resource(resourceArn=cluster_arn, tags=[{"key": "a", "value": "1"}, {"key": "b", "value": "2"}])
    ecs.tag_resource(
        resourceArn=cluster_arn, tags=[{"key": "a", "value": "changed"}, {"key": "c", "value": ""}]
    )
    assert ecs.list_tags_for_resource(resourceArn=cluster_arn)["tags"] == [
        {"key": "a", "value": "changed"},
        {"key": "b", "value": "2"},
        {"key": "c", "value": ""},
    ]
    ecs.untag_resource(resourceArn=cluster_arn, tagKeys=["b", "not-there"])
    assert ecs.list_tags_for_resource(resourceArn=cluster_arn)["tags"] == [
        {"key": "a", "value": "changed"},
        {"key": "c", "value": ""},
    ]
    name = cluster_arn.rsplit("/", 1)[1]
    described = ecs.describe_clusters(clusters=[name], include=["TAGS"])["clusters"][0]
    assert described["tags"] == [{"key": "a", "value": "changed"}, {"key": "c", "value": ""}]


def test_tag_capacity_provider(ecs: Any) -> None:
    name = unique("tagcp")
    asg = (
        f"arn:aws:autoscaling:{REGION}:{ACCOUNT_ID}:autoScalingGroup:{uuid.uuid4()}"
        f":autoScalingGroupName/{name}"
    )
    arn = ecs.create_capacity_provider(name=name, autoScalingGroupProvider={"autoScalingGroupArn": asg})[
        "capacityProvider"
    ]["capacityProviderArn"]
    ecs.tag_resource(resourceArn=arn, tags=[{"key": "owner", "value": "ops"}])
    assert ecs.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "owner", "value": "ops"}]
    ecs.untag_resource(resourceArn=arn, tagKeys=["owner"])
    assert ecs.list_tags_for_resource(resourceArn=arn)["tags"] == []


def test_tag_task_definition(ecs: Any) -> None:
    family = unique("tagtd")
    td = ecs.register_task_definition(
        family=family,
        containerDefinitions=[{"name": "app", "image": "nginx:latest", "memory": 128}],
        tags=[{"key": "initial", "value": "yes"}],
    )["taskDefinition"]
    arn = td["taskDefinitionArn"]
    assert ecs.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "initial", "value": "yes"}]
    ecs.tag_resource(resourceArn=arn, tags=[{"key": "later", "value": "too"}])
    ecs.untag_resource(resourceArn=arn, tagKeys=["initial"])
    assert ecs.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "later", "value": "too"}]
    with pytest.raises(ClientError) as exc:
        ecs.list_tags_for_resource(resourceArn=ecs_arn(f"task-definition/{family}:99"))
    assert code(exc) == "ResourceNotFoundException"


@pytest.mark.parametrize(
    "tags",
    [
        [{"key": "aws:owner", "value": "x"}],
        [{"key": "AWS:owner", "value": "x"}],
        [{"key": "k", "value": "aws:thing"}],
        [{"key": "k" * 129, "value": "x"}],
        [{"key": "k", "value": "v" * 257}],
        [{"key": "bad#char", "value": "x"}],
        [{"key": "same", "value": "1"}, {"key": "same", "value": "2"}],
        [{"key": f"k{i}", "value": "v"} for i in range(51)],
    ],
)
def test_tag_rules(ecs: Any, cluster_arn: str, tags: list[dict[str, str]]) -> None:
    with pytest.raises(ClientError) as exc:
        ecs.tag_resource(resourceArn=cluster_arn, tags=tags)
    assert code(exc) == "InvalidParameterException"
    assert ecs.list_tags_for_resource(resourceArn=cluster_arn)["tags"] == []


def test_tag_limit_counts_existing_tags(ecs: Any, cluster_arn: str) -> None:
    ecs.tag_resource(resourceArn=cluster_arn, tags=[{"key": f"k{i}", "value": "v"} for i in range(50)])
    # Overwriting an existing key stays within the limit; a 51st key does not.
    ecs.tag_resource(resourceArn=cluster_arn, tags=[{"key": "k0", "value": "new"}])
    with pytest.raises(ClientError) as exc:
        ecs.tag_resource(resourceArn=cluster_arn, tags=[{"key": "one-more", "value": "v"}])
    assert code(exc) == "InvalidParameterException"
    assert len(ecs.list_tags_for_resource(resourceArn=cluster_arn)["tags"]) == 50


def test_untag_reserved_key_is_refused(ecs: Any, cluster_arn: str) -> None:
    with pytest.raises(ClientError) as exc:
        ecs.untag_resource(resourceArn=cluster_arn, tagKeys=["aws:cloudformation:stack-name"])
    assert code(exc) == "InvalidParameterException"


@pytest.mark.parametrize(
    "arn",
    [
        "not-an-arn",
        f"arn:aws:s3:::bucket-{uuid.uuid4().hex[:6]}",
        ecs_arn("widget/thing"),
        ecs_arn("cluster/"),
        ecs_arn("task-definition/no-revision"),
        f"arn:aws:ecs:eu-west-1:{ACCOUNT_ID}:cluster/elsewhere",
        f"arn:aws:ecs:{REGION}:999999999999:cluster/someone-else",
        ecs_arn("capacity-provider/FARGATE"),
    ],
)
def test_bad_arns_are_invalid_parameters(ecs: Any, arn: str) -> None:
    for call in (
        lambda: ecs.list_tags_for_resource(resourceArn=arn),
        lambda: ecs.tag_resource(resourceArn=arn, tags=[{"key": "k", "value": "v"}]),
        lambda: ecs.untag_resource(resourceArn=arn, tagKeys=["k"]),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert code(exc) == "InvalidParameterException"


def test_unknown_resources(ecs: Any) -> None:
    cases = [
        (ecs_arn(f"cluster/{unique('nocluster')}"), "ClusterNotFoundException"),
        (ecs_arn(f"capacity-provider/{unique('nocp')}"), "ResourceNotFoundException"),
        (ecs_arn(f"task-definition/{unique('notd')}:1"), "ResourceNotFoundException"),
        (ecs_arn(f"service/{unique('c')}/{unique('s')}"), "ResourceNotFoundException"),
    ]
    for arn, expected in cases:
        with pytest.raises(ClientError) as exc:
            ecs.list_tags_for_resource(resourceArn=arn)
        assert code(exc) == expected, arn
        with pytest.raises(ClientError) as exc:
            ecs.tag_resource(resourceArn=arn, tags=[{"key": "k", "value": "v"}])
        assert code(exc) == expected, arn
        with pytest.raises(ClientError) as exc:
            ecs.untag_resource(resourceArn=arn, tagKeys=["k"])
        assert code(exc) == expected, arn


def test_cli_tagging(server: ServerProcess, cluster_arn: str) -> None:
    def aws(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [".venv/bin/aws", "ecs", *args, "--output", "json"],
            env=server.env(), capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    tagged = aws(
        "tag-resource", "--resource-arn", cluster_arn, "--tags", "key=env,value=prod", "key=tier,value=web"
    )
    assert tagged.returncode == 0, tagged.stderr
    listed = aws("list-tags-for-resource", "--resource-arn", cluster_arn)
    assert json.loads(listed.stdout)["tags"] == [
        {"key": "env", "value": "prod"},
        {"key": "tier", "value": "web"},
    ]
    untagged = aws("untag-resource", "--resource-arn", cluster_arn, "--tag-keys", "env")
    assert untagged.returncode == 0, untagged.stderr
    listed = aws("list-tags-for-resource", "--resource-arn", cluster_arn)
    assert json.loads(listed.stdout)["tags"] == [{"key": "tier", "value": "web"}]
    bad = aws("tag-resource", "--resource-arn", cluster_arn, "--tags", "key=aws:x,value=1")
    assert bad.returncode != 0
    assert "InvalidParameterException" in bad.stderr
