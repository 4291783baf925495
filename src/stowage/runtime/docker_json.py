"""Translation between the runtime's dataclasses and the Docker Engine API's JSON.

Pure functions, no I/O: `create_body` (ContainerSpec -> POST /containers/create body),
`parse_state` (GET /containers/{id}/json -> ContainerState), `parse_stats` (one stats sample),
`parse_event` (one /events line). Podman's compatible API answers with the same shapes, with a
few differences handled here (noted where they are).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

from stowage.runtime.base import (
    ContainerSpec,
    ContainerState,
    ContainerStats,
    ContainerStatus,
    EventKind,
    HealthStatus,
    Mount,
    PublishedPort,
    RuntimeEvent,
)

JSON = dict[str, Any]

_NS = 1_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ns(seconds: float) -> int:
    return int(seconds * _NS)


def create_body(spec: ContainerSpec) -> JSON:
    """The JSON body of POST /containers/create for `spec` (name goes in the query string)."""
    host: JSON = {
        "NetworkMode": spec.network,
        "ReadonlyRootfs": spec.readonly_rootfs,
        "Privileged": spec.privileged,
        "Init": spec.init,
        "LogConfig": {"Type": spec.log.driver, "Config": dict(spec.log.options)},
    }
    body: JSON = {
        "Image": spec.image,
        "Labels": dict(spec.labels),
        "Env": [f"{k}={v}" for k, v in spec.env.items()],
        "Tty": spec.tty,
        "OpenStdin": spec.interactive,
        "HostConfig": host,
    }
    if spec.command is not None:
        body["Cmd"] = list(spec.command)
    if spec.entrypoint is not None:
        body["Entrypoint"] = list(spec.entrypoint)
    if spec.working_dir:
        body["WorkingDir"] = spec.working_dir
    if spec.user:
        body["User"] = spec.user
    if spec.hostname:
        body["Hostname"] = spec.hostname
    if spec.stop_signal:
        body["StopSignal"] = spec.stop_signal
    if spec.stop_timeout_s is not None:
        body["StopTimeout"] = spec.stop_timeout_s
    if spec.healthcheck is not None:
        hc = spec.healthcheck
        body["Healthcheck"] = {
            "Test": list(hc.command),
            "Interval": _ns(hc.interval_s),
            "Timeout": _ns(hc.timeout_s),
            "Retries": hc.retries,
            "StartPeriod": _ns(hc.start_period_s),
        }
    # resources: only set what is asked, so the engine's defaults stay in force otherwise
    for key, value in (
        ("CpuShares", spec.cpu_shares),
        ("NanoCpus", spec.nano_cpus),
        ("Memory", spec.memory_bytes),
        ("MemoryReservation", spec.memory_reservation_bytes),
        ("MemorySwap", spec.memory_swap_bytes),
        ("ShmSize", spec.shm_size_bytes),
    ):
        if value is not None:
            host[key] = value
    if spec.memory_bytes is not None and spec.memory_swap_bytes is None:
        # Without this Docker lets the container swap as much again as its limit, and a memory
        # hog crawls in swap instead of being OOM-killed as ECS reports it.
        host["MemorySwap"] = spec.memory_bytes
    if spec.cgroup_parent:
        host["CgroupParent"] = spec.cgroup_parent
    if spec.storage_size_bytes is not None:
        host["StorageOpt"] = {"size": str(spec.storage_size_bytes)}
    if spec.ulimits:
        host["Ulimits"] = [{"Name": u.name, "Soft": u.soft, "Hard": u.hard} for u in spec.ulimits]
    if spec.cap_add:
        host["CapAdd"] = list(spec.cap_add)
    if spec.cap_drop:
        host["CapDrop"] = list(spec.cap_drop)
    if spec.security_opt:
        host["SecurityOpt"] = list(spec.security_opt)
    if spec.sysctls:
        host["Sysctls"] = dict(spec.sysctls)
    if spec.mounts:
        host["Mounts"] = [_mount(m) for m in spec.mounts]
    if spec.volumes_from:
        host["VolumesFrom"] = list(spec.volumes_from)
    if spec.extra_hosts:
        host["ExtraHosts"] = [f"{name}:{ip}" for name, ip in spec.extra_hosts.items()]
    if spec.dns_servers:
        host["Dns"] = list(spec.dns_servers)
    if spec.dns_search:
        host["DnsSearch"] = list(spec.dns_search)
    if spec.port_bindings:
        exposed: JSON = {}
        bindings: dict[str, list[JSON]] = {}
        for pb in spec.port_bindings:
            key = f"{pb.container_port}/{pb.protocol}"
            exposed[key] = {}
            # HostPort "" asks the engine for an ephemeral port (ECS's dynamic host port)
            bindings.setdefault(key, []).append({"HostIp": pb.host_ip, "HostPort": str(pb.host_port or "")})
        body["ExposedPorts"] = exposed
        host["PortBindings"] = bindings
    if _is_named_network(spec.network) and (spec.ipv4_address or spec.network_aliases):
        endpoint: JSON = {}
        if spec.ipv4_address:
            endpoint["IPAMConfig"] = {"IPv4Address": spec.ipv4_address}
        if spec.network_aliases:
            endpoint["Aliases"] = list(spec.network_aliases)
        body["NetworkingConfig"] = {"EndpointsConfig": {spec.network: endpoint}}
    return body


def _is_named_network(mode: str) -> bool:
    return mode not in ("bridge", "host", "none", "default") and not mode.startswith("container:")


def _mount(mount: Mount) -> JSON:
    m: JSON = {"Type": mount.type, "Target": mount.target, "ReadOnly": mount.read_only}
    if mount.type != "tmpfs":
        m["Source"] = mount.source
    elif mount.size_bytes is not None:
        m["TmpfsOptions"] = {"SizeBytes": mount.size_bytes}
    if mount.type == "volume" and mount.volume_labels:
        m["VolumeOptions"] = {"Labels": dict(mount.volume_labels)}
    return m


def parse_time(value: object) -> datetime | None:
    """Docker's RFC 3339 timestamps (nanoseconds; Go's zero time means "never")."""
    if not isinstance(value, str) or not value or value.startswith("0001-01-01"):
        return None
    text = value.replace("Z", "+00:00")
    # Python wants at most 6 fractional digits; Docker gives up to 9.
    if "." in text:
        head, _, rest = text.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        tz = rest[len(digits) :]
        text = f"{head}.{digits[:6].ljust(6, '0')}{tz}"
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def engine_time(moment: datetime) -> str:
    """`moment` as the engine's `since` parameter: exact Unix seconds with nanoseconds.

    Not `f"{moment.timestamp():.9f}"`: a float near 1.8e9 s is only good to ~240 ns, and rounding
    up past a log line's own timestamp would drop the very line asked for.
    """
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    delta = aware - _EPOCH
    seconds = delta.days * 86_400 + delta.seconds
    return f"{seconds}.{delta.microseconds:06d}000"


def parse_state(data: JSON) -> ContainerState:
    state: JSON = data.get("State") or {}
    config: JSON = data.get("Config") or {}
    net: JSON = data.get("NetworkSettings") or {}
    status = ContainerStatus(str(state.get("Status", "created")).lower())
    # Podman (native) calls a stopped container "stopped"/"configured"; its compat API maps
    # these to Docker's names already, ContainerStatus() would raise otherwise.
    exited = status in (ContainerStatus.EXITED, ContainerStatus.DEAD)
    health_data = state.get("Health") or state.get("Healthcheck") or {}
    health = HealthStatus.NONE
    if health_data and (config.get("Healthcheck") or {}).get("Test") not in (None, [], ["NONE"]):
        raw = str(health_data.get("Status", "")).lower()
        health = HealthStatus(raw) if raw in HealthStatus._value2member_map_ else HealthStatus.STARTING
    ips: dict[str, str] = {}
    macs: dict[str, str] = {}
    for name, endpoint in (net.get("Networks") or {}).items():
        ip = (endpoint or {}).get("IPAddress") or ""
        if ip:
            ips[name] = ip
        if mac := (endpoint or {}).get("MacAddress") or "":
            macs[name] = mac
    ports: list[PublishedPort] = []
    for key, binds in (net.get("Ports") or {}).items():
        port, _, proto = key.partition("/")
        for b in binds or ():
            if b.get("HostPort"):
                ports.append(
                    PublishedPort(
                        container_port=int(port),
                        protocol="udp" if proto == "udp" else "tcp",
                        host_ip=b.get("HostIp", ""),
                        host_port=int(b["HostPort"]),
                    )
                )
    started = parse_time(state.get("StartedAt"))
    finished = parse_time(state.get("FinishedAt"))
    if started is not None and finished is not None and finished < started:
        # Docker records StartedAt after the process is already running; a process that exits
        # at once can show a FinishedAt a few microseconds earlier. Keep the order causal.
        started = finished
    return ContainerState(
        id=data["Id"],
        name=str(data.get("Name", "")).lstrip("/"),
        image=config.get("Image", ""),
        image_id=data.get("Image", ""),
        labels=dict(config.get("Labels") or {}),
        status=status,
        exit_code=int(state.get("ExitCode", 0)) if exited else None,
        oom_killed=bool(state.get("OOMKilled", False)),
        error=state.get("Error", "") or "",
        created_at=parse_time(data.get("Created")),
        started_at=started,
        finished_at=finished,
        health=health,
        ip_addresses=ips,
        ports=tuple(sorted(ports, key=lambda p: (p.container_port, p.protocol, p.host_ip))),
        pid=int(state.get("Pid", 0) or 0),
        mac_addresses=macs,
    )


def _first_int(data: JSON, *keys: str) -> int:
    for key in keys:
        if data.get(key) is not None:
            return int(data[key])
    return 0


def parse_stats(data: JSON) -> ContainerStats:
    cpu: JSON = data.get("cpu_stats") or {}
    usage: JSON = cpu.get("cpu_usage") or {}
    mem: JSON = data.get("memory_stats") or {}
    mstats: JSON = mem.get("stats") or {}
    # cgroup v1 reports rss/cache and total_inactive_file; cgroup v2 reports anon/file and
    # inactive_file. The working set is usage minus inactive file cache, as `docker stats` shows.
    inactive = _first_int(mstats, "total_inactive_file", "inactive_file")
    raw_usage = int(mem.get("usage", 0))
    rx = tx = 0
    for iface in (data.get("networks") or {}).values():
        rx += int(iface.get("rx_bytes", 0))
        tx += int(iface.get("tx_bytes", 0))
    read = write = 0
    for entry in (data.get("blkio_stats") or {}).get("io_service_bytes_recursive") or ():
        op = str(entry.get("op", "")).lower()
        if op == "read":
            read += int(entry.get("value", 0))
        elif op == "write":
            write += int(entry.get("value", 0))
    online = int(cpu.get("online_cpus") or len(usage.get("percpu_usage") or ()) or 1)
    return ContainerStats(
        read_at=parse_time(data.get("read")) or datetime.now(UTC),
        cpu_usage_ns=int(usage.get("total_usage", 0)),
        system_cpu_usage_ns=int(cpu.get("system_cpu_usage", 0)),
        online_cpus=online,
        memory_usage_bytes=max(0, raw_usage - inactive),
        memory_limit_bytes=int(mem.get("limit", 0)),
        memory_rss_bytes=_first_int(mstats, "total_rss", "rss", "anon"),
        memory_cache_bytes=_first_int(mstats, "total_cache", "cache", "file"),
        network_rx_bytes=rx,
        network_tx_bytes=tx,
        block_read_bytes=read,
        block_write_bytes=write,
        pids=int((data.get("pids_stats") or {}).get("current", 0)),
    )


_EVENT_KINDS: Mapping[str, EventKind] = {
    "create": "create",
    "start": "start",
    "die": "die",
    "oom": "oom",
    "destroy": "destroy",
    "kill": "kill",
    "stop": "stop",
}


def parse_event(line: bytes | str) -> RuntimeEvent | None:
    """One line of GET /events; None for events the runtime does not report."""
    data = cast(JSON, json.loads(line))
    if data.get("Type", "container") != "container":
        return None
    action = str(data.get("Action") or data.get("status") or "")
    actor: JSON = data.get("Actor") or {}
    attrs: dict[str, str] = {str(k): str(v) for k, v in (actor.get("Attributes") or {}).items()}
    cid = str(actor.get("ID") or data.get("id") or "")
    nanos = data.get("timeNano")
    when = (
        datetime.fromtimestamp(int(nanos) / _NS, UTC)
        if nanos
        else datetime.fromtimestamp(int(data.get("time", 0)), UTC)
    )
    # Attributes mix labels with engine keys (image, name, exitCode); report them as labels
    # minus the engine's own keys so label filters on the consumer side work.
    labels = {k: v for k, v in attrs.items() if k not in ("image", "name", "exitCode", "signal")}
    if action.startswith("health_status"):
        raw = action.partition(":")[2].strip().lower()
        health = HealthStatus(raw) if raw in HealthStatus._value2member_map_ else HealthStatus.STARTING
        return RuntimeEvent("health", cid, when, labels, health=health)
    kind = _EVENT_KINDS.get(action)
    if kind is None:
        return None
    code = (
        int(attrs["exitCode"]) if kind == "die" and attrs.get("exitCode", "").lstrip("-").isdigit() else None
    )
    return RuntimeEvent(kind, cid, when, labels, exit_code=code)


__all__ = ["create_body", "parse_event", "parse_state", "parse_stats", "parse_time"]
