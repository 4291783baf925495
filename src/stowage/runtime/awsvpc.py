"""awsvpc task networking: one network namespace per task, held open by a "pause" container.

The ECS agent gives each awsvpc task its own ENI by starting a pause container first and then
every task container with `network_mode=container:<pause id>`: they share one network
namespace (so they reach each other on localhost) with the task's own IPv4. Here the "ENI" is
an endpoint on a user-defined bridge network with a configured subnet, so the address comes
from that subnet.

The pause image is built locally (no registry needed): a ~140-byte static ELF whose only code
is "wait for a signal, forever", imported as a one-file root filesystem. It cannot be stopped by
SIGTERM (as PID 1 it ignores it), so its stop signal is SIGKILL.
"""

from __future__ import annotations

import io
import platform
import struct
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass

from stowage.runtime.base import (
    ContainerRuntime,
    ContainerRuntimeError,
    ContainerSpec,
    NetworkInfo,
    NetworkSpec,
)

PAUSE_IMAGE = "stowage/pause:1"
_LOAD_ADDR = 0x400000
_CODE_OFFSET = 64 + 56  # one ELF header, one program header

# Machine code for "loop forever in a blocking syscall", per architecture (ELF e_machine, code).
_PAUSE_CODE: Mapping[str, tuple[int, bytes]] = {
    # x86-64:  1: mov eax, 34 (pause) ; syscall ; jmp 1b
    "x86_64": (0x3E, bytes.fromhex("b8220000000f05ebf7")),
    # aarch64 has no pause(2): ppoll(NULL, 0, NULL, NULL) blocks likewise.
    #   1: movz x0..x3, #0 ; movz x8, #73 ; svc #0 ; b 1b
    "aarch64": (
        0xB7,
        struct.pack(
            "<7I", 0xD2800000, 0xD2800001, 0xD2800002, 0xD2800003, 0xD2800928, 0xD4000001, 0x17FFFFFA
        ),
    ),
}
_MACHINE_ALIASES = {"amd64": "x86_64", "arm64": "aarch64"}


def pause_binary(machine: str | None = None) -> bytes:
    """A static ELF executable that blocks forever, for `machine` (default: this host's)."""
    arch = (machine or platform.machine()).lower()
    arch = _MACHINE_ALIASES.get(arch, arch)
    if arch not in _PAUSE_CODE:
        raise ContainerRuntimeError(f"no built-in pause binary for {arch}; configure a pause image")
    e_machine, code = _PAUSE_CODE[arch]
    size = _CODE_OFFSET + len(code)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)  # 64-bit, little-endian, SysV
    header = ident + struct.pack(
        "<HHIQQQIHHHHHH", 2, e_machine, 1, _LOAD_ADDR + _CODE_OFFSET, 64, 0, 0, 64, 56, 1, 0, 0, 0
    )
    # PT_LOAD, flags R+X, the whole file mapped at the load address
    phdr = struct.pack("<IIQQQQQQ", 1, 5, 0, _LOAD_ADDR, _LOAD_ADDR, size, size, 0x1000)
    return header + phdr + code


def pause_rootfs_tar(machine: str | None = None) -> bytes:
    binary = pause_binary(machine)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("pause")
        info.size = len(binary)
        info.mode = 0o755
        tar.addfile(info, io.BytesIO(binary))
    return buf.getvalue()


async def ensure_pause_image(
    runtime: ContainerRuntime, ref: str = PAUSE_IMAGE, *, labels: Mapping[str, str] | None = None
) -> str:
    """Import the built-in pause image unless `ref` is already present; returns its id."""
    image_id = await runtime.inspect_image(ref)
    if image_id is not None:
        return image_id
    return await runtime.import_image(ref, pause_rootfs_tar(), cmd=("/pause",), labels=labels)


@dataclass(frozen=True, slots=True)
class TaskNamespace:
    pause_id: str
    network: NetworkInfo
    ipv4: str
    mac: str = ""  # the endpoint's MAC address ("" if the engine does not say)

    @property
    def network_mode(self) -> str:
        """The `ContainerSpec.network` for every container of the task."""
        return f"container:{self.pause_id}"


async def create_task_namespace(
    runtime: ContainerRuntime,
    *,
    network: NetworkSpec,
    name: str,
    labels: Mapping[str, str],
    pause_image: str = PAUSE_IMAGE,
    hostname: str = "",
    ipv4_address: str | None = None,
    extra_hosts: Mapping[str, str] | None = None,
    dns_servers: tuple[str, ...] = (),
    cgroup_parent: str = "",
    cap_drop: tuple[str, ...] = (),
) -> TaskNamespace:
    """Start the task's pause container on `network` (created if missing) and return its
    namespace. Hostname, DNS and extra hosts belong here: containers that join a namespace
    may not set them themselves. `cgroup_parent` puts the pause container first in a task
    cgroup (see `runtime.task_cgroups`); it needs no capabilities (`cap_drop` ("ALL",)). On
    failure nothing is left behind."""
    info = await runtime.ensure_network(network)
    spec = ContainerSpec(
        image=pause_image,
        name=name,
        labels=labels,
        network=info.name,
        ipv4_address=ipv4_address,
        hostname=hostname,
        extra_hosts=extra_hosts or {},
        dns_servers=dns_servers,
        stop_signal="SIGKILL",
        memory_bytes=None,
        cgroup_parent=cgroup_parent,
        cap_drop=cap_drop,
    )
    pause_id = await runtime.create(spec)
    try:
        await runtime.start(pause_id)
        state = await runtime.inspect(pause_id)
    except BaseException:
        await runtime.remove(pause_id, force=True)
        raise
    ip = state.ip_addresses.get(info.name, "")
    if not ip:
        await runtime.remove(pause_id, force=True)
        raise ContainerRuntimeError(f"pause container {pause_id} got no address on {info.name}")
    return TaskNamespace(pause_id=pause_id, network=info, ipv4=ip, mac=state.mac_addresses.get(info.name, ""))


async def remove_task_namespace(runtime: ContainerRuntime, namespace: TaskNamespace) -> None:
    """Remove the pause container (after the task's containers have stopped)."""
    await runtime.remove(namespace.pause_id, force=True)
