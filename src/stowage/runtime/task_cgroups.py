"""A task's own cgroup on the host: the parent every container of a Fargate task runs under.

The engine cannot limit a group of containers as a whole, but it can put each container's
cgroup under a parent of our choosing (``HostConfig.CgroupParent``), and the kernel enforces a
parent's limits on everything below it. So a task gets a parent named after it; the engine
creates it when the task's first container (the awsvpc pause container) starts; the agent then
writes the task's cpu quota and memory limit into it, before any task container starts. Every
container still carries its own limits too (what it sees inside), the parent caps their sum.

Names and files, by cgroup version and the engine's cgroup driver (``docker info``):

==========  ===================================  ==================================================
driver      parent name                          limit files written
==========  ===================================  ==================================================
cgroupfs    ``/stowage/<key>``                   v1: ``memory/stowage/<key>/memory.limit_in_bytes``
                                                 (+ ``memory.memsw.limit_in_bytes``: no swap),
                                                 ``cpu/stowage/<key>/cpu.cfs_quota_us``
                                                 v2: ``stowage/<key>/memory.max``,
                                                 ``memory.swap.max``, ``cpu.max``
systemd     ``stowage-<key>.slice``              the same files under
                                                 ``stowage.slice/stowage-<key>.slice``
==========  ===================================  ==================================================

Writing after the engine made the parent (rather than making it ourselves first) is what lets one
path serve both drivers: under systemd the slice's directory only exists once a unit runs in it,
and runc enables the v2 controllers down to it. The risk on systemd hosts: systemd owns slices
and re-applies a slice's own (unset) limits on ``daemon-reload``; documented in docs/fargate.md.

Plain file I/O on ``/sys/fs/cgroup`` (``root`` for tests): the agent must run on the engine's
host with write access to its cgroups (root; not a rootless engine, whose cgroups are the
user's own delegated tree the agent does not manage).
"""

from __future__ import annotations

import contextlib
import errno
import os
from dataclasses import dataclass
from pathlib import Path

from stowage.runtime.base import TaskCgroupUnsupportedError, TaskLimits

CGROUP_ROOT = Path("/sys/fs/cgroup")
CFS_PERIOD_US = 100_000  # Docker's period for NanoCpus: quotas are comparable with a container's
_NS_PER_S = 1_000_000_000
_SLICE_PREFIX = "stowage"
# v1 reports "no limit" as the largest page-aligned signed 64-bit value.
_V1_UNLIMITED = 0x7FFFFFFFFFFFF000


@dataclass(frozen=True, slots=True)
class CgroupHost:
    """How the engine's cgroups are laid out on this host."""

    version: int  # 1 or 2
    driver: str  # cgroupfs | systemd
    root: Path = CGROUP_ROOT

    def parent_name(self, key: str) -> str:
        """The ``CgroupParent`` for task ``key`` (letters, digits; dashes are dropped because
        systemd reads a dash in a slice name as nesting)."""
        safe = "".join(ch for ch in key if ch.isalnum())
        if not safe:
            raise ValueError(f"no usable characters in task cgroup key {key!r}")
        if self.driver == "systemd":
            return f"{_SLICE_PREFIX}-{safe}.slice"
        return f"/{_SLICE_PREFIX}/{safe}"

    def relative_path(self, parent: str) -> Path:
        """Where ``parent`` sits inside a hierarchy (systemd nests ``a-b.slice`` in ``a.slice``)."""
        if parent.endswith(".slice"):
            unit = parent.removesuffix(".slice")
            parts = unit.split("-")
            return Path(*("-".join(parts[: i + 1]) + ".slice" for i in range(len(parts))))
        return Path(parent.lstrip("/"))

    def directory(self, parent: str, controller: str) -> Path:
        """The parent's directory for ``controller`` (v2 has one hierarchy: ``controller`` unused)."""
        base = self.root if self.version == 2 else self.root / controller
        return base / self.relative_path(parent)

    def all_directories(self, parent: str) -> list[Path]:
        """Every directory the engine made for ``parent`` (v1: one per mounted hierarchy)."""
        rel = self.relative_path(parent)
        if self.version == 2:
            return [self.root / rel]
        found = []
        with contextlib.suppress(OSError):
            for mount in sorted(self.root.iterdir()):
                if mount.is_dir() and not mount.is_symlink() and (mount / rel).is_dir():
                    found.append(mount / rel)
        return found


def detect_version(root: Path = CGROUP_ROOT) -> int:
    """The cgroup version mounted at ``root`` on this host (2: the unified hierarchy)."""
    return 2 if (root / "cgroup.controllers").exists() else 1


