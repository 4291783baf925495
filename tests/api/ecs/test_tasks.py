"""Tasks over real HTTP with boto3 (and the AWS CLI once): RunTask, StartTask, StopTask,
DescribeTasks, ListTasks, placement failures, no over-commit under concurrency, cluster counts
and DeleteCluster's refusals, waiters. A fake agent drives the lifecycle over the
stowage-agent API."""

from __future__ import annotations

import json
import subprocess
import threading
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.api.ecs.task_support import (
    agent_client,
    code,
    describe,
    make_cluster,
    poll,
    register_instance,
    register_td,
    report,
    run_to_running,
    unique,
)
from tests.support.server import ACCOUNT_ID, REGION, ServerProcess

AWS = ".venv/bin/aws"


def _remaining(ecs: Any, cluster: str, arn: str) -> dict[str, Any]:
    ci = ecs.describe_container_instances(cluster=cluster, containerInstances=[arn])["containerInstances"][0]
    return {
        r["name"]: r["stringSetValue"] if r["type"] == "STRINGSET" else r["integerValue"]
        for r in ci["remainingResources"]
    } | {
        "running": ci["runningTasksCount"],
        "pending": ci["pendingTasksCount"],
    }


def test_run_task_returns_the_full_task(ecs: Any) -> None:
    cluster = make_cluster(ecs)
    ci = register_instance(ecs, cluster)
    td = register_td(ecs, tags=[{"key": "from", "value": "td"}])
    answer = ecs.run_task(
        cluster=cluster,
        taskDefinition=f"{td['family']}:{td['revision']}",
        startedBy="tester",
        tags=[{"key": "mine", "value": "1"}],
        propagateTags="TASK_DEFINITION",
        enableExecuteCommand=True,
        overrides={
            "containerOverrides": [
                {
                    "name": "app",
                    "command": ["echo", "hi"],
                    "environment": [{"name": "A", "value": "1"}],
                    "memory": 300,
                }
            ]
        },
    )
    assert answer["failures"] == []
    [task] = answer["tasks"]
    tid = task["taskArn"].rsplit("/", 1)[1]
    assert task["taskArn"] == f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:task/{cluster}/{tid}"
    assert len(tid) == 32
    assert task["clusterArn"].endswith(f":cluster/{cluster}")
    assert task["taskDefinitionArn"] == td["taskDefinitionArn"]
    assert task["containerInstanceArn"] == ci["containerInstanceArn"]
    assert task["lastStatus"] == "PENDING"
    assert task["desiredStatus"] == "RUNNING"
    assert task["launchType"] == "EC2"
    assert task["group"] == f"family:{td['family']}"
    assert task["startedBy"] == "tester"
    assert task["enableExecuteCommand"] is True
    assert task["cpu"] == "256" and task["memory"] == "300"
    assert task["version"] == 1
    assert task["overrides"]["containerOverrides"][0]["command"] == ["echo", "hi"]
    assert sorted(t["key"] for t in task["tags"]) == ["from", "mine"]
    assert "createdAt" in task and "connectivityAt" in task
    [container] = task["containers"]
    assert container["name"] == "app"
    assert container["lastStatus"] == "PENDING"
    assert container["memory"] == "300"
    assert container["containerArn"].startswith(
        f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:container/{cluster}/{tid}/"
    )
    left = _remaining(ecs, cluster, ci["containerInstanceArn"])
    assert left["CPU"] == 2048 - 256 and left["MEMORY"] == 4096 - 300
    assert left["pending"] == 1
    c = ecs.describe_clusters(clusters=[cluster], include=["STATISTICS"])["clusters"][0]
    assert c["pendingTasksCount"] == 1
    stats = {s["name"]: s["value"] for s in c["statistics"]}
    assert stats["pendingEC2TasksCount"] == "1"


def test_run_task_count_and_task_level_sizes(ecs: Any) -> None:
    cluster = make_cluster(ecs)
    ci = register_instance(ecs, cluster, cpu=1024, memory=2048)
    td = register_td(ecs, cpu="512", memory="1024")
    answer = ecs.run_task(cluster=cluster, taskDefinition=td["family"], count=3, group="batch")
    assert len(answer["tasks"]) == 2
    assert {t["group"] for t in answer["tasks"]} == {"batch"}
    assert answer["failures"] == [{"arn": ci["containerInstanceArn"], "reason": "RESOURCE:CPU"}]
    left = _remaining(ecs, cluster, ci["containerInstanceArn"])
    assert left["CPU"] == 0 and left["MEMORY"] == 0


