"""The stowage-agent channel over real HTTP with a botocore client built from stowage's model:
PollAssignments (long-poll, heartbeat, acknowledgement), SubmitTaskState (the lifecycle as
ECS shows it), ReportStats."""

from __future__ import annotations

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
    spec_of,
)
from tests.support.server import ServerProcess

BINDING = {"bindIP": "0.0.0.0", "containerPort": 80, "hostPort": 49153, "protocol": "tcp"}
GHOST = "0123456789abcdef0123456789abcdef"
BAD = "InvalidParameterException"


@pytest.fixture(scope="module")
def agent(server: ServerProcess) -> Any:
    return agent_client(server)


def test_poll_returns_assignments_with_their_spec(ecs: Any, agent: Any) -> None:
    cluster = make_cluster(ecs)
    ci = register_instance(ecs, cluster)
    td = register_td(ecs, tags=[{"key": "t", "value": "1"}])
    overrides = {"containerOverrides": [{"name": "app", "command": ["sleep", "5"]}]}
    task = ecs.run_task(
        cluster=cluster, taskDefinition=td["family"], overrides=overrides, startedBy="me",
        propagateTags="TASK_DEFINITION", enableExecuteCommand=True,
    )["tasks"][0]  # fmt: skip
    answer = poll(agent, cluster, ci["containerInstanceArn"])
    [assignment] = answer["tasks"]
    assert assignment["taskArn"] == task["taskArn"]
    assert assignment["desiredStatus"] == "RUNNING"
    assert assignment["lastStatus"] == "PENDING"
    spec = spec_of(assignment)
    assert spec.task_arn == task["taskArn"]
    assert spec.container_instance_arn == ci["containerInstanceArn"]
    assert spec.cluster_arn == task["clusterArn"]
    assert spec.task_definition_arn == td["taskDefinitionArn"]
    assert spec.family == td["family"] and spec.revision == td["revision"]
    assert spec.task_definition["containerDefinitions"][0]["name"] == "app"
    assert spec.container_override("app")["command"] == ["sleep", "5"]
    assert spec.network.mode == "bridge"
    assert spec.launch_type == "EC2"
    assert spec.started_by == "me"
    assert spec.group == f"family:{td['family']}"
    assert spec.tags == [{"key": "t", "value": "1"}]
    assert spec.enable_execute_command is True
    # the same revision again: nothing new, so a short wait answers the same revision
    again = poll(agent, cluster, ci["containerInstanceArn"], knownRevision=answer["revision"], waitSeconds=1)
    assert again["revision"] == answer["revision"]
    assert [t["taskArn"] for t in again["tasks"]] == [task["taskArn"]]


def test_long_poll_wakes_on_a_new_assignment(ecs: Any, agent: Any) -> None:
    cluster = make_cluster(ecs)
    ci = register_instance(ecs, cluster)
    other = register_instance(ecs, cluster, cpu=0)  # cannot take the task
    td = register_td(ecs)
    known = poll(agent, cluster, ci["containerInstanceArn"])["revision"]
    other_known = poll(agent, cluster, other["containerInstanceArn"])["revision"]
    results: dict[str, Any] = {}

    def waiter() -> None:
        results["answer"] = poll(
            agent, cluster, ci["containerInstanceArn"], knownRevision=known, waitSeconds=20
        )

    thread = threading.Thread(target=waiter)
    thread.start()
    task = ecs.run_task(cluster=cluster, taskDefinition=td["family"])["tasks"][0]
    thread.join(timeout=15)  # the poll waits up to 20 s: returning sooner means the task woke it
    assert not thread.is_alive()
    answer = results["answer"]
    assert answer["revision"] > known
    assert [t["taskArn"] for t in answer["tasks"]] == [task["taskArn"]]
    # the other instance's pollers were not woken by it: same revision
    assert (
        poll(agent, cluster, other["containerInstanceArn"], knownRevision=other_known, waitSeconds=0)[
            "revision"
        ]
        == other_known
    )


