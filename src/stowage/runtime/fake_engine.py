"""The state behind `FakeRuntime`: a simulated container daemon (`FakeEngine`) and its records.

It outlives the runtime objects over it, as a Docker daemon outlives an agent. Its public methods
(`exit`, `crash`, `oom_kill`, `set_health`, `write_log`, `add_image`) and `exec_handler` are
the test controls;
the underscored ones are for `stowage.runtime.fake` only.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import itertools
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from stowage.runtime.base import (
    ContainerConflictError,
    ContainerNotFoundError,
    ContainerSpec,
    ContainerStartError,
    ContainerState,
    ContainerStatus,
    EventKind,
    ExecResult,
    ExecTimeoutError,
    HealthStatus,
    InvalidSpecError,
    LogLine,
    LogStream,
    NetworkInfo,
    NetworkSpec,
    PublishedPort,
    RuntimeEvent,
    TaskLimits,
)
from stowage.runtime.fake_program import Program, read_program

_MIB = 1024 * 1024
_EVENT_HISTORY = 1000
_EPHEMERAL_PORTS = (32768, 60999)  # Linux's default ip_local_port_range, what Docker draws from
_BRIDGE = NetworkSpec(name="bridge", subnet="172.17.0.0/16")


@dataclass(slots=True)
class _Image:
    id: str
    cmd: tuple[str, ...]
    entrypoint: tuple[str, ...] = ()


@dataclass(slots=True)
class _Network:
    info: NetworkInfo
    hosts: ipaddress.IPv4Network
    used: set[int] = field(default_factory=set)

    def allocate(self, wanted: str | None) -> str:
        base = int(self.hosts.network_address)
        if wanted:
            offset = int(ipaddress.IPv4Address(wanted)) - base
            if offset in self.used:
                raise ContainerStartError(f"Address already in use: {wanted}")
        else:
            last = self.hosts.num_addresses - 1
            offset = next((o for o in range(2, last) if o not in self.used), -1)
            if offset < 0:
                raise ContainerStartError(f"no available IPv4 addresses on network {self.info.name}")
        self.used.add(offset)
        return str(ipaddress.IPv4Address(base + offset))

    def release(self, ip: str) -> None:
        self.used.discard(int(ipaddress.IPv4Address(ip)) - int(self.hosts.network_address))


class _Container:
    __slots__ = (
        "changed",
        "created_at",
        "error",
        "exit_code",
        "finished_at",
        "health",
        "id",
        "image_id",
        "ips",
        "logs",
        "name",
        "oom_killed",
        "ports",
        "program",
        "spec",
        "started_at",
        "status",
    )

    def __init__(self, cid: str, name: str, spec: ContainerSpec, image_id: str, now: datetime) -> None:
        self.id = cid
        self.name = name
        self.spec = spec
        self.image_id = image_id
        self.status = ContainerStatus.CREATED
        self.exit_code: int | None = None
        self.oom_killed = False
        self.error = ""
        self.created_at = now
        self.started_at: datetime | None = None
        self.finished_at: datetime | None = None
        self.health = HealthStatus.NONE
        self.ips: dict[str, str] = {}
        self.ports: tuple[PublishedPort, ...] = ()
        self.program: Program | None = None
        self.logs: list[LogLine] | None = None
        self.changed: asyncio.Event | None = None  # set (and dropped) on every state/log change


class FakeEngine:
    """The simulated daemon: containers, images and networks of one (simulated) host."""

    def __init__(
        self,
        *,
        images: Mapping[str, tuple[str, ...]] | None = None,
        pullable: Mapping[str, tuple[str, ...]] | None = None,
        clock: Callable[[], datetime] | None = None,
        memory_bytes: int = 16 * 1024 * _MIB,
        cpus: int = 2,
    ) -> None:
        """`images`: present locally (ref -> default command); `pullable`: what a pull finds."""
        self.clock = clock or (lambda: datetime.now(UTC))
        self.memory_bytes = memory_bytes
        self.cpus = cpus
        self.containers: dict[str, _Container] = {}
        self.images: dict[str, _Image] = {}
        self.pullable = dict(pullable or {})
        self.networks: dict[str, _Network] = {}
        self._serial = itertools.count(1)
        self._next_port = _EPHEMERAL_PORTS[0]
        # recent events, for events(since=...) as the Docker daemon keeps them
        self.history: deque[RuntimeEvent] = deque(maxlen=_EVENT_HISTORY)
        self._subscribers: list[tuple[Mapping[str, str], asyncio.Queue[RuntimeEvent]]] = []
        # Fargate isolation: the task cgroups made (parent -> limits), and test controls that
        # make the engine one that cannot limit tasks, whose storage driver has no quota (as
        # its /info tells), or that refuses a quota only at create (as overlay2 on xfs without
        # pquota does): each a reason.
        self.task_cgroups: dict[str, TaskLimits] = {}
        self.task_cgroup_refusal: str | None = None
        self.storage_quota_problem: str | None = None
        self.storage_quota_refusal: str | None = None
        self.storage_refused = False  # a create was refused for its quota
        # exec: what a command run in a container answers. The handler (container id, argv)
        # decides first (None: no opinion); otherwise the command line is read as a program
        # (`fake_program`), and one that would block counts as timed out.
        self.exec_handler: Callable[[str, tuple[str, ...]], ExecResult | None] | None = None
        self.exec_count = 0
        for ref, cmd in (images or {}).items():
            self.add_image(ref, cmd)
        self._add_network(_BRIDGE)

    # -- test controls ------------------------------------------------------------------------

    def add_image(self, ref: str, cmd: tuple[str, ...] = (), entrypoint: tuple[str, ...] = ()) -> str:
        image_id = "sha256:" + hashlib.sha256(f"{ref}{cmd}{entrypoint}".encode()).hexdigest()
        self.images[_normalize(ref)] = _Image(image_id, tuple(cmd), tuple(entrypoint))
        return image_id

    def exit(self, container_id: str, code: int) -> None:
        """The container's process exits with `code`."""
        self._finish(self._running(container_id), code)

    def crash(self, container_id: str, code: int = 139) -> None:
        """The process dies abnormally (default: SIGSEGV's 128+11)."""
        self._finish(self._running(container_id), code)

    def oom_kill(self, container_id: str) -> None:
        """The kernel's OOM killer ends the container, as it does when it passes its limit."""
        c = self._running(container_id)
        c.oom_killed = True
        self._emit("oom", c)
        self._finish(c, 137)

    def set_health(self, container_id: str, status: HealthStatus) -> None:
        c = self._get(container_id)
        c.health = status
        self._emit("health", c, health=status)
        self._changed(c)

    def write_log(self, container_id: str, line: str, stream: LogStream = "stdout") -> None:
        c = self._get(container_id)
        self._log(c, stream, line)
        self._changed(c)

    # -- internals ----------------------------------------------------------------------------

    def _exec(self, c: _Container, argv: tuple[str, ...]) -> ExecResult:
        self.exec_count += 1
        if self.exec_handler is not None and (result := self.exec_handler(c.id, argv)) is not None:
            return result
        program = read_program(argv)
        if program.exit_code is None:
            raise ExecTimeoutError(f"exec in container {c.id}: command timed out")
        output = "".join(f"{text}\n" for _stream, text in program.output)
        return ExecResult(program.exit_code, output)

    def _get(self, container_id: str) -> _Container:
        c = self.containers.get(container_id)
        if c is None:
            # Docker accepts unique id prefixes and names too
            c = next((x for x in self.containers.values() if container_id in (x.name, x.id[:12])), None)
        if c is None:
            raise ContainerNotFoundError(f"No such container: {container_id}")
        return c

    def _running(self, container_id: str) -> _Container:
        c = self._get(container_id)
        if c.status is not ContainerStatus.RUNNING:
            raise ContainerConflictError(f"Container {container_id} is not running")
        return c

    def _changed(self, c: _Container) -> None:
        if c.changed is not None:
            c.changed.set()
            c.changed = None

    async def _until_changed(self, c: _Container) -> None:
        if c.changed is None:
            c.changed = asyncio.Event()
        await c.changed.wait()

    def _log(self, c: _Container, stream: LogStream, text: str) -> None:
        if c.logs is None:
            c.logs = []
        c.logs.append(LogLine(self.clock(), stream, text))

    def _emit(
        self,
        kind: EventKind,
        c: _Container,
        *,
        exit_code: int | None = None,
        health: HealthStatus | None = None,
    ) -> None:
        event = RuntimeEvent(kind, c.id, self.clock(), c.spec.labels, exit_code=exit_code, health=health)
        self.history.append(event)
        for labels, queue in self._subscribers:
            if all(c.spec.labels.get(k) == v for k, v in labels.items()):
                queue.put_nowait(event)

    def _add_network(self, spec: NetworkSpec) -> _Network:
        try:
            hosts = ipaddress.IPv4Network(spec.subnet)
        except ValueError as exc:
            raise InvalidSpecError(f"invalid subnet {spec.subnet!r}: {exc}") from exc
        for other in self.networks.values():
            if other.hosts.overlaps(hosts):
                raise InvalidSpecError("Pool overlaps with other one on this address space")
        gateway = spec.gateway or str(hosts.network_address + 1)
        info = NetworkInfo(id=_new_id(f"net{spec.name}"), name=spec.name, subnet=spec.subnet, gateway=gateway)
        net = _Network(info, hosts, {int(ipaddress.IPv4Address(gateway)) - int(hosts.network_address)})
        self.networks[spec.name] = net
        return net

    def _publish(self, c: _Container) -> tuple[PublishedPort, ...]:
        taken = {
            (p.host_port, p.protocol)
            for other in self.containers.values()
            if other.status is ContainerStatus.RUNNING
            for p in other.ports
        }
        out = []
        for pb in c.spec.port_bindings:
            port = pb.host_port
            if port:
                if (port, pb.protocol) in taken:
                    raise ContainerStartError(
                        f"driver failed programming external connectivity on endpoint {c.name}: "
                        f"Bind for {pb.host_ip or '0.0.0.0'}:{port} failed: port is already allocated"
                    )
            else:
                while (self._next_port, pb.protocol) in taken:
                    self._next_port += 1
                port = self._next_port
                self._next_port = (
                    self._next_port + 1 if self._next_port < _EPHEMERAL_PORTS[1] else _EPHEMERAL_PORTS[0]
                )
            taken.add((port, pb.protocol))
            out.append(PublishedPort(pb.container_port, pb.protocol, pb.host_ip or "0.0.0.0", port))
        return tuple(out)

    def _start(self, c: _Container) -> None:
        mode = c.spec.network
        if mode.startswith("container:"):
            owner = self._get(mode.partition(":")[2])
            if owner.status is not ContainerStatus.RUNNING:
                raise ContainerStartError(f"cannot join network of a non running container: {owner.id}")
            # As in Docker, a container that joins another's namespace reports no addresses
            # of its own: the namespace owner (the awsvpc pause container) holds them.
            ips: dict[str, str] = {}
        elif mode in ("host", "none"):
            ips = {}
        else:
            net = self.networks.get("bridge" if mode == "default" else mode)
            if net is None:
                raise ContainerStartError(f"network {mode} not found")
            ips = {net.info.name: net.allocate(c.spec.ipv4_address)}
        try:
            c.ports = self._publish(c)
        except ContainerStartError:
            self._release(c, ips)
            raise
        c.ips = ips
        c.status = ContainerStatus.RUNNING
        c.started_at = self.clock()
        c.finished_at = None
        c.exit_code = None
        c.oom_killed = False
        c.health = HealthStatus.STARTING if c.spec.healthcheck is not None else HealthStatus.NONE
        image = next((i for i in self.images.values() if i.id == c.image_id), None)
        entry = c.spec.entrypoint if c.spec.entrypoint is not None else (image.entrypoint if image else ())
        if c.spec.command is not None:
            cmd = c.spec.command
        elif c.spec.entrypoint is not None or image is None:
            cmd = ()  # as in Docker, setting the entrypoint drops the image's CMD
        else:
            cmd = image.cmd
        c.program = read_program(tuple(entry) + tuple(cmd))
        self._emit("start", c)
        for stream, text in c.program.output:
            self._log(c, stream, text)
        if c.program.exit_code is not None:
            self._finish(c, c.program.exit_code)
        elif c.spec.healthcheck is not None:
            c.health = HealthStatus.HEALTHY  # checks pass instantly in the fake
            self._emit("health", c, health=c.health)
        self._changed(c)

    def _release(self, c: _Container, ips: Mapping[str, str]) -> None:
        if c.spec.network.startswith("container:"):
            return  # the namespace owner holds the address
        for name, ip in ips.items():
            if (net := self.networks.get(name)) is not None:
                net.release(ip)

    def _finish(self, c: _Container, code: int) -> None:
        self._release(c, c.ips)
        c.status = ContainerStatus.EXITED
        c.exit_code = code
        c.finished_at = self.clock()
        if c.health is not HealthStatus.NONE:
            c.health = HealthStatus.UNHEALTHY
        self._emit("die", c, exit_code=code)
        self._changed(c)

    def _state(self, c: _Container) -> ContainerState:
        return ContainerState(
            id=c.id,
            name=c.name,
            image=c.spec.image,
            image_id=c.image_id,
            labels=c.spec.labels,
            status=c.status,
            exit_code=c.exit_code,
            oom_killed=c.oom_killed,
            error=c.error,
            created_at=c.created_at,
            started_at=c.started_at,
            finished_at=c.finished_at,
            health=c.health,
            ip_addresses=dict(c.ips) if c.status is ContainerStatus.RUNNING else {},
            ports=c.ports if c.status is ContainerStatus.RUNNING else (),
            pid=(int(c.id[:6], 16) + 1) if c.status is ContainerStatus.RUNNING else 0,
            mac_addresses={name: _mac(ip) for name, ip in c.ips.items()}
            if c.status is ContainerStatus.RUNNING
            else {},
        )


def _mac(ip: str) -> str:
    """Docker's classic bridge MAC: 02:42 followed by the IPv4 address."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(ip).packed)


def _new_id(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def _normalize(ref: str) -> str:
    last = ref.rsplit("/", 1)[-1]
    return ref if (":" in last or "@" in last) else f"{ref}:latest"
