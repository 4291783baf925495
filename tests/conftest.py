"""Fixtures shared by the whole suite: a real stowage server in a subprocess, and clients for it."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from tests.support.server import ServerProcess, start_server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One control plane (SQLite store) for the session. Tests isolate themselves by naming
    their resources uniquely, as users of one AWS account do."""
    proc = start_server(tmp_path_factory.mktemp("server"))
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def ecs(server: ServerProcess):  # type: ignore[no-untyped-def]
    return server.boto3_client("ecs")


@pytest.fixture()
def fresh_server(tmp_path: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server of its own, for tests that restart, kill or count everything."""
    proc = start_server(tmp_path)  # type: ignore[arg-type]
    try:
        yield proc
    finally:
        proc.stop()


__all__ = ["boto3"]
