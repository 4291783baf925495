"""Container instances over real HTTP with boto3: register (as an agent does), describe, list
with the query language, drain, deregister, tags, and the cluster's instance count."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.api.ecs.task_support import (
    agent_client,
    code,
    make_cluster,
    poll,
    register_instance,
    register_td,
    resources,
    unique,
)
from tests.support.server import ACCOUNT_ID, REGION, ServerProcess

ARN = re.compile(rf"^arn:aws:ecs:{REGION}:{ACCOUNT_ID}:container-instance/(?P<cluster>[^/]+)/[0-9a-f]{{32}}$")


def _cluster(ecs: Any, name: str) -> dict[str, Any]:
    c: dict[str, Any] = ecs.describe_clusters(clusters=[name])["clusters"][0]
    return c


def test_register_returns_the_full_instance(ecs: Any) -> None:
    cluster = make_cluster(ecs)
    ci = register_instance(
        ecs,
        cluster,
        cpu=4096,
        memory=7680,
        attributes=[{"name": "color", "value": "blue"}, {"name": "ecs.cpu-architecture", "value": "x86_64"}],
        tags=[{"key": "team", "value": "a"}],
    )
    m = ARN.match(ci["containerInstanceArn"])
    assert m and m["cluster"] == cluster
    assert re.fullmatch(r"i-[0-9a-f]{17}", ci["ec2InstanceId"])
    assert ci["status"] == "ACTIVE"
    assert ci["agentConnected"] is True
    assert ci["runningTasksCount"] == 0 and ci["pendingTasksCount"] == 0
    assert ci["version"] == 1
    assert ci["versionInfo"] == {"agentVersion": "0.1.0", "agentHash": "abc", "dockerVersion": "24.0"}
    registered = {r["name"]: r for r in ci["registeredResources"]}
    assert registered["CPU"]["integerValue"] == 4096
    assert registered["MEMORY"]["integerValue"] == 7680
    assert registered["PORTS"]["stringSetValue"] == ["22"]
    assert ci["remainingResources"] == ci["registeredResources"]
    attrs = {a["name"]: a.get("value") for a in ci["attributes"]}
    assert attrs["color"] == "blue"
    assert attrs["ecs.os-type"] == "linux"
    assert attrs["ecs.cpu-architecture"] == "x86_64"
    assert ci["tags"] == [{"key": "team", "value": "a"}]
    assert _cluster(ecs, cluster)["registeredContainerInstancesCount"] == 1


def test_identity_document_supplies_instance_id_and_zone(ecs: Any) -> None:
    cluster = make_cluster(ecs)
    doc = json.dumps(
        {"instanceId": "i-0abc1234def567890", "availabilityZone": "us-east-1b", "instanceType": "m5.large"}
    )
    ci = register_instance(ecs, cluster, instanceIdentityDocument=doc)
    assert ci["ec2InstanceId"] == "i-0abc1234def567890"
    attrs = {a["name"]: a.get("value") for a in ci["attributes"]}
    assert attrs["ecs.availability-zone"] == "us-east-1b"
    assert attrs["ecs.instance-type"] == "m5.large"
    with pytest.raises(ClientError) as exc:
        register_instance(ecs, cluster, instanceIdentityDocument="not json")
    assert code(exc) == "InvalidParameterException"


def test_register_requires_cpu_and_memory_and_an_active_cluster(ecs: Any) -> None:
    cluster = make_cluster(ecs)
    with pytest.raises(ClientError) as exc:
        ecs.register_container_instance(
            cluster=cluster, totalResources=[{"name": "CPU", "type": "INTEGER", "integerValue": 1024}]
        )
    assert code(exc) == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        register_instance(ecs, unique("nope"))
    assert code(exc) == "ClusterNotFoundException"


def test_reregistration_keeps_identity_and_recomputes_remaining(ecs: Any) -> None:
    cluster = make_cluster(ecs)
    ci = register_instance(ecs, cluster, cpu=2048, memory=4096)
    td = register_td(ecs)
    ecs.run_task(cluster=cluster, taskDefinition=td["taskDefinitionArn"])
    again = ecs.register_container_instance(
        cluster=cluster,
        containerInstanceArn=ci["containerInstanceArn"],
        totalResources=resources(4096, 8192),
        versionInfo={"agentVersion": "0.2.0"},
    )["containerInstance"]
    assert again["containerInstanceArn"] == ci["containerInstanceArn"]
    assert again["ec2InstanceId"] == ci["ec2InstanceId"]
    assert again["registeredAt"] == ci["registeredAt"]
    assert again["versionInfo"] == {"agentVersion": "0.2.0"}
    remaining = {r["name"]: r for r in again["remainingResources"]}
    assert remaining["CPU"]["integerValue"] == 4096 - 256
    assert remaining["MEMORY"]["integerValue"] == 8192 - 512
    assert again["pendingTasksCount"] == 1
    assert _cluster(ecs, cluster)["registeredContainerInstancesCount"] == 1


def test_describe_reports_missing_and_includes_tags_and_health(ecs: Any) -> None:
    cluster = make_cluster(ecs)
    ci = register_instance(ecs, cluster, tags=[{"key": "k", "value": "v"}])
    ghost = "0123456789abcdef0123456789abcdef"
    answer = ecs.describe_container_instances(
        cluster=cluster, containerInstances=[ci["containerInstanceArn"], ghost]
    )
    assert [c["containerInstanceArn"] for c in answer["containerInstances"]] == [ci["containerInstanceArn"]]
    assert "tags" not in answer["containerInstances"][0]
    assert "healthStatus" not in answer["containerInstances"][0]
    assert answer["failures"] == [
        {
            "arn": f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:container-instance/{cluster}/{ghost}",
            "reason": "MISSING",
        }
    ]
    full = ecs.describe_container_instances(
        cluster=cluster,
        containerInstances=[ci["containerInstanceArn"]],
        include=["TAGS", "CONTAINER_INSTANCE_HEALTH"],
    )["containerInstances"][0]
    assert full["tags"] == [{"key": "k", "value": "v"}]
    assert full["healthStatus"]["overallStatus"] == "OK"
    assert full["healthStatus"]["details"][0]["type"] == "CONTAINER_RUNTIME"


def test_custom_attributes_show_in_describe_and_filter(ecs: Any) -> None:
    cluster = make_cluster(ecs)
    a = register_instance(ecs, cluster)
    b = register_instance(ecs, cluster)
    ecs.put_attributes(
        cluster=cluster,
        attributes=[{"name": "stack", "value": "prod", "targetId": a["containerInstanceArn"]}],
    )
    described = ecs.describe_container_instances(
        cluster=cluster, containerInstances=[a["containerInstanceArn"]]
    )
    attrs = {x["name"]: x.get("value") for x in described["containerInstances"][0]["attributes"]}
    assert attrs["stack"] == "prod"
    listed = ecs.list_container_instances(cluster=cluster, filter="attribute:stack == prod")
    assert listed["containerInstanceArns"] == [a["containerInstanceArn"]]
    listed = ecs.list_container_instances(cluster=cluster, filter="not attribute:stack exists")
    assert listed["containerInstanceArns"] == [b["containerInstanceArn"]]


def test_list_filters_by_query_and_status_and_paginates(ecs: Any) -> None:
    cluster = make_cluster(ecs)
    small = register_instance(ecs, cluster, attributes=[{"name": "size", "value": "small"}])
    big = [register_instance(ecs, cluster, attributes=[{"name": "size", "value": "big"}]) for _ in range(3)]
    everything = ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]
    assert sorted(everything) == sorted(
        [small["containerInstanceArn"], *(b["containerInstanceArn"] for b in big)]
    )
    assert ecs.list_container_instances(cluster=cluster, filter="attribute:size == small")[
        "containerInstanceArns"
    ] == [small["containerInstanceArn"]]
    ids = ecs.list_container_instances(
        cluster=cluster, filter=f"ec2InstanceId in [{big[0]['ec2InstanceId']}]"
    )
    assert ids["containerInstanceArns"] == [big[0]["containerInstanceArn"]]
    seen: list[str] = []
    token = None
    while True:
        kwargs: dict[str, Any] = {"cluster": cluster, "maxResults": 3}
        if token:
            kwargs["nextToken"] = token
        page = ecs.list_container_instances(**kwargs)
        assert len(page["containerInstanceArns"]) <= 3
        seen.extend(page["containerInstanceArns"])
        token = page.get("nextToken")
        if not token:
            break
    assert seen == everything
    paginated = [
        arn
        for p in ecs.get_paginator("list_container_instances").paginate(
            cluster=cluster, PaginationConfig={"PageSize": 1}
        )
        for arn in p["containerInstanceArns"]
    ]
    assert paginated == everything
    with pytest.raises(ClientError) as exc:
        ecs.list_container_instances(cluster=cluster, filter="attribute:size ==")
    assert code(exc) == "InvalidParameterException"
    ecs.update_container_instances_state(
        cluster=cluster, containerInstances=[small["containerInstanceArn"]], status="DRAINING"
    )
    assert ecs.list_container_instances(cluster=cluster, status="DRAINING")["containerInstanceArns"] == [
        small["containerInstanceArn"]
    ]
    assert (
        small["containerInstanceArn"]
        not in ecs.list_container_instances(cluster=cluster, status="ACTIVE")["containerInstanceArns"]
    )


def test_update_state_drains_and_reactivates(ecs: Any) -> None:
    cluster = make_cluster(ecs)
    ci = register_instance(ecs, cluster)
    ghost = "0123456789abcdef0123456789abcdef"
    answer = ecs.update_container_instances_state(
        cluster=cluster, containerInstances=[ci["containerInstanceArn"], ghost], status="DRAINING"
    )
    assert answer["containerInstances"][0]["status"] == "DRAINING"
    assert answer["containerInstances"][0]["version"] == 2
    assert answer["failures"][0]["reason"] == "MISSING"
    td = register_td(ecs)
    ran = ecs.run_task(cluster=cluster, taskDefinition=td["family"])
    assert ran["tasks"] == []  # ECS never places on a draining instance
    again = ecs.update_container_instances_state(
        cluster=cluster, containerInstances=[ci["containerInstanceArn"]], status="ACTIVE"
    )
    assert again["containerInstances"][0]["status"] == "ACTIVE"
    with pytest.raises(ClientError) as exc:
        ecs.update_container_instances_state(
            cluster=cluster, containerInstances=[ci["containerInstanceArn"]], status="REGISTERING"
        )
    assert code(exc) == "InvalidParameterException"


def test_deregister_refuses_with_tasks_unless_forced(ecs: Any) -> None:
    cluster = make_cluster(ecs)
    ci = register_instance(ecs, cluster)
    td = register_td(ecs)
    task = ecs.run_task(cluster=cluster, taskDefinition=td["family"])["tasks"][0]
    with pytest.raises(ClientError) as exc:
        ecs.deregister_container_instance(cluster=cluster, containerInstance=ci["containerInstanceArn"])
    assert code(exc) == "InvalidParameterException"
    gone = ecs.deregister_container_instance(
        cluster=cluster, containerInstance=ci["containerInstanceArn"], force=True
    )["containerInstance"]
    assert gone["status"] == "INACTIVE"
    assert gone["agentConnected"] is False
    stopped = ecs.describe_tasks(cluster=cluster, tasks=[task["taskArn"]])["tasks"][0]
    assert stopped["lastStatus"] == "STOPPED"
    assert stopped["desiredStatus"] == "STOPPED"
    # still describable, INACTIVE, and no longer counted or listed
    described = ecs.describe_container_instances(
        cluster=cluster, containerInstances=[ci["containerInstanceArn"]]
    )
    assert described["containerInstances"][0]["status"] == "INACTIVE"
    assert ecs.list_container_instances(cluster=cluster)["containerInstanceArns"] == []
    c = _cluster(ecs, cluster)
    assert c["registeredContainerInstancesCount"] == 0
    assert c["pendingTasksCount"] == 0 and c["runningTasksCount"] == 0
    ecs.delete_cluster(cluster=cluster)
    with pytest.raises(ClientError) as exc:
        ecs.deregister_container_instance(
            cluster=unique("nope"), containerInstance=ci["containerInstanceArn"]
        )
    assert code(exc) == "ClusterNotFoundException"


def test_deregister_without_tasks_and_unknown_instance(ecs: Any) -> None:
    cluster = make_cluster(ecs)
    ci = register_instance(ecs, cluster)
    assert (
        ecs.deregister_container_instance(cluster=cluster, containerInstance=ci["containerInstanceArn"])[
            "containerInstance"
        ]["status"]
        == "INACTIVE"
    )
    with pytest.raises(ClientError) as exc:
        ecs.deregister_container_instance(cluster=cluster, containerInstance=ci["containerInstanceArn"])
    assert code(exc) == "InvalidParameterException"


def test_delete_cluster_refuses_while_instances_are_registered(ecs: Any) -> None:
    cluster = make_cluster(ecs)
    ci = register_instance(ecs, cluster)
    with pytest.raises(ClientError) as exc:
        ecs.delete_cluster(cluster=cluster)
    assert code(exc) == "ClusterContainsContainerInstancesException"
    ecs.deregister_container_instance(cluster=cluster, containerInstance=ci["containerInstanceArn"])
    assert ecs.delete_cluster(cluster=cluster)["cluster"]["status"] == "INACTIVE"


def test_tags_on_container_instances(ecs: Any) -> None:
    cluster = make_cluster(ecs)
    arn = register_instance(ecs, cluster)["containerInstanceArn"]
    ecs.tag_resource(resourceArn=arn, tags=[{"key": "a", "value": "1"}])
    assert ecs.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "a", "value": "1"}]
    ecs.untag_resource(resourceArn=arn, tagKeys=["a"])
    assert ecs.list_tags_for_resource(resourceArn=arn)["tags"] == []


def test_poll_is_the_heartbeat_and_unknown_instances_are_refused(server: ServerProcess, ecs: Any) -> None:
    cluster = make_cluster(ecs)
    ci = register_instance(ecs, cluster)
    agent = agent_client(server)
    answer = poll(agent, cluster, ci["containerInstanceArn"])
    assert answer["instanceStatus"] == "ACTIVE"
    assert answer["tasks"] == []
    assert answer["heartbeatIntervalSeconds"] >= 1
    with pytest.raises(ClientError) as exc:
        poll(agent, cluster, "0123456789abcdef0123456789abcdef")
    assert code(exc) == "ClientException"
