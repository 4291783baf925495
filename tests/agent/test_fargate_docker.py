"""Fargate tasks isolated on a real Docker host: the task size as one cgroup, its own localhost,
Fargate's capabilities, refusals, the ENI attachment and the isolation report."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from stowage.agent.labels import ROLE
from tests.agent.docker_harness import (
    SUBNET_DOC,
    DockerAgentHarness,
    busybox,
    cgroup_dir,
    container_memory_limit,
    fargate_td,
    memory_peak,
    oom_kills,
    read_host_limits,
    run,
)
from tests.agent.harness import until

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]

MIB = 1024 * 1024
# The limits as a container reads them from inside (cgroup v1 or v2 paths, whichever exist).
SHOW_LIMITS = (
    "echo mem=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max 2>/dev/null); "
    "echo cpu=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu.max 2>/dev/null); sleep 1000"
)
# Linux capability numbers (capabilities(7)).
CAP_BITS = {
    "CHOWN": 0, "DAC_OVERRIDE": 1, "DAC_READ_SEARCH": 2, "FOWNER": 3, "FSETID": 4, "KILL": 5,
    "SETGID": 6, "SETUID": 7, "SETPCAP": 8, "LINUX_IMMUTABLE": 9, "NET_BIND_SERVICE": 10,
    "NET_BROADCAST": 11, "NET_ADMIN": 12, "NET_RAW": 13, "IPC_LOCK": 14, "IPC_OWNER": 15,
    "SYS_MODULE": 16, "SYS_RAWIO": 17, "SYS_CHROOT": 18, "SYS_PTRACE": 19, "SYS_PACCT": 20,
    "SYS_ADMIN": 21, "SYS_BOOT": 22, "SYS_NICE": 23, "SYS_RESOURCE": 24, "SYS_TIME": 25,
    "SYS_TTY_CONFIG": 26, "MKNOD": 27, "LEASE": 28, "AUDIT_WRITE": 29, "AUDIT_CONTROL": 30,
    "SETFCAP": 31,
}  # fmt: skip
# What a Fargate container may hold: Docker's default set (see agent/fargate.py).
FARGATE_SET = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}  # fmt: skip


def capabilities(cap_eff_hex: str) -> set[str]:
    mask = int(cap_eff_hex, 16)
    return {name for name, bit in CAP_BITS.items() if mask >> bit & 1}


def test_task_size_is_enforced_on_one_cgroup_for_the_whole_task(tmp_path: Path) -> None:
    async def body() -> None:
        h = DockerAgentHarness(tmp_path)
        try:
            agent = await h.start()
            task = await h.fargate(
                agent, fargate_td(busybox("app", "sh", "-c", SHOW_LIMITS), busybox("side", "sleep", "1000"))
            )
            state = await h.reach(task, "RUNNING")
            isolation = state["isolation"]
            assert isolation["scope"] == "TASK" and isolation["cpu"] == 256 and isolation["memory"] == 512
            parent = isolation["cgroupParent"]
            # Host side: the task's cgroup holds 512 MiB and 0.25 vCPU (a 25 ms quota per 100 ms) ...
            memory, quota, period = read_host_limits(parent)
            assert memory == 512 * MIB
            assert quota / period == 0.25
            # ... and every container of the task (the pause container too) runs inside it.
            containers = await h.containers(task)
            assert set(containers) == {"app", "side", "~pause"}
            children = {p.name for p in cgroup_dir(parent, "memory").iterdir() if p.is_dir()}
            for state_ in containers.values():
                assert any(state_.id in child for child in children), (state_.name, children)
            # Inside: the container sees the task's memory and cpu as its own limits.
            out = await h.wait_output(containers["app"].id, "cpu=")
            assert f"mem={512 * MIB}" in out
            assert "cpu=25000" in out  # v1 quota, or v2's "25000 100000"
            await h.control.stop(task)
            await h.reach(task, "STOPPED")
            # The task's cgroup goes with its last container.
            await until(lambda: not cgroup_dir(parent, "memory").exists(), "the task cgroup removed", 10)
        finally:
            await h.close()

    run(body())


def test_the_containers_of_a_task_share_its_memory(tmp_path: Path) -> None:
    """Each container may use 512 MiB on its own, but together they get the task's 512 MiB:
    two containers holding 300 MiB each make the kernel OOM-kill in the task's cgroup."""

    async def body() -> None:
        h = DockerAgentHarness(tmp_path)
        hold = "head -c 314572800 /dev/zero | tail -c 314572800 | sleep 1000"  # 300 MiB, kept
        try:
            agent = await h.start()
            td = fargate_td(busybox("a", "sh", "-c", hold), busybox("b", "sh", "-c", hold))
            task = await h.fargate(agent, td)
            state = await h.reach(task, "RUNNING")
            parent = state["isolation"]["cgroupParent"]
            # Neither container's own limit can be what kills: each is the whole task's 512 MiB.
            for container in (await h.containers(task)).values():
                if container.labels.get(ROLE) == "container":
                    assert container_memory_limit(parent, container.id) == 512 * MIB
            containers = [c for c in (await h.containers(task)).values() if c.labels.get(ROLE) == "container"]
            await until(lambda: oom_kills(parent) >= 1, "an OOM kill in the task cgroup", 60)
            # The task as a whole reached its limit; neither container came near its own.
            assert memory_peak(parent) == 512 * MIB
            for container in containers:
                assert memory_peak(parent, container.id) < 400 * MIB
        finally:
            await h.close()

    run(body())


