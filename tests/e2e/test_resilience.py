"""The agent's promises under failure: kill -9 and restart, a control plane that goes away, and
two agents sharing one engine."""

from __future__ import annotations

import time

import pytest

from stowage.agent import labels as lbl
from tests.e2e.stack import Stack
from tests.e2e.test_task_lifecycle import busybox

pytestmark = pytest.mark.docker


def test_kill9_and_restart_adopts_containers_and_reports_exits(stack: Stack) -> None:
    agent = stack.start_agent()
    long_td = stack.register("long", busybox("app", "sleep", "1000", stopTimeout=1))
    short_td = stack.register(
        "short", busybox("app", "sh", "-c", "while [ ! -f /tmp/go ]; do sleep 0.1; done; exit 5")
    )
    long_arn, short_arn = stack.run_task(long_td), stack.run_task(short_td)
    stack.wait_status(long_arn, "RUNNING")
    stack.wait_status(short_arn, "RUNNING")
    before = {arn: stack.task_containers(arn)["app"].id for arn in (long_arn, short_arn)}
    agent.kill9()
    # While the agent is dead, the short task's container exits.
    short_id = before[short_arn]
    stack.engine._run(lambda rt: _exec_touch(rt, short_id))
    assert stack.engine.wait(short_id) == 5
    agent.start()
    task = stack.wait_status(short_arn, "STOPPED")
    assert task["containers"][0]["exitCode"] == 5
    assert task["containers"][0]["runtimeId"] == short_id
    long_task = stack.describe(long_arn)
    assert long_task["lastStatus"] == "RUNNING"
    assert long_task["containers"][0]["runtimeId"] == before[long_arn]
    # No duplicates: still exactly one container per task, the same ones.
    for arn, cid in before.items():
        assert [s.id for s in stack.task_containers(arn).values()] == [cid]
    assert stack.engine.inspect(before[long_arn]).running
    stack.ecs.stop_task(cluster=stack.cluster, task=long_arn)
    assert stack.wait_status(long_arn, "STOPPED")["stopCode"] == "UserInitiated"


async def _exec_touch(rt: object, cid: str) -> None:
    """Make the container exit by itself: create /tmp/go inside it (docker exec)."""
    docker = rt._docker  # type: ignore[attr-defined]
    exe = await docker.containers.container(cid).exec(["touch", "/tmp/go"])
    await exe.start(detach=True)


def test_control_plane_outage_keeps_containers_and_converges(stack: Stack) -> None:
    stack.start_agent()
    assert stack.server is not None
    td = stack.register(
        "outage", busybox("app", "sh", "-c", "while [ ! -f /tmp/go ]; do sleep 0.1; done; exit 7")
    )
    keep_td = stack.register("keeper", busybox("app", "sleep", "1000", stopTimeout=1))
    arn, keep = stack.run_task(td), stack.run_task(keep_td)
    stack.wait_status(arn, "RUNNING")
    stack.wait_status(keep, "RUNNING")
    cid = stack.task_containers(arn)["app"].id
    keep_id = stack.task_containers(keep)["app"].id
    stack.server.stop()
    stack.engine._run(lambda rt: _exec_touch(rt, cid))
    assert stack.engine.wait(cid) == 7  # it ends while nobody can be told
    time.sleep(2)  # the agent retries against a dead endpoint meanwhile
    assert stack.engine.inspect(keep_id).running
    assert all(a.alive() for a in stack.agents)
    stack.server.start()
    task = stack.wait_status(arn, "STOPPED")
    assert task["containers"][0]["exitCode"] == 7
    assert stack.describe(keep)["lastStatus"] == "RUNNING"
    assert [s.id for s in stack.task_containers(keep).values()] == [keep_id]
    stack.ecs.stop_task(cluster=stack.cluster, task=keep)
    stack.wait_status(keep, "STOPPED")


def test_two_agents_on_one_engine_run_only_their_own_tasks(stack: Stack) -> None:
    a = stack.start_agent("a")
    b = stack.start_agent("b")
    assert a.instance_arn != b.instance_arn
    td = stack.register("pair", busybox("app", "sleep", "1000", stopTimeout=1))
    on_a = stack.ecs.start_task(cluster=stack.cluster, taskDefinition=td, containerInstances=[a.instance_arn])
    on_b = stack.ecs.start_task(cluster=stack.cluster, taskDefinition=td, containerInstances=[b.instance_arn])
    arn_a, arn_b = on_a["tasks"][0]["taskArn"], on_b["tasks"][0]["taskArn"]
    stack.wait_status(arn_a, "RUNNING")
    stack.wait_status(arn_b, "RUNNING")
    for arn, agent in ((arn_a, a), (arn_b, b)):
        states = list(stack.task_containers(arn).values())
        assert len(states) == 1 and states[0].labels[lbl.INSTANCE] == agent.instance_arn
    # Restarting one agent touches nothing of the other's.
    b_id = stack.task_containers(arn_b)["app"].id
    a.kill9()
    a.start()
    stack.until(lambda: stack.describe(arn_a)["lastStatus"] == "RUNNING", "a's task still running")
    assert stack.engine.inspect(b_id).running
    stack.ecs.stop_task(cluster=stack.cluster, task=arn_b)
    stack.wait_status(arn_b, "STOPPED")
    assert stack.describe(arn_a)["lastStatus"] == "RUNNING"
    assert stack.engine.inspect(stack.task_containers(arn_a)["app"].id).running
    stack.ecs.stop_task(cluster=stack.cluster, task=arn_a)
    stack.wait_status(arn_a, "STOPPED")