@pytest.mark.parametrize(
    ("td_kwargs", "reason"),
    [
        ({"containerDefinitions": [{"name": "a", "image": "x", "cpu": 4096, "memory": 64}]}, "RESOURCE:CPU"),
        (
            {"containerDefinitions": [{"name": "a", "image": "x", "memoryReservation": 9000}]},
            "RESOURCE:MEMORY",
        ),
        (
            {
                "containerDefinitions": [
                    {
                        "name": "a",
                        "image": "x",
                        "memory": 64,
                        "portMappings": [{"containerPort": 80, "hostPort": 22}],
                    }
                ]
            },
            "RESOURCE:PORTS",
        ),
    ],
)
def test_placement_failures_carry_ecs_reasons(ecs: Any, td_kwargs: dict[str, Any], reason: str) -> None:
    cluster = make_cluster(ecs)
    ci = register_instance(ecs, cluster)
    td = register_td(ecs, **td_kwargs)
    answer = ecs.run_task(cluster=cluster, taskDefinition=td["family"])
    assert answer["tasks"] == []
    assert answer["failures"] == [{"arn": ci["containerInstanceArn"], "reason": reason}]


def test_fixed_host_ports_are_reserved_and_released(server: ServerProcess, ecs: Any) -> None:
    cluster = make_cluster(ecs)
    ci = register_instance(ecs, cluster)
    td = register_td(
        ecs,
        containerDefinitions=[
            {
                "name": "web",
                "image": "x",
                "memory": 64,
                "portMappings": [{"containerPort": 80, "hostPort": 8080}],
            }
        ],
    )
    first = ecs.run_task(cluster=cluster, taskDefinition=td["family"])["tasks"][0]
    assert "8080" in _remaining(ecs, cluster, ci["containerInstanceArn"])["PORTS"]
    second = ecs.run_task(cluster=cluster, taskDefinition=td["family"])
    assert second["failures"] == [{"arn": ci["containerInstanceArn"], "reason": "RESOURCE:PORTS"}]
    agent = agent_client(server)
    report(agent, cluster, ci["containerInstanceArn"], first["taskArn"], "STOPPED")
    assert _remaining(ecs, cluster, ci["containerInstanceArn"])["PORTS"] == ["22"]
    assert len(ecs.run_task(cluster=cluster, taskDefinition=td["family"])["tasks"]) == 1


def test_no_instances_fargate_and_bad_requests(ecs: Any) -> None:
    cluster = make_cluster(ecs)
    td = register_td(ecs)
    with pytest.raises(ClientError) as exc:
        ecs.run_task(cluster=cluster, taskDefinition=td["family"])
    assert code(exc) == "InvalidParameterException"
    assert "No Container Instances were found" in str(exc.value)
    register_instance(ecs, cluster)
    with pytest.raises(ClientError) as exc:
        ecs.run_task(cluster=cluster, taskDefinition=td["family"], launchType="FARGATE")
    assert code(exc) == "InvalidParameterException"
    assert "FARGATE" in str(exc.value)
    with pytest.raises(ClientError) as exc:
        ecs.run_task(cluster=cluster, taskDefinition=unique("nofamily"))
    assert code(exc) == "ClientException"
    with pytest.raises(ClientError) as exc:
        ecs.run_task(cluster=cluster, taskDefinition=td["family"], count=11)
    assert code(exc) == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        ecs.run_task(
            cluster=cluster,
            taskDefinition=td["family"],
            overrides={"containerOverrides": [{"name": "nope", "command": ["x"]}]},
        )
    assert code(exc) == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        ecs.run_task(
            cluster=cluster,
            taskDefinition=td["family"],
            placementConstraints=[{"type": "memberOf", "expression": "attribute:x =="}],
        )
    assert code(exc) == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        ecs.run_task(cluster=unique("nope"), taskDefinition=td["family"])
    assert code(exc) == "ClusterNotFoundException"


