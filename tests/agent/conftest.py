"""Fixtures for the agent tests that run on the real Docker engine: the session's locally built
test images, shared with the runtime suite (the same fixture: imported once, removed at the end)."""

from __future__ import annotations

from tests.runtime.conftest import docker_engine

__all__ = ["docker_engine"]
