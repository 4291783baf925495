"""A Fargate task's cgroup: names per cgroup driver, the limit files written for cgroup v1 and
v2 (on a directory tree laid out like /sys/fs/cgroup), the checks that the engine's cgroups are
this host's, removal; what /info says about task cgroups and storage quotas; and the engine
JSON for both (CgroupParent, StorageOpt, the endpoint's MAC). The real thing, on this host's
Docker: tests/agent/test_fargate_docker.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stowage.runtime import task_cgroups
from stowage.runtime.base import ContainerSpec, TaskCgroupUnsupportedError, TaskLimits
from stowage.runtime.docker_isolation import cgroup_host, is_storage_opt_refusal, storage_quota_problem
from stowage.runtime.docker_json import create_body, parse_state
from stowage.runtime.task_cgroups import CgroupHost

MIB = 1024 * 1024
KEY = "0123456789abcdef0123456789abcdef"
MEMBER = "f" * 64
V1_UNLIMITED = "9223372036854771712\n"


def v1_tree(root: Path, parent_rel: str, member_dir: str) -> None:
    """What the kernel shows once the engine started a container under the parent (v1)."""
    for controller in ("memory", "cpu", "pids"):
        (root / controller / parent_rel / member_dir).mkdir(parents=True)
    memory = root / "memory" / parent_rel
    (memory / "memory.limit_in_bytes").write_text(V1_UNLIMITED)
    (memory / "memory.memsw.limit_in_bytes").write_text(V1_UNLIMITED)
    cpu = root / "cpu" / parent_rel
    (cpu / "cpu.cfs_quota_us").write_text("-1\n")
    (cpu / "cpu.cfs_period_us").write_text("100000\n")


def v2_tree(root: Path, parent_rel: str, member_dir: str) -> None:
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    directory = root / parent_rel
    (directory / member_dir).mkdir(parents=True)
    (directory / "memory.max").write_text("max\n")
    (directory / "memory.swap.max").write_text("max\n")
    (directory / "cpu.max").write_text("max 100000\n")


def test_parent_names_follow_the_cgroup_driver() -> None:
    cgroupfs = CgroupHost(version=1, driver="cgroupfs")
    systemd = CgroupHost(version=2, driver="systemd")
    assert cgroupfs.parent_name(KEY) == f"/stowage/{KEY}"
    assert systemd.parent_name("ab-cd") == "stowage-abcd.slice"  # a dash would nest the slice
    assert systemd.relative_path("stowage-abcd.slice") == Path("stowage.slice/stowage-abcd.slice")
    assert cgroupfs.relative_path(f"/stowage/{KEY}") == Path(f"stowage/{KEY}")
    with pytest.raises(ValueError):
        cgroupfs.parent_name("--")


def test_cgroup_v1_limits_are_written_and_read_back(tmp_path: Path) -> None:
    host = CgroupHost(version=1, driver="cgroupfs", root=tmp_path)
    parent = host.parent_name(KEY)
    v1_tree(tmp_path, f"stowage/{KEY}", MEMBER)
    task_cgroups.check_member(host, parent, MEMBER)
    got = task_cgroups.write_limits(host, parent, TaskLimits(nano_cpus=250_000_000, memory_bytes=512 * MIB))
    assert got == TaskLimits(nano_cpus=250_000_000, memory_bytes=512 * MIB)
    memory = tmp_path / "memory" / "stowage" / KEY
    assert (memory / "memory.limit_in_bytes").read_text() == str(512 * MIB)
    assert (memory / "memory.memsw.limit_in_bytes").read_text() == str(512 * MIB)  # no swap
    assert (tmp_path / "cpu" / "stowage" / KEY / "cpu.cfs_quota_us").read_text() == "25000"


def test_cgroup_v2_limits_under_a_systemd_slice(tmp_path: Path) -> None:
    host = CgroupHost(version=2, driver="systemd", root=tmp_path)
    parent = host.parent_name(KEY)
    v2_tree(tmp_path, f"stowage.slice/stowage-{KEY}.slice", f"docker-{MEMBER}.scope")
    task_cgroups.check_member(host, parent, MEMBER)
    got = task_cgroups.write_limits(
        host, parent, TaskLimits(nano_cpus=2_000_000_000, memory_bytes=4096 * MIB)
    )
    assert got == TaskLimits(nano_cpus=2_000_000_000, memory_bytes=4096 * MIB)
    directory = tmp_path / "stowage.slice" / f"stowage-{KEY}.slice"
    assert (directory / "memory.max").read_text() == str(4096 * MIB)
    assert (directory / "memory.swap.max").read_text() == "0"
    assert (directory / "cpu.max").read_text() == "200000 100000"


def test_a_parent_without_the_member_is_not_this_hosts(tmp_path: Path) -> None:
    host = CgroupHost(version=1, driver="cgroupfs", root=tmp_path)
    parent = host.parent_name(KEY)
    with pytest.raises(TaskCgroupUnsupportedError, match="not visible"):
        task_cgroups.check_member(host, parent, MEMBER)  # no such directory at all
    v1_tree(tmp_path, f"stowage/{KEY}", "another-container")
    with pytest.raises(TaskCgroupUnsupportedError, match="not this host's"):
        task_cgroups.check_member(host, parent, MEMBER)


def test_unwritable_limits_are_reported_as_unsupported(tmp_path: Path) -> None:
    host = CgroupHost(version=2, driver="cgroupfs", root=tmp_path)
    (tmp_path / "cgroup.controllers").write_text("")
    (tmp_path / "stowage" / KEY).mkdir(parents=True)  # no memory.max: the controller is missing
    with pytest.raises(TaskCgroupUnsupportedError, match=r"memory\.max"):
        task_cgroups.write_limits(host, host.parent_name(KEY), TaskLimits(memory_bytes=512 * MIB))


def test_remove_waits_for_the_containers_then_every_hierarchy(tmp_path: Path) -> None:
    host = CgroupHost(version=1, driver="cgroupfs", root=tmp_path)
    parent = host.parent_name(KEY)
    for controller in ("memory", "cpu", "pids"):
        (tmp_path / controller / "stowage" / KEY / MEMBER).mkdir(parents=True)
    assert task_cgroups.remove(host, parent) is False  # a container's cgroup is still there
    for controller in ("memory", "cpu", "pids"):
        (tmp_path / controller / "stowage" / KEY / MEMBER).rmdir()
    assert task_cgroups.remove(host, parent) is True
    assert not any((tmp_path / c / "stowage" / KEY).exists() for c in ("memory", "cpu", "pids"))
    assert task_cgroups.remove(host, parent) is True  # already gone: fine


def test_engine_info_decides_whether_task_cgroups_are_possible(tmp_path: Path) -> None:
    (tmp_path / "memory").mkdir()
    info = {
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": "1",
        "SecurityOptions": ["name=seccomp,profile=default"],
    }
    host = cgroup_host(info, tmp_path)
    assert host == CgroupHost(version=1, driver="cgroupfs", root=tmp_path)
    rootless = cgroup_host({**info, "SecurityOptions": ["name=rootless"]}, tmp_path)
    assert isinstance(rootless, str) and "rootless" in rootless
    elsewhere = cgroup_host({**info, "CgroupVersion": "2"}, tmp_path)
    assert isinstance(elsewhere, str) and "not on this host" in elsewhere
    none = cgroup_host({**info, "CgroupDriver": "none"}, tmp_path)
    assert isinstance(none, str) and "'none'" in none
    if os.geteuid() != 0:  # root may write anywhere: the permission check cannot fail for it
        os.chmod(tmp_path / "memory", 0o555)
        unwritable = cgroup_host(info, tmp_path)
        assert isinstance(unwritable, str) and "cannot write" in unwritable


def test_storage_quota_depends_on_the_storage_driver() -> None:
    def overlay(fs: str) -> dict[str, object]:
        return {
            "Driver": "overlay2",
            "DriverStatus": [["Backing Filesystem", fs], ["Supports d_type", "true"]],
        }

    problem = storage_quota_problem(overlay("extfs"))
    assert problem is not None and "xfs" in problem and "extfs" in problem
    assert storage_quota_problem(overlay("xfs")) is None  # pquota: only the first create tells
    assert storage_quota_problem({"Driver": "btrfs"}) is None
    assert storage_quota_problem({"Driver": "aufs"}) is not None
    assert is_storage_opt_refusal(
        "--storage-opt is supported only for overlay over xfs with 'pquota' mount option"
    )
    assert not is_storage_opt_refusal("No such image: busybox")


def test_engine_json_for_the_sandbox() -> None:
    body = create_body(
        ContainerSpec(image="img", cgroup_parent="/stowage/x", storage_size_bytes=20 << 30, cap_drop=("ALL",))
    )
    host = body["HostConfig"]
    assert host["CgroupParent"] == "/stowage/x"
    assert host["StorageOpt"] == {"size": str(20 << 30)}
    assert host["CapDrop"] == ["ALL"]
    assert "CgroupParent" not in create_body(ContainerSpec(image="img"))["HostConfig"]
    state = parse_state(
        {
            "Id": "abc",
            "State": {"Status": "running"},
            "NetworkSettings": {
                "Networks": {"net": {"IPAddress": "10.0.0.2", "MacAddress": "02:42:0a:00:00:02"}}
            },
        }
    )
    assert state.mac_addresses == {"net": "02:42:0a:00:00:02"}