def test_awsvpc_needs_a_network_configuration_and_gets_an_eni_attachment(
    server: ServerProcess, ecs: Any
) -> None:
    cluster = make_cluster(ecs)
    ci = register_instance(ecs, cluster)
    td = register_td(ecs, networkMode="awsvpc")
    with pytest.raises(ClientError) as exc:
        ecs.run_task(cluster=cluster, taskDefinition=td["family"])
    assert code(exc) == "InvalidParameterException"
    assert "Network Configuration must be provided" in str(exc.value)
    bridge = register_td(ecs)
    with pytest.raises(ClientError) as exc:
        ecs.run_task(
            cluster=cluster,
            taskDefinition=bridge["family"],
            networkConfiguration={"awsvpcConfiguration": {"subnets": ["subnet-1"]}},
        )
    assert code(exc) == "InvalidParameterException"
    task = ecs.run_task(
        cluster=cluster,
        taskDefinition=td["family"],
        networkConfiguration={
            "awsvpcConfiguration": {"subnets": ["subnet-local"], "securityGroups": ["sg-1"]}
        },
    )["tasks"][0]
    assert task["lastStatus"] == "PROVISIONING"
    [eni] = task["attachments"]
    assert eni["type"] == "ElasticNetworkInterface" and eni["status"] == "PRECREATED"
    assert eni["details"] == [{"name": "subnetId", "value": "subnet-local"}]
    agent = agent_client(server)
    [assignment] = poll(agent, cluster, ci["containerInstanceArn"])["tasks"]
    spec = json.loads(assignment["spec"])
    assert spec["network"]["mode"] == "awsvpc"
    assert spec["network"]["attachment_id"] == eni["id"]
    assert spec["network"]["subnets"] == ["subnet-local"]
    details = [
        {"name": "networkInterfaceId", "value": "eni-local1"},
        {"name": "macAddress", "value": "02:42:ac:11:00:02"},
        {"name": "privateIPv4Address", "value": "10.77.0.2"},
    ]
    report(
        agent,
        cluster,
        ci["containerInstanceArn"],
        task["taskArn"],
        "PENDING",
        attachments=[{"id": eni["id"], "status": "ATTACHED", "details": details}],
        containers=[
            {
                "name": "app",
                "networkInterfaces": [{"attachmentId": eni["id"], "privateIpv4Address": "10.77.0.2"}],
            }
        ],
    )
    seen = describe(ecs, cluster, task["taskArn"])
    assert seen["lastStatus"] == "PENDING"
    assert seen["connectivity"] == "CONNECTED"
    [eni] = seen["attachments"]
    assert eni["status"] == "ATTACHED"
    assert {d["name"]: d["value"] for d in eni["details"]}["privateIPv4Address"] == "10.77.0.2"
    assert seen["containers"][0]["networkInterfaces"][0]["privateIpv4Address"] == "10.77.0.2"


def test_placement_constraints(ecs: Any) -> None:
    cluster = make_cluster(ecs)
    register_instance(ecs, cluster, attributes=[{"name": "tier", "value": "cold"}])
    hot = register_instance(ecs, cluster, attributes=[{"name": "tier", "value": "hot"}])
    td = register_td(ecs)
    task = ecs.run_task(
        cluster=cluster,
        taskDefinition=td["family"],
        placementConstraints=[{"type": "memberOf", "expression": "attribute:tier == hot"}],
        placementStrategy=[{"type": "binpack", "field": "memory"}],
    )["tasks"][0]
    assert task["containerInstanceArn"] == hot["containerInstanceArn"]
    spread = ecs.run_task(
        cluster=cluster, taskDefinition=td["family"], count=3, group="one-each",
        placementConstraints=[{"type": "distinctInstance"}],
    )  # fmt: skip
    assert len({t["containerInstanceArn"] for t in spread["tasks"]}) == 2
    assert len(spread["tasks"]) == 2 and spread["failures"]


