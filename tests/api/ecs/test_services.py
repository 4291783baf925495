"""Services over real HTTP with boto3, fake hosts driving task lifecycle: create, steady state
and its events, scaling, rolling updates within the limits, the circuit breaker and rollback,
the throttle on tasks that keep failing to start, replacement of stopped tasks, DAEMON
following instances, delete, validation."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.api.ecs.service_support import FakeHost, drive, service, steady
from tests.api.ecs.task_support import code, make_cluster, register_td, report, unique
from tests.support.server import ServerProcess


def _tasks(ecs: Any, cluster: str, name: str, status: str = "RUNNING") -> list[dict[str, Any]]:
    arns = ecs.list_tasks(cluster=cluster, serviceName=name, desiredStatus=status)["taskArns"]
    return ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []  # type: ignore[no-any-return]


def test_replica_service_reaches_steady_state_and_scales(server: ServerProcess, ecs: Any) -> None:
    cluster = make_cluster(ecs)
    hosts = [FakeHost(server, ecs, cluster) for _ in range(2)]
    td = register_td(ecs)
    name = unique("svc")
    created = ecs.create_service(
        cluster=cluster, serviceName=name, taskDefinition=td["taskDefinitionArn"], desiredCount=3,
        tags=[{"key": "team", "value": "web"}], propagateTags="SERVICE", enableECSManagedTags=True,
    )["service"]  # fmt: skip
    assert created["status"] == "ACTIVE"
    assert created["deploymentConfiguration"]["maximumPercent"] == 200
    assert created["deploymentConfiguration"]["minimumHealthyPercent"] == 100
    [dep] = created["deployments"]
    assert dep["status"] == "PRIMARY" and dep["rolloutState"] == "IN_PROGRESS"
    s = drive(hosts, lambda: steady(ecs, cluster, name, 3))
    messages = [e["message"] for e in s["events"]]
    assert messages[0] == f"(service {name}) has reached a steady state."
    assert any(m.startswith(f"(service {name}) has started 3 tasks:") for m in messages)
    assert s["tags"] == [{"key": "team", "value": "web"}]
    tasks = _tasks(ecs, cluster, name)
    assert len(tasks) == 3
    assert {t["group"] for t in tasks} == {f"service:{name}"}
    assert {t["startedBy"] for t in tasks} == {dep["id"]}
    tagged = ecs.describe_tasks(cluster=cluster, tasks=[tasks[0]["taskArn"]], include=["TAGS"])["tasks"][0]
    keys = {t["key"] for t in tagged["tags"]}
    assert {"team", "aws:ecs:serviceName", "aws:ecs:clusterName"} <= keys
    # The stable waiter works unchanged.
    ecs.get_waiter("services_stable").wait(cluster=cluster, services=[name], WaiterConfig={"Delay": 1})

    ecs.update_service(cluster=cluster, service=name, desiredCount=5)
    drive(hosts, lambda: steady(ecs, cluster, name, 5))
    ecs.update_service(cluster=cluster, service=name, desiredCount=2)
    s = drive(hosts, lambda: steady(ecs, cluster, name, 2) if len(_tasks(ecs, cluster, name)) == 2 else None)
    assert len(s["deployments"]) == 1  # scaling is not a new deployment


def test_stopped_task_is_replaced(server: ServerProcess, ecs: Any) -> None:
    cluster = make_cluster(ecs)
    hosts = [FakeHost(server, ecs, cluster)]
    td = register_td(ecs)
    name = unique("svc")
    ecs.create_service(
        cluster=cluster, serviceName=name, taskDefinition=td["taskDefinitionArn"], desiredCount=2
    )
    drive(hosts, lambda: steady(ecs, cluster, name, 2))
    victim = _tasks(ecs, cluster, name)[0]["taskArn"]
    ecs.stop_task(cluster=cluster, task=victim, reason="chaos")

    def replaced() -> dict[str, Any] | None:
        live = {t["taskArn"] for t in _tasks(ecs, cluster, name)}
        return steady(ecs, cluster, name, 2) if victim not in live and len(live) == 2 else None

    drive(hosts, replaced)
    assert len(_tasks(ecs, cluster, name)) == 2


def test_rolling_update_respects_limits_and_completes(server: ServerProcess, ecs: Any) -> None:
    cluster = make_cluster(ecs)
    hosts = [FakeHost(server, ecs, cluster, cpu=4096, memory=8192) for _ in range(2)]
    td1 = register_td(ecs)
    td2 = register_td(ecs, family=td1["family"])
    name = unique("svc")
    ecs.create_service(
        cluster=cluster, serviceName=name, taskDefinition=td1["taskDefinitionArn"], desiredCount=4,
        deploymentConfiguration={"minimumHealthyPercent": 50, "maximumPercent": 100},
    )  # fmt: skip
    drive(hosts, lambda: steady(ecs, cluster, name, 4))
    updated = ecs.update_service(cluster=cluster, service=name, taskDefinition=td2["taskDefinitionArn"])[
        "service"
    ]
    assert [d["status"] for d in updated["deployments"]] == ["PRIMARY", "ACTIVE"]
    peak = 0

    def done() -> Any:
        nonlocal peak
        live = _tasks(ecs, cluster, name) + _tasks(ecs, cluster, name, "STOPPED")
        peak = max(peak, sum(1 for t in live if t["lastStatus"] != "STOPPED"))
        healthy = sum(1 for t in live if t["lastStatus"] == "RUNNING" and t["desiredStatus"] == "RUNNING")
        assert healthy >= 2, "fell below minimumHealthyPercent"
        return steady(ecs, cluster, name, 4)

    s = drive(hosts, done)
    assert peak <= 4
    assert s["deployments"][0]["taskDefinition"] == td2["taskDefinitionArn"]
    assert {t["taskDefinitionArn"] for t in _tasks(ecs, cluster, name)} == {td2["taskDefinitionArn"]}
    assert any("deployment completed" in e["message"] for e in s["events"])
    # Service deployments and revisions.
    listed = ecs.list_service_deployments(cluster=cluster, service=name)["serviceDeployments"]
    assert [d["status"] for d in listed] == ["SUCCESSFUL", "SUCCESSFUL"]
    described = ecs.describe_service_deployments(serviceDeploymentArns=[listed[0]["serviceDeploymentArn"]])
    sd = described["serviceDeployments"][0]
    revs = ecs.describe_service_revisions(serviceRevisionArns=[sd["targetServiceRevision"]["arn"]])
    assert revs["serviceRevisions"][0]["taskDefinition"] == td2["taskDefinitionArn"]


def test_circuit_breaker_rolls_back(server: ServerProcess, ecs: Any) -> None:
    cluster = make_cluster(ecs)
    host = FakeHost(server, ecs, cluster, cpu=8192, memory=16384)
    good = register_td(ecs)
    bad = register_td(ecs, family=good["family"])
    host.fail = lambda a: bad["taskDefinitionArn"] in a["spec"]
    name = unique("svc")
    ecs.create_service(
        cluster=cluster, serviceName=name, taskDefinition=good["taskDefinitionArn"], desiredCount=2,
        deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}},
    )  # fmt: skip
    first = drive([host], lambda: steady(ecs, cluster, name, 2))["deployments"][0]["id"]
    ecs.update_service(cluster=cluster, service=name, taskDefinition=bad["taskDefinitionArn"])

    def rolled_back() -> Any:
        s = steady(ecs, cluster, name, 2)
        return s if s is not None and s["taskDefinition"] == good["taskDefinitionArn"] else None

    s = drive([host], rolled_back, within=60)
    messages = [e["message"] for e in s["events"]]
    assert any(m.endswith("deployment failed: tasks failed to start.") for m in messages)
    assert f"(service {name}) rolling back to deployment {first}." in messages
    [prim] = s["deployments"]
    assert prim["rolloutState"] == "COMPLETED"
    assert prim["taskDefinition"] == good["taskDefinitionArn"]
    listed = ecs.list_service_deployments(cluster=cluster, service=name)["serviceDeployments"]
    assert listed[0]["status"] == "ROLLBACK_SUCCESSFUL"


def test_daemon_follows_instances(server: ServerProcess, ecs: Any) -> None:
    cluster = make_cluster(ecs)
    hosts = [FakeHost(server, ecs, cluster) for _ in range(2)]
    td = register_td(ecs)
    name = unique("dmn")
    ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=td["taskDefinitionArn"],
                       schedulingStrategy="DAEMON")  # fmt: skip
    drive(hosts, lambda: steady(ecs, cluster, name, 2))
    hosts.append(FakeHost(server, ecs, cluster))
    drive(hosts, lambda: steady(ecs, cluster, name, 3))
    per_host = {t["containerInstanceArn"] for t in _tasks(ecs, cluster, name)}
    assert per_host == {h.arn for h in hosts}
    ecs.update_container_instances_state(
        cluster=cluster, containerInstances=[hosts[0].arn], status="DRAINING"
    )
    drive(hosts, lambda: steady(ecs, cluster, name, 2))
    assert hosts[0].arn not in {t["containerInstanceArn"] for t in _tasks(ecs, cluster, name)}


def test_delete_and_validation(server: ServerProcess, ecs: Any) -> None:
    cluster = make_cluster(ecs)
    td = register_td(ecs)
    name = unique("svc")
    with pytest.raises(ClientError) as exc:
        ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=td["taskDefinitionArn"])
    assert code(exc) == "InvalidParameterException"
    ecs.create_service(
        cluster=cluster, serviceName=name, taskDefinition=td["taskDefinitionArn"], desiredCount=1
    )
    with pytest.raises(ClientError) as exc:
        ecs.create_service(
            cluster=cluster, serviceName=name, taskDefinition=td["taskDefinitionArn"], desiredCount=2
        )
    assert code(exc) == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        ecs.delete_cluster(cluster=cluster)
    assert code(exc) == "ClusterContainsServicesException"
    with pytest.raises(ClientError) as exc:
        ecs.delete_service(cluster=cluster, service=name)
    assert code(exc) == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        ecs.update_service(cluster=cluster, service="nope", desiredCount=1)
    assert code(exc) == "ServiceNotFoundException"
    assert ecs.list_services(cluster=cluster)["serviceArns"] == [service(ecs, cluster, name)["serviceArn"]]
    gone = ecs.delete_service(cluster=cluster, service=name, force=True)["service"]
    assert gone["status"] == "DRAINING"
    ecs.get_waiter("services_inactive").wait(cluster=cluster, services=[name], WaiterConfig={"Delay": 1})
    assert ecs.list_services(cluster=cluster)["serviceArns"] == []
    with pytest.raises(ClientError) as exc:
        ecs.update_service(cluster=cluster, service=name, desiredCount=1)
    assert code(exc) == "ServiceNotActiveException"
    missing = ecs.describe_services(cluster=cluster, services=["nope"])
    assert missing["failures"][0]["reason"] == "MISSING"
    ecs.delete_cluster(cluster=cluster)


def test_unhealthy_task_is_replaced(server: ServerProcess, ecs: Any) -> None:
    cluster = make_cluster(ecs)
    host = FakeHost(server, ecs, cluster)
    host.health = "HEALTHY"
    checked = {
        "name": "app", "image": "busybox", "cpu": 256, "memory": 512, "essential": True,
        "healthCheck": {"command": ["CMD-SHELL", "true"], "interval": 5, "retries": 1},
    }  # fmt: skip
    td = register_td(ecs, containerDefinitions=[checked])
    name = unique("svc")
    ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=td["taskDefinitionArn"],
                       desiredCount=2)  # fmt: skip
    drive([host], lambda: steady(ecs, cluster, name, 2))
    tasks = _tasks(ecs, cluster, name)
    assert {t["healthStatus"] for t in tasks} == {"HEALTHY"}
    sick = tasks[0]["taskArn"]
    report(
        host.agent, cluster, host.arn, sick, "RUNNING", healthStatus="UNHEALTHY",
        containers=[{"name": "app", "lastStatus": "RUNNING", "healthStatus": "UNHEALTHY"}],
    )  # fmt: skip

    def replaced() -> dict[str, Any] | None:
        arns = {t["taskArn"] for t in _tasks(ecs, cluster, name)}
        if sick in arns or len(arns) != 2:
            return None
        # the host reports the stop after the scheduler asked for it: wait for that too
        (old,) = ecs.describe_tasks(cluster=cluster, tasks=[sick])["tasks"]
        return steady(ecs, cluster, name, 2) if old["lastStatus"] == "STOPPED" else None

    s = drive([host], replaced)
    (gone,) = ecs.describe_tasks(cluster=cluster, tasks=[sick])["tasks"]
    assert gone["lastStatus"] == "STOPPED"
    assert gone["stoppedReason"] == "Task failed container health checks"
    assert gone["stopCode"] == "ServiceSchedulerInitiated"
    messages = [e["message"] for e in s["events"]]
    assert f"(service {name}) (task {sick.rsplit('/', 1)[-1]}) failed container health checks." in messages
    assert {t["healthStatus"] for t in _tasks(ecs, cluster, name)} == {"HEALTHY"}
    # An unhealthy task counts as a failure of the deployment (what the circuit breaker reads).
    assert s["deployments"][0]["failedTasks"] == 1


def test_unplaceable_tasks_retry_and_say_why(server: ServerProcess, ecs: Any) -> None:
    cluster = make_cluster(ecs)
    small = FakeHost(server, ecs, cluster, cpu=512, memory=4096)
    td = register_td(ecs)  # 256 CPU units: two fit on the small host
    name = unique("svc")
    ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=td["taskDefinitionArn"],
                       desiredCount=3)  # fmt: skip
    instance_id = small.arn.rsplit("/", 1)[-1]
    why = (
        f"(service {name}) was unable to place a task because no container instance met all of its "
        f"requirements. The closest matching (container-instance {instance_id}) has insufficient CPU "
        "units available. For more information, see the Troubleshooting section of the Amazon ECS "
        "Developer Guide."
    )

    def stuck() -> dict[str, Any] | None:
        s = service(ecs, cluster, name)
        return s if s["runningCount"] == 2 and any(e["message"] == why for e in s["events"]) else None

    s = drive([small], stuck)
    assert s["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    # The retries back off and do not repeat the same event: a few more seconds, one message.
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        small.step()
        time.sleep(0.1)
    messages = [e["message"] for e in service(ecs, cluster, name)["events"]]
    assert messages.count(why) == 1
    # Capacity arrives: the next retry places the third task with no further API call.
    bigger = FakeHost(server, ecs, cluster)
    s = drive([small, bigger], lambda: steady(ecs, cluster, name, 3), within=90)
    placed = {t["containerInstanceArn"] for t in _tasks(ecs, cluster, name)}
    assert bigger.arn in placed
    assert [e["message"] for e in s["events"]].count(why) == 1


def test_tasks_that_keep_failing_to_start_are_throttled(server: ServerProcess, ecs: Any) -> None:
    cluster = make_cluster(ecs)
    host = FakeHost(server, ecs, cluster)
    bad = register_td(ecs)
    good = register_td(ecs, family=bad["family"])
    host.fail = lambda a: bad["taskDefinitionArn"] in a["spec"]  # PENDING straight to STOPPED
    name = unique("svc")
    ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=bad["taskDefinitionArn"],
                       desiredCount=1)  # fmt: skip
    unable = f"(service {name}) is unable to consistently start tasks successfully."

    def throttled() -> bool:
        events = service(ecs, cluster, name)["events"]
        return bool(events) and events[0]["message"] == unable

    drive([host], throttled)
    failed = len(_tasks(ecs, cluster, name, "STOPPED"))
    assert failed == 3  # the third failure in a row pauses launches
    # The first pause is 10 s: a few seconds of a working host see no further launch.
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        host.step()
        time.sleep(0.1)
    assert len(_tasks(ecs, cluster, name, "STOPPED")) == failed
    assert not _tasks(ecs, cluster, name) and service(ecs, cluster, name)["pendingCount"] == 0
    # A new task definition is a new deployment: no pause.
    ecs.update_service(cluster=cluster, service=name, taskDefinition=good["taskDefinitionArn"])
    s = drive([host], lambda: steady(ecs, cluster, name, 1), within=20)
    assert s["taskDefinition"] == good["taskDefinitionArn"]
    assert [e["message"] for e in s["events"]].count(unable) == 1
