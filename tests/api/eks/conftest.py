"""Fixtures for EKS: one in-process control plane (real HTTP for boto3 and the AWS CLI, the real
Kubernetes HTTPS listener for kubectl), the test reaching its store only to add a second access
key, as an administrator would (stowage has no IAM API)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.eks.support import EksEnv
from tests.support.inproc_control_plane import InProcessControlPlane
from tests.support.server import free_port


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessControlPlane]:
    server = InProcessControlPlane(tmp_path_factory.mktemp("eks"), k8s_port=free_port()).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def env(plane: InProcessControlPlane, tmp_path_factory: pytest.TempPathFactory) -> EksEnv:
    return EksEnv(plane, tmp_path_factory.mktemp("eks-home"))


@pytest.fixture(scope="module")
def eks(env: EksEnv) -> Any:
    return env.client("eks")
