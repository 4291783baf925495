"""What the agent tells the control plane about its host: the RegisterContainerInstance request.

Resources are the four ECS reports: ``CPU`` (cores x 1024), ``MEMORY`` (MiB, minus the reserve),
``PORTS`` and ``PORTS_UDP`` (the host ports already taken: the ECS agent's reserved list).
Attributes are ECS's standard ones (``ecs.os-type``, ``ecs.cpu-architecture``,
``ecs.availability-zone``, ...), one ``com.amazonaws.ecs.capability.*``/``ecs.capability.*``
per feature this agent really implements (a task definition's ``requiresAttributes`` is matched
against them), and the operator's ``--attributes``.
"""

from __future__ import annotations

import os
import platform
from typing import Any

from stowage import __version__
from stowage.agent.config import AgentConfig

_ECS_CAP = "ecs.capability."
_AWS_CAP = "com.amazonaws.ecs.capability."
_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}
_FIRST_DOCKER_API = (1, 17)

# Features implemented by the task runner (see translate.py / runner.py).
_ECS_CAPABILITIES = (
    "task-eni",
    "container-health-check",
    "container-ordering",
    "env-files.s3",
    "docker-plugin.local",
    "full-sync",
)
_LOG_DRIVERS = ("awslogs", "json-file", "none")


def host_memory_mib() -> int:
    """MemTotal from /proc/meminfo, in MiB (what the ECS agent reads too)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 2048


def cpu_architecture(machine: str | None = None) -> str:
    raw = (machine or platform.machine()).lower()
    return _ARCH.get(raw, raw)


def docker_api_versions(engine_api: str) -> list[str]:
    """Every Docker Remote API version from 1.17 up to the engine's: ECS advertises each."""
    try:
        major, minor = (int(p) for p in engine_api.split(".")[:2])
    except ValueError:
        return []
    first_major, first_minor = _FIRST_DOCKER_API
    if major != first_major:
        return []
    return [f"{major}.{m}" for m in range(first_minor, minor + 1)]


def attributes(config: AgentConfig) -> dict[str, str | None]:
    """name -> value (None for a presence-only capability)."""
    out: dict[str, str | None] = {
        "ecs.os-type": "linux",
        "ecs.os-family": "LINUX",
        "ecs.cpu-architecture": cpu_architecture(),
        "ecs.availability-zone": config.az,
    }
    if config.instance_type:
        out["ecs.instance-type"] = config.instance_type
    for version in docker_api_versions(config.engine_api_version):
        out[f"{_AWS_CAP}docker-remote-api.{version}"] = None
    for driver in _LOG_DRIVERS:
        out[f"{_AWS_CAP}logging-driver.{driver}"] = None
    if config.allow_privileged:
        out[f"{_AWS_CAP}privileged-container"] = None
    for cap in _ECS_CAPABILITIES:
        out[_ECS_CAP + cap] = None
    out.update(config.attributes)
    return out


def total_resources(config: AgentConfig) -> list[dict[str, Any]]:
    cpu = config.cpu_units if config.cpu_units is not None else (os.cpu_count() or 1) * 1024
    memory = (config.memory_mib if config.memory_mib is not None else host_memory_mib()) - max(
        0, config.memory_reserve_mib
    )
    return [
        {"name": "CPU", "type": "INTEGER", "integerValue": cpu},
        {"name": "MEMORY", "type": "INTEGER", "integerValue": max(0, memory)},
        {"name": "PORTS", "type": "STRINGSET", "stringSetValue": [str(p) for p in config.reserved_ports]},
        {
            "name": "PORTS_UDP",
            "type": "STRINGSET",
            "stringSetValue": [str(p) for p in config.reserved_udp_ports],
        },
    ]


def registration_request(
    config: AgentConfig, *, instance_arn: str | None, identity_document: str
) -> dict[str, Any]:
    """The RegisterContainerInstance body. With ``instance_arn`` the control plane re-registers
    that instance (the ECS agent does the same after a restart) instead of making a new one."""
    body: dict[str, Any] = {
        "cluster": config.cluster,
        "instanceIdentityDocument": identity_document,
        "totalResources": total_resources(config),
        "versionInfo": {
            "agentVersion": __version__,
            "agentHash": "stowage",
            "dockerVersion": f"DockerVersion: {config.engine_version or 'unknown'}",
        },
        "attributes": [
            {"name": k, **({"value": v} if v is not None else {})} for k, v in attributes(config).items()
        ],
    }
    if instance_arn:
        body["containerInstanceArn"] = instance_arn
    return body
