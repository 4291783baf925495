"""Where the tags of a taggable ECS resource live: from a resource ARN to its record key.

Every taggable record keeps its tags in a top-level ``tags`` list of ``{"key", "value"}``
(clusters, capacity providers, task definitions; services, tasks and container instances
when they arrive). Resource families register their key function in ``_KEYS``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from stowage.model.arns import Arn
from stowage.resources import ecs_keys

_TASK_DEFINITION = re.compile(r"^(?P<family>[A-Za-z0-9_-]{1,255}):(?P<revision>[1-9][0-9]{0,9})$")
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


@dataclass(frozen=True, slots=True)
class Taggable:
    kind: str
    """The ARN's resource type: ``cluster``, ``task-definition``, ``capacity-provider``, ..."""
    name: str
    """The resource's id within its type (``web:3`` for a task definition)."""
    key: str | None
    """The record key, or None for a resource family that has no records yet."""


def _cluster(account: str, region: str, rid: str) -> str | None:
    return ecs_keys.cluster(account, region, rid) if _NAME.match(rid) else None


def _capacity_provider(account: str, region: str, rid: str) -> str | None:
    return ecs_keys.capacity_provider(account, region, rid) if _NAME.match(rid) else None


def _task_definition(account: str, region: str, rid: str) -> str | None:
    m = _TASK_DEFINITION.match(rid)
    if m is None:
        return None
    return ecs_keys.task_definition(account, region, m["family"], int(m["revision"]))


def _in_cluster(key: Callable[[str, str, str, str], str]) -> Callable[[str, str, str], str | None]:
    """Resources named ``cluster/id`` in their ARN (tasks, container instances)."""

    def lookup(account: str, region: str, rid: str) -> str | None:
        cluster, _, ident = rid.partition("/")
        if not _NAME.match(cluster) or not _NAME.match(ident):
            return None
        return key(account, region, cluster, ident)

    return lookup


_KEYS: dict[str, Callable[[str, str, str], str | None]] = {
    "cluster": _cluster,
    "capacity-provider": _capacity_provider,
    "task-definition": _task_definition,
    "task": _in_cluster(ecs_keys.task),
    "container-instance": _in_cluster(ecs_keys.container_instance),
    "service": _in_cluster(ecs_keys.service),
}

# ECS resource types that carry tags but whose records other code owns; until a key function
# is registered for them, their ARNs are well-formed but name nothing.
_PENDING = frozenset({"task-set"})


def taggable(arn: Arn) -> Taggable | None:
    """The taggable resource an ECS ARN names, or None if the ARN cannot name one."""
    rid = arn.resource_id
    if not rid:
        return None
    kind = arn.resource_type
    if kind in _KEYS:
        key = _KEYS[kind](arn.account, arn.region, rid)
        return None if key is None else Taggable(kind, rid, key)
    if kind in _PENDING:
        return Taggable(kind, rid, None)
    return None
