"""Start ``stowage simulate`` as a subprocess against a test server, and wait for its hosts."""

from __future__ import annotations

import subprocess
import sys

from tests.support.server import ServerProcess


def start_simulator(
    server: ServerProcess, cluster: str, hosts: int, state_dir: str, *extra: str
) -> subprocess.Popen[str]:
    """``extra``: more ``stowage simulate`` options (``--cpu``, ``--zones``, ...)."""
    cmd = [
        sys.executable, "-m", "stowage.cli.main", "simulate",
        "--endpoint", server.endpoint, "--cluster", cluster, "--hosts", str(hosts),
        "--state-dir", state_dir, *extra,
    ]  # fmt: skip
    env = {**server.env(), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def read_summary(proc: subprocess.Popen[str]) -> str:
    """The simulator's "registered" summary line, once every host registered."""
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith("simulate:") and "registered" in line:
            return line.strip()
    raise RuntimeError(f"simulate exited with {proc.wait()}:\n{''.join(seen)[-3000:]}")
