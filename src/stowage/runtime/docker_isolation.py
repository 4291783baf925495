"""What an engine's ``GET /info`` says about isolating a task: can its containers share a task
cgroup the agent limits, and can their writable layers get a size quota.

Pure functions over the /info JSON (Docker's; Podman's compatible API answers with the same
members), used by `DockerRuntime`'s task-cgroup and storage-quota methods.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from stowage.runtime.task_cgroups import CGROUP_ROOT, CgroupHost, detect_version

JSON = dict[str, Any]

# Storage drivers whose `size` storage option works on any backing filesystem they run on.
_QUOTA_DRIVERS = frozenset({"btrfs", "zfs", "devicemapper", "windowsfilter"})
# Drivers that take `size` only on xfs mounted with project quotas (pquota): /info shows the
# backing filesystem but not its mount options, so on xfs the first create tells.
_XFS_QUOTA_DRIVERS = frozenset({"overlay2", "overlay", "vfs"})


def is_rootless(info: JSON) -> bool:
    return any("rootless" in str(opt) for opt in info.get("SecurityOptions") or ())


def cgroup_host(info: JSON, root: Path = CGROUP_ROOT) -> CgroupHost | str:
    """The engine's cgroup layout as this host sees it, or why task cgroups cannot be used."""
    driver = str(info.get("CgroupDriver") or "")
    if is_rootless(info):
        return (
            "the engine is rootless: its cgroups are a delegated user tree the agent does not "
            "manage (cgroup v1 rootless engines cannot limit containers at all)"
        )
    if driver not in ("cgroupfs", "systemd"):
        return f"the engine's cgroup driver is {driver or 'unknown'!r}, not cgroupfs or systemd"
    local = detect_version(root)
    reported = str(info.get("CgroupVersion") or "")
    if reported and reported != str(local):
        return (
            f"the engine runs on cgroup v{reported} but this host mounts v{local}: the engine is "
            "not on this host"
        )
    writable = root if local == 2 else root / "memory"
    if not os.access(writable, os.W_OK):
        return f"the agent cannot write {writable} (it must run as root on the engine's host)"
    return CgroupHost(version=local, driver=driver, root=root)


def _backing_filesystem(info: JSON) -> str:
    for pair in info.get("DriverStatus") or ():
        if isinstance(pair, list | tuple) and len(pair) == 2 and pair[0] == "Backing Filesystem":
            return str(pair[1])
    return ""


def storage_quota_problem(info: JSON) -> str | None:
    """None when the storage driver may enforce a container size (``StorageOpt.size``), else
    why it cannot."""
    driver = str(info.get("Driver") or "")
    if driver in _QUOTA_DRIVERS:
        return None
    if driver in _XFS_QUOTA_DRIVERS:
        backing = _backing_filesystem(info)
        if backing in ("", "xfs"):
            return None  # xfs: works if mounted with pquota; the engine's answer will tell
        return f"storage driver {driver} on {backing}: a size quota needs xfs mounted with pquota"
    return f"storage driver {driver or 'unknown'} has no per-container size quota"


def is_storage_opt_refusal(message: str) -> bool:
    """Whether an engine error refuses the ``size`` storage option (not the spec as a whole)."""
    text = message.lower()
    return "storage-opt" in text or "storage opt" in text or "pquota" in text or "quota" in text