def test_full_lifecycle_as_ecs_shows_it(ecs: Any, agent: Any) -> None:
    cluster = make_cluster(ecs)
    ci = register_instance(ecs, cluster)
    arn = ci["containerInstanceArn"]
    td = register_td(
        ecs,
        containerDefinitions=[
            {
                "name": "web", "image": "busybox", "memory": 128, "essential": True,
                "portMappings": [{"containerPort": 80, "hostPort": 0}],
                "healthCheck": {"command": ["CMD-SHELL", "true"]},
            },
            {"name": "side", "image": "busybox", "memory": 64, "essential": False},
        ],
    )  # fmt: skip
    task = ecs.run_task(cluster=cluster, taskDefinition=td["family"])["tasks"][0]
    t = task["taskArn"]
    assert task["containers"][0]["healthStatus"] == "UNKNOWN"
    versions = [task["version"]]
    report(agent, cluster, arn, t, "PENDING", pullStartedAt=100.0)
    report(agent, cluster, arn, t, "ACTIVATING", pullStoppedAt=101.0)
    report(
        agent, cluster, arn, t, "RUNNING", startedAt=102.0, healthStatus="HEALTHY",
        containers=[
            {"name": "web", "lastStatus": "RUNNING", "runtimeId": "c-web", "healthStatus": "HEALTHY",
             "networkBindings": [BINDING]},
            {"name": "side", "lastStatus": "RUNNING", "runtimeId": "c-side"},
        ],
    )  # fmt: skip
    running = describe(ecs, cluster, t)
    versions.append(running["version"])
    assert running["lastStatus"] == "RUNNING"
    assert running["healthStatus"] == "HEALTHY"
    assert running["pullStartedAt"].timestamp() == 100.0
    assert running["pullStoppedAt"].timestamp() == 101.0
    assert running["startedAt"].timestamp() == 102.0
    web, side = running["containers"]
    assert web["runtimeId"] == "c-web" and web["healthStatus"] == "HEALTHY"
    assert web["networkBindings"] == [
        {"bindIP": "0.0.0.0", "containerPort": 80, "hostPort": 49153, "protocol": "tcp"}
    ]
    assert side["lastStatus"] == "RUNNING"
    c = ecs.describe_clusters(clusters=[cluster])["clusters"][0]
    assert (c["runningTasksCount"], c["pendingTasksCount"]) == (1, 0)
    # a late, older report changes nothing; timestamps are set once
    report(agent, cluster, arn, t, "PENDING", pullStartedAt=999.0)
    assert describe(ecs, cluster, t)["lastStatus"] == "RUNNING"
    assert describe(ecs, cluster, t)["pullStartedAt"].timestamp() == 100.0
    # the side container exits on its own: the task keeps running
    report(
        agent,
        cluster,
        arn,
        t,
        "RUNNING",
        containers=[{"name": "side", "lastStatus": "STOPPED", "exitCode": 0}],
    )
    assert describe(ecs, cluster, t)["containers"][1]["exitCode"] == 0
    for status in ("DEACTIVATING", "STOPPING", "DEPROVISIONING"):
        report(agent, cluster, arn, t, status)
        assert describe(ecs, cluster, t)["lastStatus"] == status
    report(
        agent, cluster, arn, t, "STOPPED", stopCode="EssentialContainerExited",
        stoppedReason="Essential container in task exited", executionStoppedAt=200.0,
        containers=[{"name": "web", "lastStatus": "STOPPED", "exitCode": 1, "reason": "exit 1"}],
    )  # fmt: skip
    final = describe(ecs, cluster, t)
    versions.append(final["version"])
    assert final["lastStatus"] == "STOPPED" and final["desiredStatus"] == "STOPPED"
    assert final["stopCode"] == "EssentialContainerExited"
    assert final["stoppedReason"] == "Essential container in task exited"
    assert final["containers"][0]["exitCode"] == 1 and final["containers"][0]["reason"] == "exit 1"
    assert {c["lastStatus"] for c in final["containers"]} == {"STOPPED"}
    assert final["executionStoppedAt"] <= final["stoppedAt"]
    assert final["stoppingAt"] <= final["stoppedAt"]
    assert versions == sorted(versions) and len(set(versions)) == 3
    left = ecs.describe_container_instances(cluster=cluster, containerInstances=[arn])["containerInstances"][
        0
    ]
    assert left["remainingResources"] == left["registeredResources"]
    assert (left["runningTasksCount"], left["pendingTasksCount"]) == (0, 0)
    # acknowledged: the agent no longer gets it
    assert poll(agent, cluster, arn)["tasks"] == []