def check_member(host: CgroupHost, parent: str, member: str) -> Path:
    """The parent's memory directory, after checking that this host sees the engine's cgroups:
    the running container ``member`` must have its cgroup directly under it (named after its
    id: ``<id>``, ``docker-<id>.scope``, ``libpod-<id>.scope``)."""
    directory = host.directory(parent, "memory")
    try:
        children = [p.name for p in directory.iterdir() if p.is_dir()]
    except OSError as exc:
        raise TaskCgroupUnsupportedError(
            f"task cgroup {directory} is not visible from the agent ({exc.strerror or exc}): "
            "is the engine on another host or in another cgroup namespace?"
        ) from exc
    if not any(member in name for name in children):
        raise TaskCgroupUnsupportedError(
            f"container {member[:12]} is not under {directory}: the engine's cgroups are not this host's"
        )
    return directory


def write_limits(host: CgroupHost, parent: str, limits: TaskLimits) -> TaskLimits:
    """Write ``limits`` on ``parent`` and read them back. Raises TaskCgroupUnsupportedError when
    a file cannot be written (no permission, controller missing)."""
    try:
        if host.version == 2:
            _write_v2(host.directory(parent, ""), limits)
        else:
            _write_v1(host.directory(parent, "memory"), host.directory(parent, "cpu"), limits)
        return read_limits(host, parent)
    except OSError as exc:
        raise TaskCgroupUnsupportedError(
            f"cannot write the limits of task cgroup {parent}: {exc.strerror or exc} ({exc.filename})"
        ) from exc


def _write(path: Path, value: str) -> None:
    # One write(2) per value, as the kernel expects (O_TRUNC is ignored by cgroupfs, as with a
    # shell's `echo 1 > file`, and makes the same code right on a plain file tree in tests).
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _quota_us(nano_cpus: int) -> int:
    # The kernel's minimum quota is 1 ms.
    return max(1000, nano_cpus * CFS_PERIOD_US // _NS_PER_S)


def _write_v1(memory_dir: Path, cpu_dir: Path, limits: TaskLimits) -> None:
    if limits.memory_bytes is not None:
        value = str(limits.memory_bytes)
        memsw = memory_dir / "memory.memsw.limit_in_bytes"
        # memsw (memory + swap) may never be below the memory limit: raise it first when it
        # grows, lower it after when it shrinks. Equal values mean no swap, as on Fargate.
        current = _read_int(memory_dir / "memory.limit_in_bytes")
        if memsw.exists() and (current is None or limits.memory_bytes > current):
            _write(memsw, value)
            _write(memory_dir / "memory.limit_in_bytes", value)
        else:
            _write(memory_dir / "memory.limit_in_bytes", value)
            if memsw.exists():
                _write(memsw, value)
    if limits.nano_cpus is not None:
        _write(cpu_dir / "cpu.cfs_period_us", str(CFS_PERIOD_US))
        _write(cpu_dir / "cpu.cfs_quota_us", str(_quota_us(limits.nano_cpus)))


def _write_v2(directory: Path, limits: TaskLimits) -> None:
    if limits.memory_bytes is not None:
        _write(directory / "memory.max", str(limits.memory_bytes))
        if (directory / "memory.swap.max").exists():
            _write(directory / "memory.swap.max", "0")
    if limits.nano_cpus is not None:
        _write(directory / "cpu.max", f"{_quota_us(limits.nano_cpus)} {CFS_PERIOD_US}")


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    return None if text in ("", "max", "-1") else int(text)


def read_limits(host: CgroupHost, parent: str) -> TaskLimits:
    """The limits in force on ``parent`` (None where unlimited)."""
    if host.version == 2:
        directory = host.directory(parent, "")
        memory = _read_int(directory / "memory.max")
        quota_text = (directory / "cpu.max").read_text().split()
        quota = None if quota_text[0] == "max" else int(quota_text[0])
        period = int(quota_text[1]) if len(quota_text) > 1 else CFS_PERIOD_US
    else:
        memory = _read_int(host.directory(parent, "memory") / "memory.limit_in_bytes")
        if memory is not None and memory >= _V1_UNLIMITED:
            memory = None
        cpu_dir = host.directory(parent, "cpu")
        quota = _read_int(cpu_dir / "cpu.cfs_quota_us")
        period = _read_int(cpu_dir / "cpu.cfs_period_us") or CFS_PERIOD_US
    nano = quota * _NS_PER_S // period if quota is not None else None
    return TaskLimits(nano_cpus=nano, memory_bytes=memory)


def remove(host: CgroupHost, parent: str) -> bool:
    """Remove ``parent`` in every hierarchy; False if some directory is still in use."""
    done = True
    for directory in host.all_directories(parent):
        try:
            directory.rmdir()
        except FileNotFoundError:
            continue
        except OSError as exc:
            if exc.errno not in (errno.EBUSY, errno.ENOTEMPTY):
                raise
            done = False
    # The shared level above (/stowage, stowage.slice) stays: removing it would race with a
    # task starting now, and an empty cgroup costs nothing.
    return done
