"""What the stowage agent reports beyond ECS's Container shape (restarts, a pod container's
probe state) is kept on the task record, apart from what DescribeTasks renders. Pure."""

from __future__ import annotations

import copy
from typing import Any

from stowage.model import tasks


def _task() -> dict[str, Any]:
    return {
        "taskArn": "arn:aws:ecs:us-east-1:123456789012:task/c/abc",
        "lastStatus": "RUNNING",
        "version": 3,
        "containers": [{"name": "app", "lastStatus": "RUNNING"}, {"name": "side", "lastStatus": "RUNNING"}],
    }


def test_private_members_are_kept_apart_and_replaced_by_each_report() -> None:
    doc = _task()
    before = copy.deepcopy(doc)
    exit_1 = {"exitCode": 1, "runtimeId": "c1", "finishedAt": 10.0}
    report = tasks.Report(
        containers=[
            {"name": "app", "lastStatus": "RUNNING", "runtimeId": "c2", "restartCount": 1, "lastExit": exit_1,
             "lifecycle": {"ready": False, "waitingReason": "CrashLoopBackOff", "backOffSeconds": 10}},
        ]
    )  # fmt: skip
    new = tasks.apply_report(doc, report, now=11.0)
    assert new is not None and doc == before  # the stored record is never changed in place
    assert new["containers"][0] == {"name": "app", "lastStatus": "RUNNING", "runtimeId": "c2"}
    private = tasks.private_container(new, "app")
    assert private == {
        "restartCount": 1,
        "lastExit": exit_1,
        "lifecycle": {"ready": False, "waitingReason": "CrashLoopBackOff", "backOffSeconds": 10},
    }
    assert tasks.private_container(new, "side") == {}
    later = tasks.apply_report(
        new,
        tasks.Report(containers=[{"name": "app", "startedAt": 12.0, "lifecycle": {"ready": True}}]),
        now=12.0,
    )
    assert later is not None
    assert tasks.private_container(later, "app")["lifecycle"] == {"ready": True}  # replaced whole
    assert tasks.private_container(later, "app")["restartCount"] == 1  # kept
    assert tasks.private_container(new, "app")["lifecycle"]["backOffSeconds"] == 10  # new untouched
    rendered = tasks.render(later)
    assert "_containers" not in rendered and set(rendered["containers"][0]) == {
        "name",
        "lastStatus",
        "runtimeId",
    }