def test_concurrent_run_task_never_overcommits(ecs: Any) -> None:
    cluster = make_cluster(ecs)
    instances = [register_instance(ecs, cluster, cpu=1024, memory=8192) for _ in range(2)]
    td = register_td(ecs, containerDefinitions=[{"name": "a", "image": "x", "cpu": 256, "memory": 64}])
    placed: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(3):
            tasks = ecs.run_task(cluster=cluster, taskDefinition=td["family"], count=2)["tasks"]
            with lock:
                placed.extend(t["containerInstanceArn"] for t in tasks)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(placed) == 8  # 2 instances x 4 tasks of 256 CPU units
    for ci in instances:
        left = _remaining(ecs, cluster, ci["containerInstanceArn"])
        assert placed.count(ci["containerInstanceArn"]) == 4
        assert left["CPU"] == 0
        assert left["pending"] == 4
    assert ecs.describe_clusters(clusters=[cluster])["clusters"][0]["pendingTasksCount"] == 8


def test_disconnected_agents_get_no_tasks(server: ServerProcess, ecs: Any) -> None:
    # agentConnected flips through the liveness controller (unit-tested with injected time);
    # here a force-deregistered instance shows that only ACTIVE instances take tasks.
    cluster = make_cluster(ecs)
    ci = register_instance(ecs, cluster)
    ecs.update_container_instances_state(
        cluster=cluster, containerInstances=[ci["containerInstanceArn"]], status="DRAINING"
    )
    td = register_td(ecs)
    assert ecs.run_task(cluster=cluster, taskDefinition=td["family"])["tasks"] == []


def test_stop_task_sets_desired_status_code_and_reason(server: ServerProcess, ecs: Any) -> None:
    cluster = make_cluster(ecs)
    ci = register_instance(ecs, cluster)
    td = register_td(ecs)
    task = ecs.run_task(cluster=cluster, taskDefinition=td["family"])["tasks"][0]
    agent = agent_client(server)
    run_to_running(agent, cluster, ci["containerInstanceArn"], task["taskArn"])
    stopped = ecs.stop_task(cluster=cluster, task=task["taskArn"], reason="maintenance")["task"]
    assert stopped["desiredStatus"] == "STOPPED"
    assert stopped["lastStatus"] == "RUNNING"
    assert stopped["stopCode"] == "UserInitiated"
    assert stopped["stoppedReason"] == "maintenance"
    assert "stoppingAt" in stopped
    again = ecs.stop_task(cluster=cluster, task=task["taskArn"].rsplit("/", 1)[1], reason="other")["task"]
    assert again["stoppedReason"] == "maintenance"
    [assignment] = poll(agent, cluster, ci["containerInstanceArn"])["tasks"]
    assert assignment["desiredStatus"] == "STOPPED"
    report(
        agent, cluster, ci["containerInstanceArn"], task["taskArn"], "STOPPED",
        stopCode="EssentialContainerExited", stoppedReason="Essential container in task exited",
        containers=[{"name": "app", "lastStatus": "STOPPED", "exitCode": 143}],
    )  # fmt: skip
    final = describe(ecs, cluster, task["taskArn"])
    assert final["lastStatus"] == "STOPPED"
    assert final["stopCode"] == "UserInitiated" and final["stoppedReason"] == "maintenance"
    assert final["containers"][0]["exitCode"] == 143
    for stamp in ("stoppingAt", "stoppedAt", "executionStoppedAt", "startedAt"):
        assert stamp in final
    with pytest.raises(ClientError) as exc:
        ecs.stop_task(cluster=cluster, task="0123456789abcdef0123456789abcdef")
    assert code(exc) == "InvalidParameterException"


