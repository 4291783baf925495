"""A Fargate task's sandbox on this host, as the task runner builds it step by step.

The runner owns the order; this owns the decisions and what is reported:

1. `cgroup_parent`, before the awsvpc pause container: the task's own cgroup parent (named by
   the runtime for the engine's cgroup driver), which every container of the task joins.
2. `enforce`, once the pause container runs (the engine has made the parent): the task's cpu
   quota and memory limit are written on the parent and read back. From then on the kernel caps
   all the task's containers together at the task size, whatever each one's own limit.
3. `container_spec`, before each container is created: the parent, and, when the host could not
   limit the task as a whole (rootless engine, remote engine, cgroups not writable), per-container
   limits that add up to the task size instead (`fargate.per_container_limits`), logged once.
4. Ephemeral storage: each container's writable layer gets the task's size as its quota where
   the storage driver has quotas; elsewhere it is dropped (logged once per agent) and the task
   reports the size as not enforced.
5. `release`, after the last container stopped: the parent is removed (the agent's cleanup pass
   retries from the containers' label if it was still busy).

`report` is the ``isolation`` member of the task's state reports: where cpu/memory are enforced
and at what size, and the ephemeral storage size and whether it is enforced.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from stowage.agent import fargate
from stowage.agent import labels as lbl
from stowage.model.agent_tasks import TaskSpec
from stowage.runtime.base import (
    ContainerRuntime,
    ContainerRuntimeError,
    ContainerSpec,
    TaskCgroupUnsupportedError,
    TaskLimits,
)

JSON = dict[str, Any]
log = logging.getLogger(__name__)

SCOPE_TASK = "TASK"
SCOPE_CONTAINER = "CONTAINER"
_MIB = 1024 * 1024


class FargateHost:
    """What this agent learned about its engine's isolation, each fact logged once."""

    def __init__(self, runtime: ContainerRuntime) -> None:
        self.runtime = runtime
        self._storage_problem: str | None = None
        self._storage_known = False
        self._logged: set[str] = set()

    def _once(self, level: int, message: str) -> None:
        if message not in self._logged:
            self._logged.add(message)
            log.log(level, "%s", message)

    async def storage_problem(self) -> str | None:
        """None while ephemeral storage quotas work on this engine, else why not."""
        if not self._storage_known:
            self._storage_problem = await self.runtime.storage_quota_support()
            self._storage_known = True
            if self._storage_problem is not None:
                self._note_storage()
        return self._storage_problem

    def storage_refused(self, message: str) -> None:
        self._storage_problem, self._storage_known = message, True
        self._note_storage()

    def _note_storage(self) -> None:
        self._once(
            logging.WARNING,
            f"Fargate ephemeral storage is reported but not enforced on this engine: {self._storage_problem}",
        )

    def cgroup_fallback(self, reason: str) -> None:
        self._once(
            logging.WARNING,
            f"Fargate task size enforced per container, not per task, on this engine: {reason}",
        )


