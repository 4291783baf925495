"""The container runtime boundary: the one interface between the host agent and a container engine.

Like Nomad's task-driver plugin, everything the agent does to containers goes through
`ContainerRuntime`: make sure an image is present, create/start/stop/remove a container, inspect
it, wait for it, run a command in it (exec: Kubernetes exec probes), read its stats and logs,
find the containers it labelled (recovery after an agent restart), watch engine events, manage
the bridge networks that awsvpc tasks live on, and hold a Fargate task's containers in one
cgroup limited to the task's size.

Two implementations exist: `stowage.runtime.docker.DockerRuntime` (the product: the Docker
Engine API, also Podman's compatible socket) and `stowage.runtime.fake.FakeRuntime` (in-memory,
for scale tests). This module holds only data types, the exception hierarchy and the Protocol,
so the agent can depend on it without importing either implementation.

All values are engine-neutral dataclasses: no Docker JSON leaks through this boundary.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from stowage.runtime.exec_stream import ExecStream

# -- what to run ----------------------------------------------------------------------------------

Protocol_ = Literal["tcp", "udp"]
LogStream = Literal["stdout", "stderr"]


@dataclass(frozen=True, slots=True)
class PortBinding:
    """Publish `container_port` on the host. `host_port` None (or 0) lets the engine pick a free
    ephemeral port: ECS's dynamic host port. `host_ip` "" binds every host address."""

    container_port: int
    host_port: int | None = None
    protocol: Protocol_ = "tcp"
    host_ip: str = ""


@dataclass(frozen=True, slots=True)
class Mount:
    """A filesystem mount. `bind`: `source` is a host path. `volume`: `source` is a named volume
    (created on demand by the engine). `tmpfs`: in-memory, `size_bytes` caps it."""

    type: Literal["bind", "volume", "tmpfs"]
    target: str
    source: str = ""
    read_only: bool = False
    size_bytes: int | None = None
    volume_labels: Mapping[str, str] = field(default_factory=dict)  # set when the engine creates it


@dataclass(frozen=True, slots=True)
class Ulimit:
    name: str
    soft: int
    hard: int


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """A container health check, in ECS's terms. `command` is ECS's/Docker's form:
    ("CMD-SHELL", "wget -q -O- localhost") or ("CMD", "/bin/check", "arg"). Defaults are ECS's."""

    command: tuple[str, ...]
    interval_s: float = 30.0
    timeout_s: float = 5.0
    retries: int = 3
    start_period_s: float = 0.0


@dataclass(frozen=True, slots=True)
class LogConfig:
    """The engine's log driver. The agent ships `awslogs` itself, so it keeps the engine on a
    readable driver (json-file / local) and reads logs through `ContainerRuntime.logs`."""

    driver: str = "json-file"
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    """Everything an ECS container definition (plus the agent's own bookkeeping) maps to.

    Sizes are bytes, times seconds. `network` is "bridge", "host", "none", "container:<id>" (join
    another container's network namespace: awsvpc) or the name of a user-defined network.
    `ipv4_address` asks for a fixed address on a user-defined network. `volumes_from` entries
    are container ids, optionally suffixed ":ro". Mapping fields must be treated as read-only.
    """

    image: str
    name: str = ""
    command: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    working_dir: str = ""
    user: str = ""
    hostname: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    # resources
    cpu_shares: int | None = None
    nano_cpus: int | None = None  # hard CPU cap (task-level cpu for Fargate/awsvpc), 1e9 = 1 vCPU
    memory_bytes: int | None = None  # hard limit: exceeding it gets the container OOM-killed
    memory_reservation_bytes: int | None = None  # soft limit
    memory_swap_bytes: int | None = None
    shm_size_bytes: int | None = None
    ulimits: tuple[Ulimit, ...] = ()
    # security / process
    readonly_rootfs: bool = False
    privileged: bool = False
    init: bool = False
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    security_opt: tuple[str, ...] = ()
    sysctls: Mapping[str, str] = field(default_factory=dict)
    tty: bool = False
    interactive: bool = False
    # storage
    mounts: tuple[Mount, ...] = ()
    volumes_from: tuple[str, ...] = ()
    # network
    network: str = "bridge"
    ipv4_address: str | None = None
    network_aliases: tuple[str, ...] = ()
    port_bindings: tuple[PortBinding, ...] = ()
    extra_hosts: Mapping[str, str] = field(default_factory=dict)  # hostname -> ip
    dns_servers: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    # lifecycle
    healthcheck: HealthCheck | None = None
    stop_signal: str = ""  # "" = the image's (SIGTERM by default)
    stop_timeout_s: int | None = None
    log: LogConfig = field(default_factory=LogConfig)
    # isolation (Fargate tasks)
    cgroup_parent: str = ""  # "" = the engine's default; else a `task_cgroup_parent` answer
    storage_size_bytes: int | None = None  # cap on the writable layer (engine permitting)


