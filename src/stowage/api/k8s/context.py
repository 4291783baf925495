"""What every handler needs: the object service, the registry, the schemas, the clock."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from stowage.api.k8s.objects import ObjectService
from stowage.api.k8s.openapi import OpenApi
from stowage.api.k8s.registry import Registry
from stowage.logstore import LogStore
from stowage.logstore.model import Owner
from stowage.model.k8s.schema import Schemas

if TYPE_CHECKING:
    from stowage.api.k8s.metrics import PodMetricsSource
    from stowage.api.k8s.pod_exec import PodExecSource


@dataclass(frozen=True)
class PodLogSource:
    """Where ``pods/log`` reads: the Logs API's store, as the account that owns the pods."""

    logstore: LogStore
    owner: Owner
    space: str
    """The Kubernetes object space (``local``) the log group names carry."""


@dataclass
class ApiContext:
    service: ObjectService
    registry: Registry
    schemas: Schemas
    openapi: OpenApi
    watch_bookmark_interval: float = 5.0
    default_watch_timeout: float = 1800.0
    pod_logs: PodLogSource | None = None
    pod_exec: PodExecSource | None = None
    """Where ``pods/exec`` sessions go (set by the server once the task plane runs)."""
    pod_metrics: PodMetricsSource | None = None
    """The samples ``metrics.k8s.io`` serves (set by the server once metrics run)."""
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    """Set at shutdown: open watches end at once instead of holding the exit."""