def test_forced_stop_stays_assigned_until_the_agent_acknowledges(ecs: Any, agent: Any) -> None:
    cluster = make_cluster(ecs)
    ci = register_instance(ecs, cluster)
    arn = ci["containerInstanceArn"]
    td = register_td(ecs)
    task = ecs.run_task(cluster=cluster, taskDefinition=td["family"])["tasks"][0]
    ecs.deregister_container_instance(cluster=cluster, containerInstance=arn, force=True)
    answer = poll(agent, cluster, arn)
    assert answer["instanceStatus"] == "INACTIVE"
    [assignment] = answer["tasks"]
    assert assignment["lastStatus"] == "STOPPED" and assignment["desiredStatus"] == "STOPPED"
    report(agent, cluster, arn, task["taskArn"], "STOPPED")
    assert poll(agent, cluster, arn)["tasks"] == []


def test_reports_are_checked(ecs: Any, agent: Any) -> None:
    cluster = make_cluster(ecs)
    a = register_instance(ecs, cluster)
    b = register_instance(ecs, cluster)
    td = register_td(ecs)
    task = ecs.run_task(cluster=cluster, taskDefinition=td["family"])["tasks"][0]
    if task["containerInstanceArn"] != a["containerInstanceArn"]:
        a, b = b, a  # RunTask places randomly (ECS's default): call the chosen instance a
    assert task["containerInstanceArn"] == a["containerInstanceArn"]
    cases = [
        (b["containerInstanceArn"], task["taskArn"], {"lastStatus": "RUNNING"}, "InvalidParameterException"),
        (a["containerInstanceArn"], GHOST, {"lastStatus": "RUNNING"}, "ClientException"),
        (a["containerInstanceArn"], task["taskArn"], {"lastStatus": "SLEEPING"}, "InvalidParameterException"),
        (a["containerInstanceArn"], task["taskArn"], {"lastStatus": "RUNNING", "stopCode": "Nope"}, BAD),
        (
            a["containerInstanceArn"], task["taskArn"],
            {"lastStatus": "RUNNING", "containers": [{"name": "ghost", "lastStatus": "RUNNING"}]},
            "InvalidParameterException",
        ),
        ("0123456789abcdef0123456789abcdef", task["taskArn"], {"lastStatus": "RUNNING"}, "ClientException"),
    ]  # fmt: skip
    for instance, t, extra, expected in cases:
        with pytest.raises(ClientError) as exc:
            agent.submit_task_state(cluster=cluster, containerInstance=instance, task=t, **extra)
        assert code(exc) == expected, extra
    assert describe(ecs, cluster, task["taskArn"])["lastStatus"] == "PENDING"


def test_report_stats(ecs: Any, agent: Any) -> None:
    cluster = make_cluster(ecs)
    ci = register_instance(ecs, cluster)
    td = register_td(ecs)
    task = ecs.run_task(cluster=cluster, taskDefinition=td["family"])["tasks"][0]
    sample = {
        "task": task["taskArn"], "containerName": "app", "timestamp": 1_800_000_000.0,
        "cpuUsageNanos": 123, "memoryUsageBytes": 4096, "memoryLimitBytes": 512 * 2**20,
    }  # fmt: skip
    assert agent.report_stats(cluster=cluster, containerInstance=ci["containerInstanceArn"], samples=[sample])
    with pytest.raises(ClientError) as exc:
        agent.report_stats(
            cluster=cluster, containerInstance="0123456789abcdef0123456789abcdef", samples=[sample]
        )
    assert code(exc) == "ClientException"