@dataclass(frozen=True, slots=True)
class NetworkSpec:
    """A user-defined bridge network, e.g. the one awsvpc tasks get their private IPv4 from."""

    name: str
    subnet: str  # CIDR, e.g. "172.30.0.0/24"
    gateway: str = ""  # "" = the first host address of the subnet
    labels: Mapping[str, str] = field(default_factory=dict)
    internal: bool = False  # no route out of the host


@dataclass(frozen=True, slots=True)
class TaskLimits:
    """Limits on a whole task: all its containers together, as one cgroup. None = unlimited."""

    nano_cpus: int | None = None  # 1e9 = 1 vCPU (the cgroup's cpu quota over its period)
    memory_bytes: int | None = None


# -- what the engine reports ----------------------------------------------------------------------


class ContainerStatus(StrEnum):
    """The engine's container states (Docker's and Podman's names)."""

    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    RESTARTING = "restarting"
    REMOVING = "removing"
    EXITED = "exited"
    DEAD = "dead"


class HealthStatus(StrEnum):
    """NONE means the container has no health check (ECS then reports UNKNOWN)."""

    NONE = "none"
    STARTING = "starting"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


@dataclass(frozen=True, slots=True)
class PublishedPort:
    """A port the engine actually published: ECS's `networkBindings` entry."""

    container_port: int
    protocol: Protocol_
    host_ip: str
    host_port: int


@dataclass(frozen=True, slots=True)
class ContainerState:
    id: str
    name: str
    image: str  # the reference the container was created from
    image_id: str
    labels: Mapping[str, str]
    status: ContainerStatus
    exit_code: int | None  # None until the container has exited
    oom_killed: bool
    error: str  # the engine's error for a container that failed to start, else ""
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    health: HealthStatus
    ip_addresses: Mapping[str, str]  # network name -> IPv4
    ports: tuple[PublishedPort, ...]
    pid: int  # 0 when not running
    mac_addresses: Mapping[str, str] = field(default_factory=dict)  # network name -> MAC

    @property
    def running(self) -> bool:
        return self.status in (ContainerStatus.RUNNING, ContainerStatus.PAUSED, ContainerStatus.RESTARTING)


@dataclass(frozen=True, slots=True)
class ExitInfo:
    exit_code: int
    oom_killed: bool
    error: str = ""


@dataclass(frozen=True, slots=True)
class ExecResult:
    """How a command run in a container (`ContainerRuntime.exec`) ended."""

    exit_code: int
    output: str  # stdout and stderr as they came, at most EXEC_OUTPUT_LIMIT bytes (decoded)


EXEC_OUTPUT_LIMIT = 10 * 1024
"""The most output `exec` keeps: the kubelet keeps 10 KiB of a probe's output too."""


@dataclass(frozen=True, slots=True)
class ImageResult:
    ref: str
    image_id: str
    pulled: bool  # False when the image was already present


@dataclass(frozen=True, slots=True)
class ContainerStats:
    """One sample. CPU counters are cumulative; use `cpu_fraction` between two samples."""

    read_at: datetime
    cpu_usage_ns: int  # total CPU time used by the container
    system_cpu_usage_ns: int  # host CPU time (all cores) at the same moment; 0 if unknown
    online_cpus: int
    memory_usage_bytes: int  # working set: usage minus inactive page cache (what `docker stats` shows)
    memory_limit_bytes: int  # the cgroup limit (host memory when unlimited)
    memory_rss_bytes: int
    memory_cache_bytes: int
    network_rx_bytes: int
    network_tx_bytes: int
    block_read_bytes: int
    block_write_bytes: int
    pids: int


