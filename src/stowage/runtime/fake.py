"""`FakeRuntime`: an in-memory ContainerRuntime for scale tests, benchmarks and simulated hosts.

Containers "run" instantly: start reads the command line (see `fake_program`) and either
exits at once with its output logged, or keeps "running" until stopped. State lives in a
`FakeEngine`, which outlives the runtime objects over it, as a Docker daemon outlives an agent:
a new `FakeRuntime(engine)` finds the containers an old one labelled (recovery tests).

Tests drive failures through the engine: `exit`, `crash`, `oom_kill`, `set_health`, `write_log`,
and what `exec` answers (`exec_handler`; else the command line is read as a program).
A container costs a few hundred bytes (slotted records; the spec is shared, logs only if any),
so one process can hold the containers of thousands of simulated hosts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime

from stowage.runtime.base import (
    ContainerConflictError,
    ContainerNotFoundError,
    ContainerRuntimeError,
    ContainerSpec,
    ContainerState,
    ContainerStats,
    ContainerStatus,
    ExecResult,
    ExitInfo,
    ImageNotFoundError,
    ImagePullError,
    ImageResult,
    InvalidSpecError,
    LogLine,
    NetworkInfo,
    NetworkSpec,
    RuntimeEvent,
    StorageQuotaUnsupportedError,
    TaskCgroupUnsupportedError,
    TaskLimits,
)
from stowage.runtime.exec_stream import ExecStream
from stowage.runtime.fake_engine import _MIB, FakeEngine, _Container, _new_id, _normalize


class FakeRuntime:
    """A ContainerRuntime over a FakeEngine (a fresh one unless given)."""

    def __init__(self, engine: FakeEngine | None = None) -> None:
        self.engine = engine or FakeEngine()

    async def close(self) -> None:
        return None

    async def inspect_image(self, ref: str) -> str | None:
        image = self.engine.images.get(_normalize(ref))
        return image.id if image else None

    async def ensure_image(self, ref: str) -> ImageResult:
        image = self.engine.images.get(_normalize(ref))
        if image is not None:
            return ImageResult(ref, image.id, pulled=False)
        cmd = self.engine.pullable.get(ref, self.engine.pullable.get(_normalize(ref)))
        if cmd is None:
            raise ImagePullError(
                ref,
                f"pull access denied for {ref.rpartition(':')[0] or ref}, repository does not exist "
                "or may require 'docker login'",
            )
        return ImageResult(ref, self.engine.add_image(ref, cmd), pulled=True)

    async def import_image(
        self,
        ref: str,
        rootfs_tar: bytes,
        *,
        cmd: tuple[str, ...] = (),
        entrypoint: tuple[str, ...] = (),
        labels: Mapping[str, str] | None = None,
    ) -> str:
        return self.engine.add_image(ref, cmd, entrypoint)

    async def remove_image(self, ref: str, *, force: bool = False) -> None:
        key = _normalize(ref)
        image = self.engine.images.get(key)
        if image is None:
            return
        in_use = any(c.image_id == image.id for c in self.engine.containers.values())
        if in_use and not force:
            raise ContainerConflictError(f"conflict: unable to remove repository reference {ref!r}")
        del self.engine.images[key]

    async def create(self, spec: ContainerSpec) -> str:
        e = self.engine
        image = e.images.get(_normalize(spec.image))
        if image is None:
            raise ImageNotFoundError(f"create container: No such image: {spec.image}")
        if spec.storage_size_bytes is not None and e.storage_quota_refusal is not None:
            e.storage_refused = True
            raise StorageQuotaUnsupportedError(f"create container: {e.storage_quota_refusal}")
        if spec.name and any(c.name == spec.name for c in e.containers.values()):
            raise ContainerConflictError(f'Conflict. The container name "/{spec.name}" is already in use')
        if spec.network.startswith("container:"):
            e._get(spec.network.partition(":")[2])
        elif spec.network not in ("bridge", "host", "none", "default") and spec.network not in e.networks:
            raise InvalidSpecError(f"create container: network {spec.network} not found")
        serial = next(e._serial)
        cid = _new_id(f"{id(e)}/{serial}")
        e.containers[cid] = _Container(cid, spec.name or f"fake_{serial}", spec, image.id, e.clock())
        e._emit("create", e.containers[cid])
        return cid

    async def start(self, container_id: str) -> None:
        c = self.engine._get(container_id)
        if c.status is ContainerStatus.RUNNING:
            return
        self.engine._start(c)

    async def stop(self, container_id: str, timeout_s: float) -> None:
        c = self.engine._get(container_id)
        if c.status is not ContainerStatus.RUNNING:
            return
        trap = c.program.on_term if c.program else None
        if trap is not None and c.spec.stop_signal in ("", "SIGTERM", "TERM", "15"):
            for stream, text in trap.output:
                self.engine._log(c, stream, text)
            self.engine._finish(c, trap.exit_code if trap.exit_code is not None else 143)
        else:  # the signal is ignored (PID 1) or fatal; either way SIGKILL ends it
            self.engine._emit("kill", c)
            self.engine._finish(c, 137)
        self.engine._emit("stop", c)

    async def kill(self, container_id: str, signal: str = "SIGKILL") -> None:
        c = self.engine._get(container_id)
        if c.status is not ContainerStatus.RUNNING:
            return
        if signal.upper().removeprefix("SIG") in ("TERM", "15"):
            trap = c.program.on_term if c.program else None
            if trap is not None:
                await self.stop(container_id, 0)
            return  # untrapped SIGTERM to PID 1 is ignored
        self.engine._emit("kill", c)
        self.engine._finish(c, 137)

    async def remove(self, container_id: str, *, force: bool = False) -> None:
        try:
            c = self.engine._get(container_id)
        except ContainerNotFoundError:
            return
        if c.status is ContainerStatus.RUNNING:
            if not force:
                raise ContainerConflictError(
                    f"You cannot remove a running container {c.id}. Stop the container before "
                    "attempting removal or force remove"
                )
            self.engine._finish(c, 137)
        del self.engine.containers[c.id]
        self.engine._emit("destroy", c)

    async def inspect(self, container_id: str) -> ContainerState:
        return self.engine._state(self.engine._get(container_id))

    async def wait(self, container_id: str) -> ExitInfo:
        c = self.engine._get(container_id)
        while c.status is ContainerStatus.RUNNING:
            await self.engine._until_changed(c)
        return ExitInfo(exit_code=c.exit_code or 0, oom_killed=c.oom_killed, error=c.error)

    async def open_exec(
        self, container_id: str, command: Sequence[str], *, tty: bool, stdin: bool
    ) -> ExecStream:
        self.engine._running(container_id)
        raise ContainerRuntimeError("interactive exec is not simulated: use a real engine")

    async def dial(self, container_id: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        self.engine._running(container_id)
        raise ContainerRuntimeError("port-forward is not simulated: use a real engine")

    async def exec(
        self, container_id: str, command: Sequence[str], *, timeout_s: float | None = None
    ) -> ExecResult:
        return self.engine._exec(self.engine._running(container_id), tuple(command))

    async def stats(self, container_id: str) -> ContainerStats:
        e = self.engine
        c = e._get(container_id)
        now = e.clock()
        running = c.status is ContainerStatus.RUNNING and c.started_at is not None
        limit = c.spec.memory_bytes or e.memory_bytes
        # Plausible and stable numbers: 2-9 MiB resident, 1% of a core since start.
        rss = (2 + int(c.id[:2], 16) % 8) * _MIB if running else 0
        elapsed_ns = int((now - c.started_at).total_seconds() * 1e9) if running and c.started_at else 0
        return ContainerStats(
            read_at=now,
            cpu_usage_ns=elapsed_ns // 100,
            system_cpu_usage_ns=int(now.timestamp() * 1e9) * e.cpus,
            online_cpus=e.cpus,
            memory_usage_bytes=min(rss, limit),
            memory_limit_bytes=limit,
            memory_rss_bytes=min(rss, limit),
            memory_cache_bytes=0,
            network_rx_bytes=0,
            network_tx_bytes=0,
            block_read_bytes=0,
            block_write_bytes=0,
            pids=1 if running else 0,
        )

    async def logs(
        self, container_id: str, *, since: datetime | None = None, follow: bool = False
    ) -> AsyncIterator[LogLine]:
        c = self.engine._get(container_id)
        sent = 0
        while True:
            lines = c.logs or []
            for line in lines[sent:]:
                if since is None or line.timestamp >= since:
                    yield line
            sent = len(lines)
            if not follow or c.status is not ContainerStatus.RUNNING:
                return
            await self.engine._until_changed(c)

    async def list(self, labels: Mapping[str, str]) -> list[ContainerState]:
        e = self.engine
        return [
            e._state(c)
            for c in e.containers.values()
            if all(c.spec.labels.get(k) == v for k, v in labels.items())
        ]

    async def events(
        self, labels: Mapping[str, str] | None = None, *, since: datetime | None = None
    ) -> AsyncIterator[RuntimeEvent]:
        queue: asyncio.Queue[RuntimeEvent] = asyncio.Queue()
        wanted = dict(labels or {})
        entry = (wanted, queue)
        if since is not None:
            for event in self.engine.history:
                if event.time >= since and all(event.labels.get(k) == v for k, v in wanted.items()):
                    queue.put_nowait(event)
        self.engine._subscribers.append(entry)
        try:
            while True:
                yield await queue.get()
        finally:
            self.engine._subscribers.remove(entry)

    async def ensure_network(self, spec: NetworkSpec) -> NetworkInfo:
        net = self.engine.networks.get(spec.name)
        return net.info if net is not None else self.engine._add_network(spec).info

    async def remove_network(self, name: str) -> None:
        net = self.engine.networks.get(name)
        if net is None:
            return
        if any(name in c.ips for c in self.engine.containers.values() if c.status is ContainerStatus.RUNNING):
            raise ContainerConflictError(f"error while removing network: network {name} has active endpoints")
        del self.engine.networks[name]

    async def remove_volume(self, name: str) -> None:
        return None  # the fake keeps no file systems

    async def task_cgroup_parent(self, key: str) -> str:
        if self.engine.task_cgroup_refusal is not None:
            raise TaskCgroupUnsupportedError(self.engine.task_cgroup_refusal)
        return f"/stowage/{key}"

    async def limit_task_cgroup(self, parent: str, limits: TaskLimits, *, member: str) -> TaskLimits:
        if self.engine.task_cgroup_refusal is not None:
            raise TaskCgroupUnsupportedError(self.engine.task_cgroup_refusal)
        c = self.engine._running(member)
        if c.spec.cgroup_parent != parent:
            raise TaskCgroupUnsupportedError(f"container {member[:12]} is not under {parent}")
        self.engine.task_cgroups[parent] = limits
        return limits

    async def remove_task_cgroup(self, parent: str) -> None:
        running = any(
            c.spec.cgroup_parent == parent and c.status is ContainerStatus.RUNNING
            for c in self.engine.containers.values()
        )
        if not running:
            self.engine.task_cgroups.pop(parent, None)

    async def storage_quota_support(self) -> str | None:
        e = self.engine
        return e.storage_quota_refusal if e.storage_refused else e.storage_quota_problem


__all__ = ["FakeEngine", "FakeRuntime"]
