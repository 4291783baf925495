"""Services on real Docker: a busybox httpd service reaches a steady state, replaces a task
killed with `docker kill`, scales, and rolls to a new revision behind stowage's service
listener while a client loops requests (zero failures); a crashing revision trips the
circuit breaker and rolls back."""

from __future__ import annotations

import threading
import urllib.request
from typing import Any

from stowage.agent import labels as lbl
from tests.e2e.stack import Stack
from tests.support.images import TEST_IMAGE


def _httpd(**extra: Any) -> dict[str, Any]:
    # busybox httpd is PID 1 with no SIGTERM handler, so the kernel ignores SIGTERM: every stop
    # is the SIGKILL after stopTimeout (ECS's default 30 s would be most of these tests' time).
    return {
        "name": "web", "image": TEST_IMAGE, "essential": True, "memory": 64, "stopTimeout": 2,
        "command": ["httpd", "-f", "-p", "80", "-h", "/www"],
        "portMappings": [{"containerPort": 80, "hostPort": 0}], **extra,
    }  # fmt: skip


def _steady(stack: Stack, name: str, count: int) -> dict[str, Any] | None:
    s: dict[str, Any] = stack.ecs.describe_services(cluster=stack.cluster, services=[name])["services"][0]
    deps = s["deployments"]
    ok = len(deps) == 1 and s["runningCount"] == count and deps[0]["rolloutState"] == "COMPLETED"
    return s if ok else None


def _running(stack: Stack, name: str) -> list[str]:
    return list(
        stack.ecs.list_tasks(cluster=stack.cluster, serviceName=name, desiredStatus="RUNNING")["taskArns"]
    )


def test_service_steady_kill_scale_and_rolling_update_behind_listener(stack: Stack) -> None:
    stack.start_agent("a")
    td1 = stack.register("web", _httpd())
    td2 = stack.register("web", _httpd(environment=[{"name": "V", "value": "2"}]))
    ecs = stack.ecs
    ecs.create_service(
        cluster=stack.cluster, serviceName="web", taskDefinition=td1, desiredCount=3,
        loadBalancers=[{"containerName": "web", "containerPort": 80, "targetGroupArn": "arn:aws:x"}],
    )  # fmt: skip
    ecs.get_waiter("services_stable").wait(
        cluster=stack.cluster, services=["web"], WaiterConfig={"Delay": 1, "MaxAttempts": 90}
    )
    s = stack.until(lambda: _steady(stack, "web", 3), "steady at 3")
    assert s["loadBalancers"][0]["targetGroupArn"] == "arn:aws:x"
    reach = next(e["message"] for e in s["events"] if "is reachable at" in e["message"])
    port = int(reach.split("is reachable at 127.0.0.1:")[1].split(" ")[0])
    url = f"http://127.0.0.1:{port}/index.html"
    assert urllib.request.urlopen(url, timeout=5).read() == b"stowage\n"

    # docker kill one task's container: the service replaces it.
    victim = _running(stack, "web")[0]
    [state] = stack.task_containers(victim).values()
    stack.engine._run(lambda rt: rt.kill(state.id, "SIGKILL"))
    stack.until(lambda: victim not in _running(stack, "web") and _steady(stack, "web", 3), "replaced", 90)

    ecs.update_service(cluster=stack.cluster, service="web", desiredCount=5)
    stack.until(lambda: _steady(stack, "web", 5), "scaled to 5", 90)
    ecs.update_service(cluster=stack.cluster, service="web", desiredCount=2)
    stack.until(lambda: len(_running(stack, "web")) == 2 and _steady(stack, "web", 2), "scaled to 2", 90)

    # Rolling update while a client loops through the listener.
    failures: list[str] = []
    served = 0
    done = threading.Event()

    def client() -> None:
        nonlocal served
        while not done.is_set():
            try:
                assert urllib.request.urlopen(url, timeout=5).read() == b"stowage\n"
                served += 1
            except Exception as exc:
                failures.append(repr(exc))

    before = _running(stack, "web")
    thread = threading.Thread(target=client)
    thread.start()
    try:
        ecs.update_service(cluster=stack.cluster, service="web", taskDefinition=td2)
        s = stack.until(
            lambda: (x := _steady(stack, "web", 2)) and x["taskDefinition"] == td2 and x, "rolled", 120
        )
    finally:
        done.set()
        thread.join()
    assert failures == []
    assert served > 0
    assert s["deployments"][0]["rolloutState"] == "COMPLETED"
    arns = _running(stack, "web")
    tasks = ecs.describe_tasks(cluster=stack.cluster, tasks=arns)["tasks"]
    assert {t["taskDefinitionArn"] for t in tasks} == {td2}
    # The old tasks were asked to stop only once both new ones were running (minimum 100%).
    old = ecs.describe_tasks(cluster=stack.cluster, tasks=before)["tasks"]
    assert all(t["desiredStatus"] == "STOPPED" for t in old)
    assert min(t["stoppingAt"] for t in old) >= max(t["startedAt"] for t in tasks)