def cpu_fraction(prev: ContainerStats, cur: ContainerStats) -> float:
    """CPU used between two samples as a fraction of one core (1.0 = one full core, the ECS
    agent's cpu units / 1024). Falls back to wall-clock time when host counters are unknown."""
    used = cur.cpu_usage_ns - prev.cpu_usage_ns
    if used <= 0:
        return 0.0
    system = cur.system_cpu_usage_ns - prev.system_cpu_usage_ns
    if system > 0 and cur.online_cpus > 0:
        return used / system * cur.online_cpus
    wall = (cur.read_at - prev.read_at).total_seconds() * 1e9
    return used / wall if wall > 0 else 0.0


@dataclass(frozen=True, slots=True)
class LogLine:
    timestamp: datetime
    stream: LogStream
    line: str  # without the trailing newline


@dataclass(frozen=True, slots=True)
class NetworkInfo:
    id: str
    name: str
    subnet: str
    gateway: str


EventKind = Literal["create", "start", "die", "oom", "health", "destroy", "kill", "stop"]


@dataclass(frozen=True, slots=True)
class RuntimeEvent:
    kind: EventKind
    container_id: str
    time: datetime
    labels: Mapping[str, str]
    exit_code: int | None = None  # for "die"
    health: HealthStatus | None = None  # for "health"


# -- errors ---------------------------------------------------------------------------------------


class ContainerRuntimeError(Exception):
    """Base of every runtime error. `message` is the engine's own words when there are any."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class EngineUnavailableError(ContainerRuntimeError):
    """The engine cannot be reached (socket missing, daemon down)."""


class ImagePullError(ContainerRuntimeError):
    """An image is not present and pulling it failed: ECS's CannotPullContainerError."""

    def __init__(self, ref: str, message: str) -> None:
        super().__init__(f"pull image {ref!r}: {message}")
        self.ref = ref
        self.engine_message = message


class ImageNotFoundError(ContainerRuntimeError):
    """create() was given an image that is not present (call ensure_image first)."""


class ContainerNotFoundError(ContainerRuntimeError):
    pass


class ContainerConflictError(ContainerRuntimeError):
    """The name is taken, or the container is in a state that forbids the operation."""


class InvalidSpecError(ContainerRuntimeError):
    """The engine rejected the container spec (bad ulimit, unknown network, ...)."""


class StorageQuotaUnsupportedError(InvalidSpecError):
    """The engine refused `ContainerSpec.storage_size_bytes`: its storage driver has no quota
    (overlay2 needs xfs mounted with pquota). The same spec without the size would be accepted."""


class TaskCgroupUnsupportedError(ContainerRuntimeError):
    """This engine's containers cannot share one limited task cgroup from here (rootless engine,
    a remote engine, cgroups not writable, ...); `message` says why."""


class ExecTimeoutError(ContainerRuntimeError):
    """`exec` gave up waiting for the command (which may still run in the container)."""


class ContainerStartError(ContainerRuntimeError):
    """The engine could not start the container (port taken, bad command, ...): ECS's
    CannotStartContainerError."""


# -- the boundary ---------------------------------------------------------------------------------