def test_containers_share_localhost_only_within_their_task(tmp_path: Path) -> None:
    async def body() -> None:
        h = DockerAgentHarness(tmp_path)
        fetch = "until wget -q -O- http://localhost:8080/; do sleep 0.2; done; sleep 1000"
        probe = "wget -q -T 3 -O- http://localhost:8080/ && echo REACHED || echo REFUSED; sleep 1000"
        try:
            agent = await h.start()
            web = await h.fargate(
                agent,
                fargate_td(
                    busybox("web", "httpd", "-f", "-p", "8080", "-h", "/www"),
                    busybox("client", "sh", "-c", fetch, essential=False),
                ),
            )
            await h.reach(web, "RUNNING")
            web_containers = await h.containers(web)
            await h.wait_output(web_containers["client"].id, "stowage")  # over the task's localhost
            other = await h.fargate(agent, fargate_td(busybox("probe", "sh", "-c", probe)))
            await h.reach(other, "RUNNING")
            out = await h.wait_output((await h.containers(other))["probe"].id, "RE")
            assert "REFUSED" in out and "REACHED" not in out
            # Each task has its own address from the subnet.
            ips = {
                d["value"]
                for t in (web, other)
                for d in t.state["attachments"][0]["details"]
                if d["name"] == "privateIPv4Address"
            }
            assert len(ips) == 2
        finally:
            await h.close()

    run(body())


def test_capabilities_are_fargates_and_only_sys_ptrace_may_be_added(tmp_path: Path) -> None:
    async def body() -> None:
        h = DockerAgentHarness(tmp_path)
        show = "grep CapEff /proc/self/status; sleep 1000"
        try:
            agent = await h.start()
            td = fargate_td(
                busybox("plain", "sh", "-c", show),
                busybox(
                    "ptrace",
                    "sh",
                    "-c",
                    show,
                    linuxParameters={"capabilities": {"add": ["SYS_PTRACE"]}},
                ),
                busybox(
                    "dropped",
                    "sh",
                    "-c",
                    show,
                    linuxParameters={"capabilities": {"drop": ["NET_RAW", "CHOWN"]}},
                ),
            )
            task = await h.fargate(agent, td)
            await h.reach(task, "RUNNING")
            containers = await h.containers(task)
            caps = {}
            for name in ("plain", "ptrace", "dropped"):
                out = await h.wait_output(containers[name].id, "CapEff")
                caps[name] = capabilities(out.split("CapEff:")[1].split()[0])
            assert caps["plain"] == FARGATE_SET
            assert "SYS_PTRACE" not in caps["plain"] and "SYS_ADMIN" not in caps["plain"]
            assert caps["ptrace"] == FARGATE_SET | {"SYS_PTRACE"}
            assert caps["dropped"] == FARGATE_SET - {"NET_RAW", "CHOWN"}
        finally:
            await h.close()

    run(body())


def test_privileged_and_host_volumes_are_refused_before_anything_runs(tmp_path: Path) -> None:
    async def body() -> None:
        h = DockerAgentHarness(tmp_path)
        host_dir = tmp_path / "host-dir"
        try:
            agent = await h.start()
            privileged = await h.fargate(agent, fargate_td(busybox("app", "sleep", "1000", privileged=True)))
            host_volume = await h.fargate(
                agent,
                fargate_td(
                    busybox(
                        "app", "sleep", "1000", mountPoints=[{"sourceVolume": "h", "containerPath": "/h"}]
                    ),
                    volumes=[{"name": "h", "host": {"sourcePath": str(host_dir)}}],
                ),
            )
            cap_add = await h.fargate(
                agent,
                fargate_td(
                    busybox("app", "sleep", "1000", linuxParameters={"capabilities": {"add": ["NET_ADMIN"]}})
                ),
            )
            for task, words in (
                (privileged, "Fargate does not support privileged containers (container 'app')"),
                (host_volume, "Fargate does not support host volumes with a 'sourcePath' (volume 'h')"),
                (cap_add, "Fargate only supports adding the SYS_PTRACE kernel capability"),
            ):
                state = await h.reach(task, "STOPPED")
                assert state["stopCode"] == "TaskFailedToStart"
                assert words in state["stoppedReason"]
                assert await h.containers(task) == {}  # nothing was created on the engine
            assert not host_dir.exists()  # not even the host directory
        finally:
            await h.close()

    run(body())


def test_eni_attachment_and_ephemeral_storage_are_reported(tmp_path: Path) -> None:
    async def body() -> None:
        h = DockerAgentHarness(tmp_path)
        try:
            agent = await h.start()
            task = await h.fargate(
                agent,
                fargate_td(busybox("app", "sleep", "1000")),
                overrides={"ephemeralStorage": {"sizeInGiB": 30}},
            )
            state = await h.reach(task, "RUNNING")
            [attachment] = state["attachments"]
            assert attachment["type"] == "ElasticNetworkInterface" and attachment["status"] == "ATTACHED"
            details = {d["name"]: d["value"] for d in attachment["details"]}
            assert details["subnetId"] == SUBNET_DOC
            assert details["networkInterfaceId"].startswith("eni-")
            ip = details["privateIPv4Address"]
            assert ipaddress.ip_address(ip) in ipaddress.ip_network(h.subnet)
            pause = (await h.containers(task))["~pause"]
            # The MAC is the pause container's endpoint's, as the engine reports it.
            assert details["macAddress"] == next(iter(pause.mac_addresses.values()))
            assert pause.ip_addresses and next(iter(pause.ip_addresses.values())) == ip
            isolation = state["isolation"]
            assert isolation["ephemeralStorageGiB"] == 30
            support = await (await h.rt()).storage_quota_support()
            # Enforced exactly where the engine's storage driver has quotas (not overlay2 on extfs).
            assert isolation["ephemeralStorageEnforced"] is (support is None)
            if support is not None:
                assert isolation["ephemeralStorageReason"] == support
        finally:
            await h.close()

    run(body())
