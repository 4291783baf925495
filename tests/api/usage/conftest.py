"""One in-process control plane (SQLite) for the usage API tests; each test uses its own clusters."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.inproc_control_plane import InProcessControlPlane


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessControlPlane]:
    server = InProcessControlPlane(tmp_path_factory.mktemp("usage")).start()
    try:
        yield server
    finally:
        server.stop()