@runtime_checkable
class ContainerRuntime(Protocol):
    """What the agent needs from a container engine. Every method is a coroutine (or returns an
    async iterator); ids are the engine's container ids."""

    async def ensure_image(self, ref: str) -> ImageResult:
        """Use the local image if present, else pull it; raise ImagePullError on failure."""
        ...

    async def inspect_image(self, ref: str) -> str | None:
        """The id of the local image `ref`, or None if it is not present (never pulls)."""
        ...

    async def import_image(
        self,
        ref: str,
        rootfs_tar: bytes,
        *,
        cmd: tuple[str, ...] = (),
        entrypoint: tuple[str, ...] = (),
        labels: Mapping[str, str] | None = None,
    ) -> str:
        """Create an image from a root filesystem tarball (`docker import`); returns its id.
        How images get onto a host with no registry (the pause image, test images)."""
        ...

    async def remove_image(self, ref: str, *, force: bool = False) -> None:
        """Remove a local image; a missing one is a no-op."""
        ...

    async def create(self, spec: ContainerSpec) -> str: ...

    async def start(self, container_id: str) -> None: ...

    async def stop(self, container_id: str, timeout_s: float) -> None:
        """Send the stop signal (SIGTERM unless the spec says otherwise), SIGKILL after
        `timeout_s`. Returns once the container has stopped. Stopping a stopped one is a no-op."""
        ...

    async def kill(self, container_id: str, signal: str = "SIGKILL") -> None: ...

    async def remove(self, container_id: str, *, force: bool = False) -> None:
        """Remove the container and its anonymous volumes. Removing a missing one is a no-op."""
        ...

    async def inspect(self, container_id: str) -> ContainerState: ...

    async def wait(self, container_id: str) -> ExitInfo:
        """Block until the container is not running; return how it ended."""
        ...

    async def exec(
        self, container_id: str, command: Sequence[str], *, timeout_s: float | None = None
    ) -> ExecResult:
        """Run `command` in the running container (its namespaces, user and working directory)
        and wait for it. ContainerConflictError when the container is not running,
        ExecTimeoutError when it takes longer than `timeout_s`."""
        ...

    async def open_exec(
        self, container_id: str, command: Sequence[str], *, tty: bool, stdin: bool
    ) -> ExecStream:
        """Start `command` in the running container and stream it (``kubectl exec``)."""
        ...

    async def dial(self, container_id: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection to ``localhost:port`` in the running container's network namespace
        (``kubectl port-forward``); ContainerRuntimeError says why there is none."""
        ...

    async def stats(self, container_id: str) -> ContainerStats: ...

    def logs(
        self, container_id: str, *, since: datetime | None = None, follow: bool = False
    ) -> AsyncIterator[LogLine]:
        """The container's output, oldest first. With follow, runs until the container exits."""
        ...

    async def list(self, labels: Mapping[str, str]) -> list[ContainerState]:
        """Every container (running or not) carrying all of `labels`: recovery after a restart."""
        ...

    def events(
        self, labels: Mapping[str, str] | None = None, *, since: datetime | None = None
    ) -> AsyncIterator[RuntimeEvent]:
        """Container events (start, die, oom, health, ...) for containers carrying `labels`:
        those since `since` (the engine keeps a bounded history), then live ones. Runs until the
        consumer stops iterating."""
        ...

    async def ensure_network(self, spec: NetworkSpec) -> NetworkInfo:
        """Create the network if missing (idempotent); return it as it exists."""
        ...

    async def remove_network(self, name: str) -> None: ...

    async def remove_volume(self, name: str) -> None:
        """Remove a named volume (ECS task-scoped volumes, when the task is done); a missing one
        is a no-op."""
        ...

    async def task_cgroup_parent(self, key: str) -> str:
        """The cgroup parent every container of one task gets (`ContainerSpec.cgroup_parent`),
        named for the engine's cgroup driver; `key` names the task. Raise
        TaskCgroupUnsupportedError when the host cannot limit a task as a whole."""
        ...

    async def limit_task_cgroup(self, parent: str, limits: TaskLimits, *, member: str) -> TaskLimits:
        """Set `limits` on the task cgroup `parent`, which the engine made when it started
        `member` (a running container created with that parent: the awsvpc pause container);
        return the limits as the cgroup files read back. Idempotent. Raise
        TaskCgroupUnsupportedError when this host cannot see or write the engine's cgroups."""
        ...

    async def remove_task_cgroup(self, parent: str) -> None:
        """Remove the task cgroup once every container of the task has stopped; a missing or
        still busy one is left alone."""
        ...

    async def storage_quota_support(self) -> str | None:
        """None when `ContainerSpec.storage_size_bytes` can be enforced on this engine, else
        why not (the engine may still refuse it at create: StorageQuotaUnsupportedError)."""
        ...

    async def close(self) -> None: ...
