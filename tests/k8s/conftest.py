"""Fixtures for the Kubernetes API: a real stowage server with its Kubernetes listener, the
machine's kubectl pointed at its kubeconfig, and the official Python client."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import ServerProcess, free_port, start_server

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"


@dataclass
class K8sServer:
    server: ServerProcess
    port: int

    @property
    def kubeconfig(self) -> Path:
        return self.server.data_dir / "kubeconfig"

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca(self) -> Path:
        return self.server.data_dir / "k8s" / "ca.crt"

    @property
    def token(self) -> str:
        return (self.server.data_dir / "k8s" / "token").read_text().strip()

    def kubectl(self, *args: str, check: bool = True, input: str | None = None, timeout: float = 60) -> Any:
        if not Path(KUBECTL).exists():
            pytest.fail(
                f"kubectl is not at {KUBECTL}: the Kubernetes API is tested with the real kubectl "
                "(these machines ship google-cloud-cli's kubectl at /usr/bin/kubectl)",
                pytrace=False,
            )
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
        env["HOME"] = str(self.server.data_dir)  # kubectl's discovery cache stays in the test dir
        proc = subprocess.run(
            [KUBECTL, "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True, text=True, input=input, timeout=timeout, env=env,
        )  # fmt: skip
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc


@pytest.fixture(scope="session")
def k8s(tmp_path_factory: pytest.TempPathFactory) -> Iterator[K8sServer]:
    port = free_port()
    proc = start_server(tmp_path_factory.mktemp("k8s"), ["--k8s-port", str(port)])
    try:
        yield K8sServer(proc, port)
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def api_client(k8s: K8sServer) -> Iterator[Any]:
    from kubernetes import config

    client = config.new_client_from_config(config_file=str(k8s.kubeconfig))
    try:
        yield client
    finally:
        client.close()


@pytest.fixture()
def core(api_client: Any) -> Any:
    from kubernetes import client

    return client.CoreV1Api(api_client)


@pytest.fixture()
def namespace(k8s: K8sServer, core: Any) -> Iterator[str]:
    """A namespace of the test's own (deleted afterwards)."""
    from kubernetes import client

    name = f"t-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    with contextlib.suppress(client.ApiException):
        core.delete_namespace(name)
