"""`AgentConfig`: everything the host agent is told at start (flags of `stowage agent`).

Defaults follow the ECS agent's (``ECS_CONTAINER_STOP_TIMEOUT`` 30 s, reserved ports 22, 2375,
2376, 51678, 51679, ``ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION`` 3 h) where ECS has one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

ECS_RESERVED_PORTS = (22, 2375, 2376, 51678, 51679)
DEFAULT_AWSVPC_SUBNET = "10.254.0.0/16"
DEFAULT_PAUSE_IMAGE = "stowage/pause:1"


@dataclass(frozen=True, slots=True)
class AgentConfig:
    cluster: str = "default"
    state_dir: Path = Path(".stowage-agent")
    region: str = "us-east-1"
    availability_zone: str = ""
    """``ecs.availability-zone``; "" means ``<region>a``."""
    instance_type: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    """Custom attributes (``--attributes k=v,...``), added to the standard ones."""
    memory_reserve_mib: int = 0
    """Memory kept for the host (ECS_RESERVED_MEMORY): not offered to tasks."""
    cpu_units: int | None = None
    """Override of the registered CPU (cores x 1024 otherwise): for simulated hosts."""
    memory_mib: int | None = None
    """Override of the host memory (MemTotal otherwise): for simulated hosts."""
    reserved_ports: tuple[int, ...] = ECS_RESERVED_PORTS
    reserved_udp_ports: tuple[int, ...] = ()
    allow_privileged: bool = False
    awsvpc_subnet: str = DEFAULT_AWSVPC_SUBNET
    pause_image: str = DEFAULT_PAUSE_IMAGE
    engine_api_version: str = "1.44"
    """The engine's Docker API version: the docker-remote-api capabilities advertised."""
    engine_version: str = ""
    env_files_dir: Path | None = None
    """Where ``arn:aws:s3:::bucket/key`` environment files are looked up (``<dir>/bucket/key``);
    absolute paths and ``file://`` URLs are read as they are."""
    # timing
    stop_timeout_s: float = 30.0
    """Default SIGTERM→SIGKILL grace when a container definition sets no ``stopTimeout``."""
    dependency_start_timeout_s: float = 180.0
    """Default ``startTimeout``: how long a container waits for its dependencies."""
    poll_wait_s: int = 20
    stats_interval_s: float = 10.0
    log_flush_interval_s: float = 1.0
    resync_interval_s: float = 15.0
    """How often a task runner re-inspects its containers when no event arrives."""
    cleanup_wait_s: float = 3 * 3600.0
    """How long the containers of a stopped task are kept before removal."""
    gc_interval_s: float = 60.0
    max_backoff_s: float = 30.0
    report_linger_s: float = 0.0
    """How long task state reports gather before a call (0: sent at once). Simulated hosts, whose
    containers start instantly, use it to send a task's PENDING and RUNNING in one call."""

    @property
    def az(self) -> str:
        return self.availability_zone or f"{self.region}a"
