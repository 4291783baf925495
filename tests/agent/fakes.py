"""An in-memory control plane for the agent's unit tests: the agent channel's contract, no HTTP.

It answers RegisterContainerInstance, PollAssignments (long-poll on a revision), SubmitTaskState,
ReportStats and the three Logs calls the agent makes, and records everything it was told. Tests
assign tasks with `assign`, stop them with `stop`, and take it "down" (`available = False`) to
see the agent ride out an outage. End-to-end tests use the real server instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from stowage.client import ApiError, EndpointUnavailableError
from stowage.model.agent_tasks import TaskNetwork, TaskSpec

JSON = dict[str, Any]
REGION = "us-east-1"
ACCOUNT = "123456789012"


@dataclass
class FakeTask:
    arn: str
    spec: TaskSpec
    instance: str
    desired: str = "RUNNING"
    last: str = "PROVISIONING"
    reports: list[JSON] = field(default_factory=list)

    @property
    def state(self) -> JSON:
        return self.reports[-1] if self.reports else {}

    def container(self, name: str) -> JSON:
        return next(c for c in self.state.get("containers", []) if c["name"] == name)

    def statuses(self) -> list[str]:
        return [r["lastStatus"] for r in self.reports]


class FakeControlPlane:
    def __init__(self, cluster: str = "default") -> None:
        self.cluster = cluster
        self.available = True
        self.instances: dict[str, JSON] = {}
        self.registrations: list[JSON] = []
        self.tasks: dict[str, FakeTask] = {}
        self.revision = 1
        self._changed = asyncio.Condition()
        self.polls = 0
        self.stats: list[JSON] = []
        self.groups: dict[str, dict[str, list[JSON]]] = {}
        self.refuse_task_reports = False

    def _check(self) -> None:
        if not self.available:
            raise EndpointUnavailableError("connection refused (fake control plane is down)")

    async def _bump(self) -> None:
        self.revision += 1
        async with self._changed:
            self._changed.notify_all()

    # -- test controls ------------------------------------------------------------------------

    def task_definition(self, *containers: JSON, **extra: Any) -> JSON:
        return {"family": "fam", "revision": 1, "containerDefinitions": list(containers), **extra}

    async def assign(
        self,
        instance: str,
        td: JSON,
        *,
        overrides: JSON | None = None,
        launch_type: str = "EC2",
        capacity_provider: str | None = None,
        subnets: Sequence[str] = (),
        volume_files: dict[str, list[JSON]] | None = None,
    ) -> FakeTask:
        tid = uuid.uuid4().hex
        arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{self.cluster}/{tid}"
        mode = td.get("networkMode", "bridge")
        spec = TaskSpec(
            task_arn=arn,
            cluster_arn=f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{self.cluster}",
            container_instance_arn=instance,
            task_definition_arn=f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{td['family']}:1",
            family=td["family"],
            revision=int(td.get("revision", 1)),
            task_definition=td,
            overrides=overrides or {},
            launch_type=launch_type,
            capacity_provider=capacity_provider,
            network=TaskNetwork(
                mode=mode,
                attachment_id=str(uuid.uuid4()) if mode == "awsvpc" else None,
                subnets=list(subnets),
            ),
            volume_files=volume_files or {},
        )
        task = FakeTask(arn, spec, instance)
        self.tasks[arn] = task
        await self._bump()
        return task

    async def stop(self, task: FakeTask) -> None:
        task.desired = "STOPPED"
        await self._bump()

    async def unassign(self, task: FakeTask) -> None:
        del self.tasks[task.arn]
        await self._bump()

    async def go_down(self) -> None:
        self.available = False
        async with self._changed:
            self._changed.notify_all()  # long-polls in progress fail, as a dropped connection

    def come_back(self) -> None:
        self.available = True

    def events(self, group: str, stream: str) -> list[str]:
        return [e["message"] for e in self.groups.get(group, {}).get(stream, [])]

    # -- the ControlPlane protocol --------------------------------------------------------------

    async def register(self, request: JSON) -> JSON:
        self._check()
        self.registrations.append(request)
        arn = request.get("containerInstanceArn") or (
            f"arn:aws:ecs:{REGION}:{ACCOUNT}:container-instance/{self.cluster}/{uuid.uuid4().hex}"
        )
        self.instances[arn] = {"containerInstanceArn": arn, **request}
        return {"containerInstanceArn": arn, "status": "ACTIVE"}

    async def poll(self, cluster: str, instance: str, known_revision: int | None, wait_s: int) -> JSON:
        self._check()
        self.polls += 1
        if known_revision == self.revision and wait_s > 0:
            async with self._changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._changed.wait_for(lambda: self.revision != known_revision or not self.available),
                        wait_s,
                    )
            self._check()
        return {
            "revision": self.revision,
            "instanceStatus": "ACTIVE",
            "heartbeatIntervalSeconds": 30,
            "tasks": [
                {"taskArn": t.arn, "desiredStatus": t.desired, "lastStatus": t.last, "spec": t.spec.encode()}
                for t in self.tasks.values()
                if t.instance == instance
            ],
        }

    async def submit_task_state(self, report: JSON) -> None:
        self._check()
        task = self.tasks.get(report["task"])
        if task is None or self.refuse_task_reports:
            raise ApiError("InvalidParameterException", "task not found", 400)
        task.reports.append(report)
        task.last = report["lastStatus"]
        if task.last == "STOPPED":
            task.desired = "STOPPED"

    async def report_stats(self, cluster: str, instance: str, samples: Sequence[JSON]) -> None:
        self._check()
        self.stats.extend(samples)

    async def create_log_group(self, group: str) -> None:
        self._check()
        if group in self.groups:
            raise ApiError("ResourceAlreadyExistsException", "The specified log group already exists", 400)
        self.groups[group] = {}

    async def create_log_stream(self, group: str, stream: str) -> None:
        self._check()
        if group not in self.groups:
            raise ApiError("ResourceNotFoundException", "The specified log group does not exist.", 400)
        if stream in self.groups[group]:
            raise ApiError("ResourceAlreadyExistsException", "The specified log stream already exists", 400)
        self.groups[group][stream] = []

    async def put_log_events(self, group: str, stream: str, events: Sequence[JSON]) -> None:
        self._check()
        if stream not in self.groups.get(group, {}):
            raise ApiError("ResourceNotFoundException", "The specified log stream does not exist.", 400)
        self.groups[group][stream].extend(events)
