"""A fake host for service tests: polls its assignments over the stowage-agent API and reports
tasks RUNNING (or failing at once), and STOPPED when asked to stop. No Docker."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.api.ecs.task_support import agent_client, register_instance, report
from tests.support.server import ServerProcess


class FakeHost:
    def __init__(self, server: ServerProcess, ecs: Any, cluster: str, **kwargs: Any) -> None:
        self.agent = agent_client(server)
        self.cluster = cluster
        self.arn = register_instance(ecs, cluster, **kwargs)["containerInstanceArn"]
        self.fail: Callable[[dict[str, Any]], bool] = lambda _a: False
        self.silent = False
        self.health: str | None = None
        """Reported with RUNNING (for task definitions with container health checks)."""

    def step(self) -> int:
        """Act on the current assignments once; returns how many reports were sent."""
        if self.silent:
            return 0
        answer = self.agent.poll_assignments(cluster=self.cluster, containerInstance=self.arn, waitSeconds=0)
        sent = 0
        for a in answer["tasks"]:
            arn, last, desired = a["taskArn"], a.get("lastStatus"), a["desiredStatus"]
            if desired == "STOPPED" and last != "STOPPED":
                report(
                    self.agent, self.cluster, self.arn, arn, "STOPPED",
                    stopCode="ServiceSchedulerInitiated",
                    containers=[{"name": "app", "lastStatus": "STOPPED"}],
                )  # fmt: skip
                sent += 1
            elif desired == "RUNNING" and last in ("PENDING", "PROVISIONING", None):
                if self.fail(a):
                    report(
                        self.agent, self.cluster, self.arn, arn, "STOPPED",
                        stopCode="EssentialContainerExited", stoppedReason="Essential container exited",
                        containers=[{"name": "app", "lastStatus": "STOPPED", "exitCode": 1}],
                    )  # fmt: skip
                else:
                    health = {} if self.health is None else {"healthStatus": self.health}
                    report(
                        self.agent, self.cluster, self.arn, arn, "RUNNING", startedAt=time.time(),
                        containers=[{"name": "app", "lastStatus": "RUNNING", "runtimeId": "c-" + arn[-6:],
                                     **health}],
                        **health,
                    )  # fmt: skip
                sent += 1
        return sent


def drive(hosts: list[FakeHost], until: Callable[[], Any], within: float = 30.0) -> Any:
    """Step every host until ``until()`` is truthy."""
    deadline = time.monotonic() + within
    while True:
        for h in hosts:
            h.step()
        value = until()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out driving the fake hosts")
        time.sleep(0.05)


def service(ecs: Any, cluster: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = ecs.describe_services(cluster=cluster, services=[name], include=["TAGS"])[
        "services"
    ][0]
    return found


def steady(ecs: Any, cluster: str, name: str, count: int) -> dict[str, Any] | None:
    s = service(ecs, cluster, name)
    deps = s["deployments"]
    if len(deps) == 1 and s["runningCount"] == count and deps[0]["rolloutState"] == "COMPLETED":
        return s
    return None
