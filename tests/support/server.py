"""Start and stop a real ``stowage server`` process for tests, and make clients for it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.config

ACCESS_KEY_ID = "AKIASTOWAGETEST00001"
SECRET_ACCESS_KEY = "stowage-test-secret-key-0000000000000000"
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    data_dir: Path
    port: int
    extra_args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "server.log"

    def env(self) -> dict[str, str]:
        """Environment for the AWS CLI or any SDK, as ``stowage env`` prints it."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            AWS_ENDPOINT_URL=self.endpoint,
            AWS_ACCESS_KEY_ID=ACCESS_KEY_ID,
            AWS_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY,
            AWS_DEFAULT_REGION=REGION,
            AWS_CONFIG_FILE=str(self.data_dir / "aws-config-absent"),
            AWS_SHARED_CREDENTIALS_FILE=str(self.data_dir / "aws-credentials-absent"),
        )
        return env

    def boto3_client(self, service: str, **kwargs: Any) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=kwargs.pop("region_name", REGION),
            aws_access_key_id=kwargs.pop("aws_access_key_id", ACCESS_KEY_ID),
            aws_secret_access_key=kwargs.pop("aws_secret_access_key", SECRET_ACCESS_KEY),
            config=botocore.config.Config(retries={"max_attempts": 1}),
            **kwargs,
        )

    def start(self) -> None:
        cmd = [
            sys.executable, "-m", "stowage.cli.main", "server",
            "--host", "127.0.0.1", "--port", str(self.port), "--data-dir", str(self.data_dir),
            "--access-key-id", ACCESS_KEY_ID, "--secret-access-key", SECRET_ACCESS_KEY,
            "--account-id", ACCOUNT_ID,
            # the Kubernetes listener only where a test asks for one (its default port is fixed)
            *([] if "--k8s-port" in self.extra_args else ["--k8s-port", "0"]),
            *self.extra_args,
        ]  # fmt: skip
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        # strict shapes: a response member the botocore model lacks fails the request (a bug)
        env = {**os.environ, "STOWAGE_STRICT_SHAPES": "1"}
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        wait_for_port(self.port, self.proc, self.log_path)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill9(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()


def wait_for_port(port: int, proc: subprocess.Popen[bytes], log_path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server did not listen on {port} within {timeout}s:\n{log_path.read_text()[-4000:]}")


def start_server(data_dir: Path, extra_args: list[str] | None = None) -> ServerProcess:
    proc = ServerProcess(Path(data_dir), free_port(), extra_args or [])
    proc.start()
    return proc