def test_crashing_revision_trips_circuit_breaker_and_rolls_back(stack: Stack) -> None:
    stack.start_agent("a")
    # The good task stops at ECS's default pace (30 s) here: the breaker judges the new
    # deployment while the old one is still draining, as it does on ECS with most images.
    good = stack.register("app", _httpd(stopTimeout=30))
    bad = stack.register("app", _httpd(command=["sh", "-c", "exit 3"]))
    ecs = stack.ecs
    ecs.create_service(
        cluster=stack.cluster, serviceName="app", taskDefinition=good, desiredCount=1,
        deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}},
    )  # fmt: skip
    first = stack.until(lambda: _steady(stack, "app", 1), "steady", 90)["deployments"][0]["id"]
    ecs.update_service(cluster=stack.cluster, service="app", taskDefinition=bad)
    try:
        s = stack.until(
            lambda: (x := _steady(stack, "app", 1)) and x["taskDefinition"] == good and x, "rolled back", 240
        )
    except AssertionError:
        now = ecs.describe_services(cluster=stack.cluster, services=["app"])["services"][0]
        raise AssertionError(f"deployments {now['deployments']}\nevents {now['events'][:15]}") from None
    messages = [e["message"] for e in s["events"]]
    assert any(m.endswith("deployment failed: tasks failed to start.") for m in messages)
    assert "(service app) rolling back to deployment " + first + "." in messages
    assert stack.engine.containers(**{lbl.CLUSTER: stack.cluster_arn})


def test_control_plane_killed_mid_rollout_finishes_the_deployment(stack: Stack) -> None:
    stack.start_agent("a")
    td1 = stack.register("roll", _httpd())
    td2 = stack.register("roll", _httpd(environment=[{"name": "V", "value": "2"}]))
    ecs = stack.ecs
    ecs.create_service(cluster=stack.cluster, serviceName="roll", taskDefinition=td1, desiredCount=3)
    stack.until(lambda: _steady(stack, "roll", 3), "steady", 90)
    ecs.update_service(cluster=stack.cluster, service="roll", taskDefinition=td2)

    def mid_rollout() -> bool:
        """New tasks started while old ones still run: the kill lands inside the rollout."""
        tasks = ecs.describe_tasks(cluster=stack.cluster, tasks=_running(stack, "roll"))["tasks"]
        revisions = {t["taskDefinitionArn"] for t in tasks}
        return td1 in revisions and td2 in revisions

    stack.until(mid_rollout, "the rollout under way", 60)
    assert stack.server is not None
    stack.server.kill9()
    stack.server.restart()
    ecs = stack.ecs = stack.server.boto3_client("ecs")
    s = stack.until(
        lambda: (x := _steady(stack, "roll", 3)) and x["taskDefinition"] == td2 and x,
        "rolled after restart",
        180,
    )
    assert s["deployments"][0]["rolloutState"] == "COMPLETED"
    arns = _running(stack, "roll")
    assert len(arns) == 3
    tasks = ecs.describe_tasks(cluster=stack.cluster, tasks=arns)["tasks"]
    assert {t["taskDefinitionArn"] for t in tasks} == {td2}

    # No duplicate: exactly one live container per running task, none for anything else.
    def settled() -> bool:
        labels = {lbl.CLUSTER: stack.cluster_arn, lbl.ROLE: lbl.ROLE_CONTAINER}
        live = [c for c in stack.engine.containers(**labels) if c.status.value == "running"]
        return sorted(c.labels[lbl.TASK_ARN] for c in live) == sorted(arns)

    stack.until(settled, "only the 3 new containers running", 60)