class TaskIsolation:
    """The sandbox of one Fargate task (see the module docstring for the order of steps)."""

    def __init__(self, spec: TaskSpec, size: fargate.TaskSize, host: FargateHost) -> None:
        self.spec = spec
        self.size = size
        self.host = host
        self.parent: str | None = None
        """The task's cgroup parent; None until chosen, "" when the host has none to give."""
        self.scope: str | None = None
        """SCOPE_TASK or SCOPE_CONTAINER once decided."""
        self.enforced: TaskLimits | None = None
        self.reason = ""
        self.storage_problem: str | None = None
        self._storage_checked = False
        self._split: dict[str, TaskLimits] | None = None

    @property
    def key(self) -> str:
        return self.spec.task_arn.rsplit("/", 1)[-1]

    def adopt(self, labels: Mapping[str, str]) -> None:
        """After an agent restart: the parent the task's containers were created with."""
        parent = labels.get(lbl.TASK_CGROUP, "")
        if parent and self.parent is None:
            self.parent = parent

    async def cgroup_parent(self, runtime: ContainerRuntime) -> str:
        if self.parent is None:
            try:
                self.parent = await runtime.task_cgroup_parent(self.key)
            except TaskCgroupUnsupportedError as exc:
                self.parent = ""
                self._fall_back(exc.message)
        return self.parent

    async def enforce(self, runtime: ContainerRuntime, pause_id: str) -> None:
        """Limit the task cgroup now that the pause container runs in it (idempotent)."""
        if self.scope is not None:
            return
        if not self.parent:
            self._fall_back(self.reason or "the task has no cgroup of its own")
            return
        try:
            self.enforced = await runtime.limit_task_cgroup(self.parent, self.size.limits, member=pause_id)
        except TaskCgroupUnsupportedError as exc:
            self._fall_back(exc.message)
            return
        self.scope = SCOPE_TASK
        log.info(
            "task %s: cgroup %s limited to %s cpu units, %s MiB",
            self.key,
            self.parent,
            fargate.cpu_units(self.enforced.nano_cpus) if self.enforced.nano_cpus else "unlimited",
            self.enforced.memory_bytes // _MIB if self.enforced.memory_bytes else "unlimited",
        )

    def _fall_back(self, reason: str) -> None:
        self.scope = SCOPE_CONTAINER
        self.reason = reason
        self._split = fargate.per_container_limits(self.spec, self.size)
        total_cpu = sum(lim.nano_cpus or 0 for lim in self._split.values())
        total_mem = sum(lim.memory_bytes or 0 for lim in self._split.values())
        self.enforced = TaskLimits(nano_cpus=total_cpu or None, memory_bytes=total_mem or None)
        self.host.cgroup_fallback(reason)
        log.info("task %s: limits set per container (%s)", self.key, reason)

    async def check_storage(self) -> None:
        if not self._storage_checked:
            self.storage_problem = await self.host.storage_problem()
            self._storage_checked = True

    def storage_refused(self, message: str) -> None:
        """The engine refused the quota at create: drop it for this task and every later one."""
        self.storage_problem = message
        self._storage_checked = True
        self.host.storage_refused(message)

    def container_spec(self, name: str, container: ContainerSpec) -> ContainerSpec:
        """``container`` (already Fargate-hardened by the translation) placed in the task's
        sandbox as far as this host allows."""
        out = container
        if self.parent:
            out = replace(out, cgroup_parent=self.parent, labels={**out.labels, lbl.TASK_CGROUP: self.parent})
        if self.scope == SCOPE_CONTAINER and self._split is not None and name in self._split:
            limits = self._split[name]
            reservation = out.memory_reservation_bytes
            if reservation is not None and limits.memory_bytes is not None:
                reservation = min(reservation, limits.memory_bytes)
            out = replace(
                out,
                nano_cpus=limits.nano_cpus,
                memory_bytes=limits.memory_bytes,
                memory_reservation_bytes=reservation,
                memory_swap_bytes=None,
            )
        if self.storage_problem is not None:
            out = replace(out, storage_size_bytes=None)
        return out

    def pause_labels(self, labels: dict[str, str]) -> dict[str, str]:
        return {**labels, lbl.TASK_CGROUP: self.parent} if self.parent else labels

    def report(self) -> JSON | None:
        """The ``isolation`` member of a state report; None until the limits are decided."""
        if self.scope is None or not self._storage_checked:
            return None
        out: JSON = {
            "scope": self.scope,
            "ephemeralStorageGiB": self.size.ephemeral_storage_gib,
            "ephemeralStorageEnforced": self.storage_problem is None,
        }
        if self.enforced is not None and self.enforced.nano_cpus:
            out["cpu"] = fargate.cpu_units(self.enforced.nano_cpus)
        if self.enforced is not None and self.enforced.memory_bytes:
            out["memory"] = self.enforced.memory_bytes // _MIB
        if self.scope == SCOPE_TASK and self.parent:
            out["cgroupParent"] = self.parent
        if self.reason:
            out["reason"] = self.reason[:1024]
        if self.storage_problem is not None:
            out["ephemeralStorageReason"] = self.storage_problem[:1024]
        return out

    async def release(self, runtime: ContainerRuntime) -> None:
        if self.parent:
            with contextlib.suppress(ContainerRuntimeError):
                await runtime.remove_task_cgroup(self.parent)