def test_describe_tasks_failures_and_tags(ecs: Any) -> None:
    cluster = make_cluster(ecs)
    register_instance(ecs, cluster)
    td = register_td(ecs)
    task = ecs.run_task(cluster=cluster, taskDefinition=td["family"], tags=[{"key": "k", "value": "v"}])[
        "tasks"
    ][0]
    ghost = "0123456789abcdef0123456789abcdef"
    answer = ecs.describe_tasks(cluster=cluster, tasks=[task["taskArn"], ghost])
    assert [t["taskArn"] for t in answer["tasks"]] == [task["taskArn"]]
    assert "tags" not in answer["tasks"][0]
    assert answer["failures"] == [
        {"arn": f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:task/{cluster}/{ghost}", "reason": "MISSING"}
    ]
    tagged = ecs.describe_tasks(cluster=cluster, tasks=[task["taskArn"]], include=["TAGS"])["tasks"][0]
    assert tagged["tags"] == [{"key": "k", "value": "v"}]
    ecs.tag_resource(resourceArn=task["taskArn"], tags=[{"key": "more", "value": "x"}])
    assert len(ecs.list_tags_for_resource(resourceArn=task["taskArn"])["tags"]) == 2


def test_list_tasks_filters_and_pagination(server: ServerProcess, ecs: Any) -> None:
    cluster = make_cluster(ecs)
    a = register_instance(ecs, cluster, cpu=1024)
    b = register_instance(ecs, cluster)
    td1 = register_td(ecs)
    td2 = register_td(ecs)
    # binpack (not RunTask's random default) so the tasks land where the filters below expect
    pack = [{"type": "binpack", "field": "cpu"}]
    t1 = ecs.run_task(
        cluster=cluster, taskDefinition=td1["family"], count=4, startedBy="alice", placementStrategy=pack
    )["tasks"]
    t2 = ecs.run_task(
        cluster=cluster, taskDefinition=td2["family"], count=2, group="service:web", placementStrategy=pack
    )["tasks"]
    assert {t["containerInstanceArn"] for t in t1} == {a["containerInstanceArn"]}
    assert {t["containerInstanceArn"] for t in t2} == {b["containerInstanceArn"]}
    every = {t["taskArn"] for t in t1 + t2}

    def listed(**kwargs: Any) -> set[str]:
        return {
            arn
            for p in ecs.get_paginator("list_tasks").paginate(cluster=cluster, **kwargs)
            for arn in p["taskArns"]
        }

    assert listed() == every
    assert listed(family=td1["family"]) == {t["taskArn"] for t in t1}
    assert listed(startedBy="alice") == {t["taskArn"] for t in t1}
    assert listed(serviceName="web") == {t["taskArn"] for t in t2}
    assert listed(containerInstance=b["containerInstanceArn"]) == {t["taskArn"] for t in t2}
    assert listed(launchType="EC2") == every
    assert listed(launchType="FARGATE") == set()
    assert listed(desiredStatus="PENDING") == set()
    page = ecs.list_tasks(cluster=cluster, maxResults=4)
    assert len(page["taskArns"]) == 4 and "nextToken" in page
    rest = ecs.list_tasks(cluster=cluster, nextToken=page["nextToken"])
    assert set(page["taskArns"]) | set(rest["taskArns"]) == every
    agent = agent_client(server)
    report(agent, cluster, b["containerInstanceArn"], t2[0]["taskArn"], "STOPPED")
    assert listed(desiredStatus="STOPPED") == {t2[0]["taskArn"]}
    assert t2[0]["taskArn"] not in listed()
    with pytest.raises(ClientError) as exc:
        ecs.list_tasks(cluster=cluster, nextToken="garbage")
    assert code(exc) == "InvalidParameterException"


def test_start_task_on_named_instances(ecs: Any) -> None:
    cluster = make_cluster(ecs)
    a = register_instance(ecs, cluster)
    small = register_instance(ecs, cluster, cpu=128)
    td = register_td(ecs)
    ghost = "0123456789abcdef0123456789abcdef"
    answer = ecs.start_task(
        cluster=cluster,
        taskDefinition=td["family"],
        containerInstances=[a["containerInstanceArn"], small["containerInstanceArn"], ghost],
        startedBy="ops",
    )
    assert [t["containerInstanceArn"] for t in answer["tasks"]] == [a["containerInstanceArn"]]
    reasons = {f["arn"].rsplit("/", 1)[1]: f["reason"] for f in answer["failures"]}
    assert reasons[small["containerInstanceArn"].rsplit("/", 1)[1]] == "RESOURCE:CPU"
    assert reasons[ghost] == "MISSING"


def test_delete_cluster_refuses_while_tasks_are_active(server: ServerProcess, ecs: Any) -> None:
    cluster = make_cluster(ecs)
    ci = register_instance(ecs, cluster)
    td = register_td(ecs)
    task = ecs.run_task(cluster=cluster, taskDefinition=td["family"])["tasks"][0]
    with pytest.raises(ClientError) as exc:
        ecs.delete_cluster(cluster=cluster)
    assert code(exc) == "ClusterContainsContainerInstancesException"
    # force-deregister stops the task; a task still RUNNING elsewhere would refuse the delete
    agent = agent_client(server)
    run_to_running(agent, cluster, ci["containerInstanceArn"], task["taskArn"])
    c = ecs.describe_clusters(clusters=[cluster])["clusters"][0]
    assert c["runningTasksCount"] == 1 and c["pendingTasksCount"] == 0
    ecs.deregister_container_instance(
        cluster=cluster, containerInstance=ci["containerInstanceArn"], force=True
    )
    assert ecs.delete_cluster(cluster=cluster)["cluster"]["status"] == "INACTIVE"


def test_waiters_tasks_running_and_stopped(server: ServerProcess, ecs: Any) -> None:
    cluster = make_cluster(ecs)
    ci = register_instance(ecs, cluster)
    td = register_td(ecs)
    task = ecs.run_task(cluster=cluster, taskDefinition=td["family"])["tasks"][0]
    agent = agent_client(server)
    run_to_running(agent, cluster, ci["containerInstanceArn"], task["taskArn"])
    ecs.get_waiter("tasks_running").wait(
        cluster=cluster, tasks=[task["taskArn"]], WaiterConfig={"Delay": 1, "MaxAttempts": 5}
    )
    report(agent, cluster, ci["containerInstanceArn"], task["taskArn"], "STOPPED")
    ecs.get_waiter("tasks_stopped").wait(
        cluster=cluster, tasks=[task["taskArn"]], WaiterConfig={"Delay": 1, "MaxAttempts": 5}
    )


def test_ecs_submit_state_change_apis_drive_the_same_lifecycle(server: ServerProcess, ecs: Any) -> None:
    cluster = make_cluster(ecs)
    register_instance(ecs, cluster)
    td = register_td(ecs)
    task = ecs.run_task(cluster=cluster, taskDefinition=td["family"])["tasks"][0]
    ack = ecs.submit_container_state_change(
        cluster=cluster, task=task["taskArn"], containerName="app", runtimeId="abc", status="RUNNING",
        networkBindings=[{"bindIP": "0.0.0.0", "containerPort": 80, "hostPort": 32768, "protocol": "tcp"}],
    )  # fmt: skip
    assert ack["acknowledgment"]
    ecs.submit_task_state_change(cluster=cluster, task=task["taskArn"], status="RUNNING", pullStartedAt=1.0)
    seen = describe(ecs, cluster, task["taskArn"])
    assert seen["lastStatus"] == "RUNNING"
    assert seen["containers"][0]["networkBindings"][0]["hostPort"] == 32768
    assert seen["containers"][0]["runtimeId"] == "abc"
    ecs.submit_task_state_change(
        cluster=cluster, task=task["taskArn"], status="STOPPED", reason="done",
        containers=[{"containerName": "app", "status": "STOPPED", "exitCode": 0}],
    )  # fmt: skip
    final = describe(ecs, cluster, task["taskArn"])
    assert final["lastStatus"] == "STOPPED" and final["stoppedReason"] == "done"
    assert final["containers"][0]["exitCode"] == 0
    with pytest.raises(ClientError) as exc:
        ecs.submit_task_state_change(
            cluster=cluster, task="0123456789abcdef0123456789abcdef", status="RUNNING"
        )
    assert code(exc) == "ClientException"


def test_aws_cli_run_task_and_describe_tasks(server: ServerProcess, ecs: Any) -> None:
    cluster = make_cluster(ecs)
    register_instance(ecs, cluster)
    td = register_td(ecs)

    def cli(*args: str) -> dict[str, Any]:
        out = subprocess.run(
            [AWS, "ecs", *args, "--output", "json"],
            env=server.env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        result: dict[str, Any] = json.loads(out.stdout)
        return result

    ran = cli("run-task", "--cluster", cluster, "--task-definition", td["family"], "--count", "2")
    assert len(ran["tasks"]) == 2 and ran["failures"] == []
    arns = [t["taskArn"] for t in ran["tasks"]]
    described = cli("describe-tasks", "--cluster", cluster, "--tasks", *arns)
    assert sorted(t["taskArn"] for t in described["tasks"]) == sorted(arns)
    assert {t["lastStatus"] for t in described["tasks"]} == {"PENDING"}
