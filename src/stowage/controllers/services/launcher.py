"""What the service controller needs from the task machinery, injected by the composition root:
place N tasks of a service's PRIMARY deployment (built exactly as RunTask builds tasks), and
say which instances a DAEMON service belongs on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from stowage.resources.records import Doc, Record


@dataclass(frozen=True, slots=True)
class Launched:
    tasks: list[Record] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    """``(instance ARN, reason)`` when copies stayed unplaced."""
    error: str | None = None
    """Why nothing could be attempted (task definition gone, cluster gone)."""


class Launcher(Protocol):
    async def launch(
        self, service: Doc, deployment: Doc, count: int, *, instance_id: str | None = None
    ) -> Launched:
        """Place ``count`` tasks of ``deployment`` (on ``instance_id`` only, for DAEMON)."""
        ...

    async def eligible(self, service: Doc, instance_ids: list[str]) -> list[str]:
        """The instances (ACTIVE, connected) a DAEMON service's constraints accept."""
        ...
