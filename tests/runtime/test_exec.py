"""`ContainerRuntime.exec` (what Kubernetes exec probes run on), on the fake runtime and on the
real engine."""

from __future__ import annotations

import pytest

from stowage.runtime.base import (
    EXEC_OUTPUT_LIMIT,
    ContainerConflictError,
    ContainerRuntime,
    ExecTimeoutError,
)
from tests.runtime.conftest import Backend


def test_exec_returns_exit_code_and_output(backend: Backend) -> None:
    async def body(rt: ContainerRuntime) -> None:
        cid = await rt.create(backend.spec("sleep", "1000"))
        await rt.start(cid)
        ok = await rt.exec(cid, ["sh", "-c", "echo hello; echo oops >&2"], timeout_s=10)
        assert ok.exit_code == 0
        # stdout and stderr are two pipes: the engine interleaves them in no defined order
        assert sorted(ok.output.splitlines()) == ["hello", "oops"]
        failed = await rt.exec(cid, ["sh", "-c", "exit 3"], timeout_s=10)
        assert failed.exit_code == 3 and failed.output == ""
        with pytest.raises(ExecTimeoutError):
            await rt.exec(cid, ["sleep", "5"], timeout_s=0.5)
        await rt.stop(cid, 0)
        with pytest.raises(ContainerConflictError):
            await rt.exec(cid, ["true"])

    backend.run(body)


def test_exec_runs_in_the_container_and_keeps_a_bounded_output(docker_backend: Backend) -> None:
    async def body(rt: ContainerRuntime) -> None:
        cid = await rt.create(docker_backend.spec("sh", "-c", "echo ready > /tmp/ready; sleep 1000"))
        await rt.start(cid)
        for _ in range(50):
            seen = await rt.exec(cid, ["cat", "/tmp/ready"], timeout_s=10)
            if seen.exit_code == 0:
                break
        assert seen.output == "ready\n"
        missing = await rt.exec(cid, ["cat", "/tmp/absent"], timeout_s=10)
        assert missing.exit_code == 1 and "No such file or directory" in missing.output
        big = await rt.exec(cid, ["sh", "-c", "head -c 50000 /dev/zero | tr '\\0' x"], timeout_s=10)
        assert big.exit_code == 0 and big.output == "x" * EXEC_OUTPUT_LIMIT
        unknown = await rt.exec(cid, ["/no/such/binary"], timeout_s=10)
        assert unknown.exit_code != 0

    docker_backend.run(body)
