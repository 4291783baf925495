"""The labels the agent puts on every container it creates, and reading them back.

The ECS agent's own label names (``com.amazonaws.ecs.*``) carry the cluster, task ARN,
container name and task definition, so tools that know ECS hosts read ours too. The
``io.stowage.*`` ones are the agent's bookkeeping: which instance owns the container (two agents
may share one engine: each only ever lists, adopts or touches its own), whether it is a task
container or an awsvpc pause container, which restart of its container it is, and what to
remove with the task (its task-scoped volumes, a Fargate task's cgroup).
"""

from __future__ import annotations

from collections.abc import Mapping

CLUSTER = "com.amazonaws.ecs.cluster"
TASK_ARN = "com.amazonaws.ecs.task-arn"
CONTAINER_NAME = "com.amazonaws.ecs.container-name"
TASK_FAMILY = "com.amazonaws.ecs.task-definition-family"
TASK_VERSION = "com.amazonaws.ecs.task-definition-version"
MANAGED = "io.stowage.managed"
INSTANCE = "io.stowage.container-instance"
ROLE = "io.stowage.role"
TASK_VOLUMES = "io.stowage.task-volumes"
TASK_CGROUP = "io.stowage.task-cgroup"
"""A Fargate task's cgroup parent, on each of its containers: the cleanup pass removes it."""
ATTEMPT = "io.stowage.attempt"
"""On a restarted container: which restart of its task container it is (1, 2, ...): after an
agent restart the newest attempt is the container, and the count survives."""

ROLE_CONTAINER = "container"
ROLE_PAUSE = "pause"


def instance_selector(instance_arn: str) -> dict[str, str]:
    """The labels that select every container of one agent (for list/events)."""
    return {MANAGED: "1", INSTANCE: instance_arn}


def container_labels(
    *,
    cluster_arn: str,
    instance_arn: str,
    task_arn: str,
    family: str,
    revision: int,
    container_name: str,
    role: str = ROLE_CONTAINER,
    task_volumes: tuple[str, ...] = (),
    user_labels: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """User ``dockerLabels`` first; the agent's own win on a clash (they are its bookkeeping)."""
    labels = dict(user_labels or {})
    labels.update(
        {
            CLUSTER: cluster_arn,
            TASK_ARN: task_arn,
            CONTAINER_NAME: container_name,
            TASK_FAMILY: family,
            TASK_VERSION: str(revision),
            MANAGED: "1",
            INSTANCE: instance_arn,
            ROLE: role,
        }
    )
    if task_volumes:
        labels[TASK_VOLUMES] = ",".join(task_volumes)
    return labels


def task_volumes_of(labels: Mapping[str, str]) -> list[str]:
    raw = labels.get(TASK_VOLUMES, "")
    return [v for v in raw.split(",") if v]
