"""The control plane as a user starts it: generated keys, `stowage env`, the plain AWS CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.server import ServerProcess, free_port, wait_for_port

AWS = str(Path(sys.executable).parent / "aws")


def _server_without_keys(data_dir: Path, port: int | None = None) -> ServerProcess:
    """A server that makes its own admin key, as on a first `stowage up`."""
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log = (data_dir / "server.log").open("ab")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stowage.cli.main",
            "server",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    wait_for_port(port, proc, data_dir / "server.log")
    return ServerProcess(data_dir, port, proc=proc)


def test_generated_key_and_stowage_env_drive_the_plain_aws_cli(tmp_path: Path) -> None:
    server = _server_without_keys(tmp_path / "state")
    try:
        exports = subprocess.run(
            [sys.executable, "-m", "stowage.cli.main", "env", "--data-dir", str(server.data_dir)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert f"export AWS_ENDPOINT_URL=http://127.0.0.1:{server.port}" in exports
        assert "export AWS_ACCESS_KEY_ID=AKIA" in exports
        creds = json.loads((server.data_dir / "credentials.json").read_text())
        assert (server.data_dir / "credentials.json").stat().st_mode & 0o077 == 0, "key file is private"
        # eval the exports in a clean shell and run the unmodified CLI with no flags
        script = (
            f"{exports}\n{AWS} ecs create-cluster --cluster-name from-env >/dev/null"
            f" && {AWS} ecs list-clusters"
        )
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
        out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=120)
        assert out.returncode == 0, out.stderr
        arns = json.loads(out.stdout)["clusterArns"]
        assert arns == ["arn:aws:ecs:us-east-1:000000000000:cluster/from-env"]
        # the key survives a restart: the same exports keep working
        server.stop()
        server = _server_without_keys(server.data_dir, server.port)
        again = subprocess.run(
            ["bash", "-c", f"{exports}\n{AWS} ecs list-clusters"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["clusterArns"] == arns
        assert json.loads((server.data_dir / "credentials.json").read_text()) == creds
    finally:
        server.stop()


def test_env_without_a_server_says_what_to_do(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "stowage.cli.main", "env", "--data-dir", str(tmp_path / "nothing")],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1
    assert "start the server first" in out.stderr
    assert out.stdout == ""


def test_a_wrong_key_is_refused_by_the_cli(server: ServerProcess, tmp_path: Path) -> None:
    env = server.env()
    env["AWS_SECRET_ACCESS_KEY"] = "not-the-secret"
    out = subprocess.run([AWS, "ecs", "list-clusters"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode != 0
    assert "InvalidSignatureException" in out.stderr
