"""Pure translation code: ContainerSpec -> Engine API JSON, Engine JSON -> states and stats,
the log stream assembler, the fake's command reading and the built-in pause binary."""

from __future__ import annotations

import asyncio
import struct
from datetime import datetime

from stowage.runtime.awsvpc import pause_binary
from stowage.runtime.base import (
    ContainerSpec,
    ContainerStatus,
    HealthCheck,
    HealthStatus,
    PortBinding,
    Ulimit,
)
from stowage.runtime.docker_json import (
    create_body,
    engine_time,
    parse_event,
    parse_state,
    parse_stats,
    parse_time,
)
from stowage.runtime.docker_logs import read_log_lines
from stowage.runtime.fake_program import read_program


def test_create_body_maps_an_ecs_container_definition() -> None:
    spec = ContainerSpec(
        image="img",
        command=("a", "b"),
        env={"K": "V"},
        cpu_shares=256,
        memory_bytes=64 << 20,
        ulimits=(Ulimit("nofile", 10, 20),),
        port_bindings=(PortBinding(80), PortBinding(53, 5353, "udp")),
        healthcheck=HealthCheck(("CMD-SHELL", "true"), interval_s=2, retries=4),
        network="tasknet",
        ipv4_address="10.0.0.5",
        stop_timeout_s=7,
    )
    body = create_body(spec)
    host = body["HostConfig"]
    assert body["Cmd"] == ["a", "b"] and body["Env"] == ["K=V"] and body["StopTimeout"] == 7
    assert host["CpuShares"] == 256 and host["Memory"] == host["MemorySwap"] == 64 << 20
    assert host["PortBindings"] == {
        "80/tcp": [{"HostIp": "", "HostPort": ""}],
        "53/udp": [{"HostIp": "", "HostPort": "5353"}],
    }
    assert body["Healthcheck"]["Interval"] == 2_000_000_000 and body["Healthcheck"]["Retries"] == 4
    assert body["NetworkingConfig"]["EndpointsConfig"]["tasknet"]["IPAMConfig"] == {"IPv4Address": "10.0.0.5"}


def test_parse_state_reads_oom_health_ports_and_times() -> None:
    data = {
        "Id": "abc",
        "Name": "/n",
        "Image": "sha256:1",
        "Created": "2024-01-02T03:04:05.123456789Z",
        "Config": {"Image": "img", "Labels": {"a": "b"}, "Healthcheck": {"Test": ["CMD", "x"]}},
        "State": {
            "Status": "exited",
            "ExitCode": 137,
            "OOMKilled": True,
            "StartedAt": "2024-01-02T03:04:06Z",
            "FinishedAt": "0001-01-01T00:00:00Z",
            "Health": {"Status": "unhealthy"},
        },
        "NetworkSettings": {
            "Networks": {"bridge": {"IPAddress": "172.17.0.2"}},
            "Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "32768"}], "81/tcp": None},
        },
    }
    state = parse_state(data)
    assert state.status is ContainerStatus.EXITED and state.exit_code == 137 and state.oom_killed
    assert state.health is HealthStatus.UNHEALTHY and state.finished_at is None
    assert state.ip_addresses == {"bridge": "172.17.0.2"} and state.ports[0].host_port == 32768
    assert state.created_at == parse_time("2024-01-02T03:04:05.123456Z")


def test_parse_stats_handles_cgroup_v1_and_v2() -> None:
    v1 = {
        "memory_stats": {"usage": 100, "limit": 1000, "stats": {"total_inactive_file": 30, "total_rss": 50}},
        "cpu_stats": {"cpu_usage": {"total_usage": 7}, "online_cpus": 2},
        "blkio_stats": {
            "io_service_bytes_recursive": [{"op": "Read", "value": 3}, {"op": "Write", "value": 4}]
        },
    }
    v2 = {"memory_stats": {"usage": 100, "limit": 1000, "stats": {"inactive_file": 10, "anon": 60}}}
    s1, s2 = parse_stats(v1), parse_stats(v2)
    assert (s1.memory_usage_bytes, s1.memory_rss_bytes, s1.block_read_bytes, s1.block_write_bytes) == (
        70,
        50,
        3,
        4,
    )
    assert (s2.memory_usage_bytes, s2.memory_rss_bytes) == (90, 60)


def test_parse_event_health_and_die() -> None:
    die = parse_event(
        b'{"Type":"container","Action":"die","Actor":{"ID":"c","Attributes":{"exitCode":"3","k":"v"}},"timeNano":1}'
    )
    assert die is not None and die.kind == "die" and die.exit_code == 3 and die.labels == {"k": "v"}
    health = parse_event(
        b'{"Type":"container","Action":"health_status: healthy","Actor":{"ID":"c"},"time":1}'
    )
    assert health is not None and health.health is HealthStatus.HEALTHY


def test_log_frames_are_split_into_lines_per_stream() -> None:
    def frame(stream: int, payload: bytes) -> bytes:
        return struct.pack(">BxxxL", stream, len(payload)) + payload

    raw = (
        frame(1, b"2024-01-01T00:00:00.5Z hel") + frame(2, b"2024-01-01T00:00:01Z err\n") + frame(1, b"lo\n")
    )
    pos = 0

    async def read_exactly(n: int) -> bytes:
        nonlocal pos
        if pos + n > len(raw):
            raise asyncio.IncompleteReadError(raw[pos:], n)
        pos += n
        return raw[pos - n : pos]

    async def read_chunk() -> bytes:
        return b""

    async def collect() -> list[tuple[str, str]]:
        return [(ln.stream, ln.line) async for ln in read_log_lines(read_exactly, read_chunk, tty=False)]

    assert asyncio.run(collect()) == [("stderr", "err"), ("stdout", "hello")]


def test_fake_program_reading() -> None:
    p = read_program(("sh", "-c", "trap 'echo bye; exit 0' TERM; echo 'a; b'; sleep 5"))
    assert p.exit_code is None and p.output == [("stdout", "a; b")]
    assert p.on_term is not None and p.on_term.exit_code == 0
    assert read_program(("sh", "-c", "echo x >&2; exit 3")).output == [("stderr", "x")]
    assert read_program(("echo", "hi")).exit_code == 0


def test_pause_binary_is_a_small_static_elf() -> None:
    elf = pause_binary("x86_64")
    assert elf[:4] == b"\x7fELF" and len(elf) < 200
    assert pause_binary("aarch64")[18] == 0xB7


def test_engine_time_is_exact_to_the_microsecond() -> None:
    # A float would print 1795000000.123456 as ...123456001 or ...123455999 (~240 ns steps).
    moment = parse_time("2026-11-18T11:06:40.123456789Z")
    assert moment is not None
    assert engine_time(moment) == "1795000000.123456000"
    assert engine_time(datetime(1970, 1, 1, 0, 0, 1, 5)) == "1.000005000"  # naive means UTC
