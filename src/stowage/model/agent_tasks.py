"""What the control plane tells a host agent about one task: the ``spec`` of ``PollAssignments``.

The control plane builds a ``TaskSpec`` when it places a task; the agent decodes it and has
everything it needs to run the task without reading anything else (the task definition is
resolved and embedded, overrides included as given). Both sides import this module, so the
format has exactly one definition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

SPEC_VERSION = 1


@dataclass(frozen=True, slots=True)
class TaskNetwork:
    mode: str
    """bridge | host | none | awsvpc (the task definition's networkMode; ECS's default is
    bridge on EC2)."""
    attachment_id: str | None = None
    """For awsvpc: the ElasticNetworkInterface attachment id the agent reports details for."""
    subnets: list[str] = field(default_factory=list)
    security_groups: list[str] = field(default_factory=list)
    assign_public_ip: str | None = None


@dataclass(frozen=True, slots=True)
class TaskSpec:
    task_arn: str
    cluster_arn: str
    container_instance_arn: str
    task_definition_arn: str
    family: str
    revision: int
    task_definition: dict[str, Any]
    """The full ECS ``TaskDefinition`` document, as DescribeTaskDefinition returns it."""
    overrides: dict[str, Any]
    """The ECS ``TaskOverride`` given to RunTask/StartTask (``{}`` when none)."""
    launch_type: str
    network: TaskNetwork
    group: str | None = None
    started_by: str | None = None
    created_at: float = 0.0
    tags: list[dict[str, str]] = field(default_factory=list)
    enable_execute_command: bool = False
    capacity_provider: str | None = None
    """FARGATE or FARGATE_SPOT for a task on Fargate capacity (``launch_type`` is FARGATE then);
    None on EC2. The agent isolates Fargate tasks (see docs/fargate.md)."""
    volume_files: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Volume name → the files it holds (``{"path": relative path, "mode": permission bits,
    "data": base64}``): a Kubernetes configMap/secret/downwardAPI/projected volume, resolved by
    the control plane. The agent writes them to a per-task host directory, binds it (read-only,
    as the mount points say) instead of a scratch volume, and removes it with the task."""
    version: int = SPEC_VERSION

    def encode(self) -> str:
        # orjson serialises dataclasses itself (same members as asdict), without asdict's deep
        # copy of the embedded task definition: this runs once per placed task.
        return orjson.dumps(self).decode()

    @classmethod
    def decode(cls, text: str) -> TaskSpec:
        raw = orjson.loads(text)
        if not isinstance(raw, dict):
            raise ValueError("task spec is not a JSON object")
        network = TaskNetwork(**raw.pop("network"))
        return cls(network=network, **raw)

    def container_definitions(self) -> list[dict[str, Any]]:
        defs = self.task_definition.get("containerDefinitions", [])
        return list(defs) if isinstance(defs, list) else []

    def container_override(self, name: str) -> dict[str, Any]:
        for o in self.overrides.get("containerOverrides", []) or []:
            if isinstance(o, dict) and o.get("name") == name:
                return o
        return {}
