"""Task-definition features that only a real engine can show: OOM kills, health checks, the
process environment (env, user, working dir, read-only root, mounts, ulimits, init)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stowage.runtime.base import (
    ContainerRuntime,
    HealthCheck,
    HealthStatus,
    Mount,
    Ulimit,
)
from tests.runtime.conftest import Backend
from tests.runtime.helpers import all_logs, run_to_exit, wait_for_health

pytestmark = pytest.mark.docker


def test_memory_hog_is_oom_killed_and_reported(docker_backend: Backend) -> None:
    hog = "x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done"  # a shell string doubling forever

    async def body(rt: ContainerRuntime) -> None:
        cid = await rt.create(docker_backend.spec("sh", "-c", hog, memory_bytes=32 * 1024 * 1024))
        await rt.start(cid)
        info = await rt.wait(cid)
        assert info.oom_killed
        assert info.exit_code == 137
        assert (await rt.inspect(cid)).oom_killed

    docker_backend.run(body)


def test_health_check_reports_healthy_and_unhealthy(docker_backend: Backend) -> None:
    async def body(rt: ContainerRuntime) -> None:
        def check(*command: str) -> HealthCheck:
            return HealthCheck(command, interval_s=0.5, timeout_s=2, retries=1)

        good = await rt.create(docker_backend.spec("sleep", "1000", healthcheck=check("CMD-SHELL", "true")))
        bad = await rt.create(docker_backend.spec("sleep", "1000", healthcheck=check("CMD", "false")))
        for cid in (good, bad):
            await rt.start(cid)
        await wait_for_health(rt, good, HealthStatus.HEALTHY)
        await wait_for_health(rt, bad, HealthStatus.UNHEALTHY)

    docker_backend.run(body)


def test_process_environment_follows_the_spec(docker_backend: Backend, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("from-host\n")
    tmp_path.chmod(0o755)  # readable by the container's unprivileged user
    (tmp_path / "f").chmod(0o644)
    script = (
        'echo "env=$FOO"; echo "cwd=$(pwd)"; echo "uid=$(id -u)"; '
        "touch /rootfs-file 2>/dev/null && echo rootfs=rw || echo rootfs=ro; "
        'echo "bind=$(cat /data/f)"; echo scratch > /scratch/x && echo "tmpfs=$(cat /scratch/x)"; '
        'echo "nofile=$(ulimit -n)"; echo "pid1=$(cat /proc/1/comm)"'
    )

    async def body(rt: ContainerRuntime) -> None:
        spec = docker_backend.spec(
            "sh",
            "-c",
            script,
            env={"FOO": "bar baz"},
            working_dir="/tmp",
            user="65534",
            readonly_rootfs=True,
            mounts=(
                Mount("bind", "/data", source=str(tmp_path), read_only=True),
                Mount("tmpfs", "/scratch", size_bytes=1024 * 1024),
            ),
            ulimits=(Ulimit("nofile", 1234, 1234),),
            init=True,
        )
        cid = await rt.create(spec)
        assert await run_to_exit(rt, cid) == 0
        out = [ln.line for ln in await all_logs(rt, cid)]
        assert out == [
            "env=bar baz",
            "cwd=/tmp",
            "uid=65534",
            "rootfs=ro",
            "bind=from-host",
            "tmpfs=scratch",
            "nofile=1234",
            "pid1=docker-init",
        ]

    docker_backend.run(body)


def test_volumes_from_shares_a_named_volume(docker_backend: Backend) -> None:
    volume = f"stowage-test-{docker_backend.case}"
    docker_backend.volumes.append(volume)

    async def body(rt: ContainerRuntime) -> None:
        writer = await rt.create(
            docker_backend.spec(
                "sh",
                "-c",
                "echo shared > /vol/f",
                mounts=(Mount("volume", "/vol", source=volume, volume_labels=docker_backend.labels),),
            )
        )
        assert await run_to_exit(rt, writer) == 0
        reader = await rt.create(docker_backend.spec("cat", "/vol/f", volumes_from=(f"{writer}:ro",)))
        assert await run_to_exit(rt, reader) == 0
        assert [ln.line for ln in await all_logs(rt, reader)] == ["shared"]

    docker_backend.run(body)
