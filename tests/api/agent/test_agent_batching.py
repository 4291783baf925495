"""The agent channel's cheap paths over real HTTP: SubmitTaskStates (many reports, one call,
one result each), reports riding on a poll, specs sent once per agent, and long-polls not woken
by the agent's own PENDING/RUNNING reports."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.ecs.task_support import (
    agent_client,
    describe,
    make_cluster,
    poll,
    register_instance,
    register_td,
    report,
    spec_of,
)
from tests.support.server import ServerProcess

GHOST = "0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def agent(server: ServerProcess) -> Any:
    return agent_client(server)


def test_submit_task_states_answers_each_report(ecs: Any, agent: Any) -> None:
    cluster = make_cluster(ecs)
    ci = register_instance(ecs, cluster)
    arn = ci["containerInstanceArn"]
    td = register_td(ecs)
    one, two = ecs.run_task(cluster=cluster, taskDefinition=td["family"], count=2)["tasks"]
    answer = agent.submit_task_states(
        cluster=cluster,
        containerInstance=arn,
        reports=[
            {"task": one["taskArn"], "lastStatus": "PENDING", "pullStartedAt": 100.0},
            {"task": GHOST, "lastStatus": "RUNNING"},
            {
                "task": one["taskArn"],
                "lastStatus": "RUNNING",
                "startedAt": 102.0,
                "containers": [{"name": "app", "lastStatus": "RUNNING", "runtimeId": "c-1"}],
            },
            {"task": two["taskArn"], "lastStatus": "PENDING"},
            {"task": two["taskArn"], "lastStatus": "RUNNING", "containers": [{"name": "nope"}]},
        ],
    )
    results = answer["results"]
    assert [r["task"] for r in results] == [
        one["taskArn"],
        GHOST,
        one["taskArn"],
        two["taskArn"],
        two["taskArn"],
    ]
    assert [r.get("acknowledgment") for r in results] == ["ACK", None, "ACK", "ACK", None]
    assert results[1]["errorCode"] == "ClientException"
    assert results[4]["errorCode"] == "InvalidParameterException"
    first = describe(ecs, cluster, one["taskArn"])
    assert first["lastStatus"] == "RUNNING"
    assert first["pullStartedAt"].timestamp() == 100.0
    assert first["startedAt"].timestamp() == 102.0
    assert first["containers"][0]["runtimeId"] == "c-1"
    # the refused report of the second task left its accepted one standing
    assert describe(ecs, cluster, two["taskArn"])["lastStatus"] == "PENDING"


def test_reports_of_a_task_on_another_instance_are_refused(ecs: Any, agent: Any) -> None:
    cluster = make_cluster(ecs)
    ci = register_instance(ecs, cluster)
    other = register_instance(ecs, cluster, cpu=0)  # cannot take the task
    td = register_td(ecs)
    task = ecs.run_task(cluster=cluster, taskDefinition=td["family"])["tasks"][0]
    assert task["containerInstanceArn"] == ci["containerInstanceArn"]
    results = agent.submit_task_states(
        cluster=cluster,
        containerInstance=other["containerInstanceArn"],
        reports=[{"task": task["taskArn"], "lastStatus": "RUNNING"}],
    )["results"]
    assert results[0]["errorCode"] == "InvalidParameterException"
    assert describe(ecs, cluster, task["taskArn"])["lastStatus"] == "PENDING"


def test_spec_is_sent_until_the_agent_has_it(ecs: Any, agent: Any) -> None:
    cluster = make_cluster(ecs)
    ci = register_instance(ecs, cluster)
    arn = ci["containerInstanceArn"]
    td = register_td(ecs)
    first = ecs.run_task(cluster=cluster, taskDefinition=td["family"])["tasks"][0]
    answer = poll(agent, cluster, arn)
    [assignment] = answer["tasks"]
    assert spec_of(assignment).task_arn == first["taskArn"]
    second = ecs.run_task(cluster=cluster, taskDefinition=td["family"])["tasks"][0]
    later = poll(agent, cluster, arn, knownRevision=answer["revision"], waitSeconds=5)
    by_arn = {t["taskArn"]: t for t in later["tasks"]}
    assert set(by_arn) == {first["taskArn"], second["taskArn"]}
    assert "spec" not in by_arn[first["taskArn"]]  # the agent acknowledged it with its revision
    assert spec_of(by_arn[second["taskArn"]]).task_arn == second["taskArn"]
    # no known revision (a restarted agent): every spec again
    again = poll(agent, cluster, arn)
    assert all("spec" in t for t in again["tasks"])


def test_own_reports_do_not_wake_the_long_poll(ecs: Any, agent: Any) -> None:
    cluster = make_cluster(ecs)
    ci = register_instance(ecs, cluster)
    arn = ci["containerInstanceArn"]
    td = register_td(ecs)
    task = ecs.run_task(cluster=cluster, taskDefinition=td["family"])["tasks"][0]
    known = poll(agent, cluster, arn)["revision"]
    report(agent, cluster, arn, task["taskArn"], "PENDING")
    report(agent, cluster, arn, task["taskArn"], "RUNNING")
    quiet = poll(agent, cluster, arn, knownRevision=known, waitSeconds=0)
    assert quiet["revision"] == known
    assert [t["lastStatus"] for t in quiet["tasks"]] == ["RUNNING"]
    # a desired-status change is news for the agent
    ecs.stop_task(cluster=cluster, task=task["taskArn"])
    woken = poll(agent, cluster, arn, knownRevision=known, waitSeconds=0)
    assert woken["revision"] > known
    assert [t["desiredStatus"] for t in woken["tasks"]] == ["STOPPED"]


def test_reports_ride_on_a_poll(ecs: Any, agent: Any) -> None:
    cluster = make_cluster(ecs)
    arn = register_instance(ecs, cluster)["containerInstanceArn"]
    td = register_td(ecs)
    task = ecs.run_task(cluster=cluster, taskDefinition=td["family"])["tasks"][0]
    known = poll(agent, cluster, arn)["revision"]
    answer = poll(
        agent,
        cluster,
        arn,
        knownRevision=known,
        waitSeconds=0,
        reports=[
            {"task": task["taskArn"], "lastStatus": "PENDING", "pullStartedAt": 100.0},
            {
                "task": task["taskArn"],
                "lastStatus": "RUNNING",
                "startedAt": 101.0,
                "containers": [{"name": "app", "lastStatus": "RUNNING", "runtimeId": "c-9"}],
            },
        ],
    )
    assert [r.get("acknowledgment") for r in answer["reportResults"]] == ["ACK", "ACK"]
    assert answer["revision"] == known  # the agent's own reports are no news to it
    assert [t["lastStatus"] for t in answer["tasks"]] == ["RUNNING"]
    stored = describe(ecs, cluster, task["taskArn"])
    assert stored["lastStatus"] == "RUNNING"
    assert stored["startedAt"].timestamp() == 101.0
    assert stored["containers"][0]["runtimeId"] == "c-9"


def test_a_poll_carrying_a_refused_report_answers_at_once(ecs: Any, server: ServerProcess) -> None:
    # The long-poll would wait 20 s; a client that gives up after 10 s proves it did not.
    impatient = agent_client(server, read_timeout=10)
    cluster = make_cluster(ecs)
    arn = register_instance(ecs, cluster)["containerInstanceArn"]
    known = poll(impatient, cluster, arn)["revision"]
    answer = poll(
        impatient,
        cluster,
        arn,
        knownRevision=known,
        waitSeconds=20,
        reports=[{"task": GHOST, "lastStatus": "RUNNING"}],
    )
    assert answer["revision"] == known
    [result] = answer["reportResults"]
    assert result["task"] == GHOST and result["errorCode"] == "ClientException"
    assert "acknowledgment" not in result
