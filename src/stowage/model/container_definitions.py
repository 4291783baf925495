"""One container definition at a time: the checks ECS makes on it at registration, and the
defaults it fills in (``essential``, ``cpu``, port mapping protocol and host port, empty lists).

The checks that need the whole task (unique names, references between containers, task-level
sums, Fargate rules) live in ``task_definitions.py``; this module sees one container plus the
task's network mode and volume names. Messages follow ECS's wording where it is known.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Collection
from typing import Any

from stowage.model.task_definition_errors import TaskDefinitionInvalid

Doc = dict[str, Any]

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
MIN_CONTAINER_MEMORY_MIB = 6
"""Docker 20.10+ reserves 6 MiB per container; ECS documents this as the floor for ``memory``."""

ULIMIT_NAMES = frozenset(
    {"core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss",
     "rtprio", "rttime", "sigpending", "stack"}
)  # fmt: skip
CONDITIONS = frozenset({"START", "COMPLETE", "SUCCESS", "HEALTHY"})

# (field, minimum, maximum, default) for healthCheck, per the ContainerDefinition reference.
HEALTH_CHECK_RANGES: tuple[tuple[str, int, int, int | None], ...] = (
    ("interval", 5, 300, 30),
    ("timeout", 2, 60, 5),
    ("retries", 1, 10, 3),
    ("startPeriod", 0, 300, None),
)

RESTART_ATTEMPT_PERIOD = (60, 1800)
"""``restartPolicy.restartAttemptPeriod`` bounds (seconds); the agent's default is 300."""
MAX_IGNORED_EXIT_CODES = 50

# Lists ECS always returns, even when the request left them out.
_ALWAYS_LISTS = ("portMappings", "environment", "mountPoints", "volumesFrom", "systemControls")


def _invalid(message: str) -> TaskDefinitionInvalid:
    return TaskDefinitionInvalid(message)


def normalize_container(raw: Doc, network_mode: str, volume_names: Collection[str]) -> Doc:
    """Validate one container definition and return the stored form (a new dict)."""
    c = copy.deepcopy(raw)
    name = c.get("name")
    if not name:
        raise _invalid("Container.name should not be null or empty.")
    if not NAME_PATTERN.match(name):
        raise _invalid("Container.name contains invalid characters.")
    if not c.get("image"):
        raise _invalid("Container.image should not be null or empty.")
    if len(c["image"]) > 255 or any(ch.isspace() for ch in c["image"]):
        raise _invalid("Container.image contains invalid characters.")

    c.setdefault("cpu", 0)
    c.setdefault("essential", True)
    if c["cpu"] < 0:
        raise _invalid(f"Invalid 'cpu' setting for container '{name}'.")
    _check_memory(name, c)
    for field in ("startTimeout", "stopTimeout"):
        if field in c and c[field] < 0:
            raise _invalid(f"Invalid '{field}' setting for container '{name}'.")
    c["portMappings"] = [_port_mapping(name, pm, network_mode) for pm in c.get("portMappings", [])]
    _check_network_settings(name, c, network_mode)
    for mp in c.get("mountPoints", []):
        if not mp.get("sourceVolume"):
            raise _invalid(
                f"Invalid 'mountPoints' setting for container '{name}'. 'sourceVolume' is required."
            )
        if mp["sourceVolume"] not in volume_names:
            raise _invalid(
                f"Invalid 'mountPoints' setting for container '{name}'. "
                f"Unknown volume '{mp['sourceVolume']}'."
            )
        if not mp.get("containerPath"):
            raise _invalid(
                f"Invalid 'mountPoints' setting for container '{name}'. 'containerPath' is required."
            )
    _check_ulimits(name, c.get("ulimits", []))
    if "healthCheck" in c:
        c["healthCheck"] = _health_check(name, c["healthCheck"])
    if "restartPolicy" in c:
        _check_restart_policy(name, c["restartPolicy"])
    _check_environment(name, c)
    for field in _ALWAYS_LISTS:
        c.setdefault(field, [])
    return c


def _check_memory(name: str, c: Doc) -> None:
    memory = c.get("memory")
    reservation = c.get("memoryReservation")
    if memory is not None and memory < MIN_CONTAINER_MEMORY_MIB:
        raise _invalid(
            f"Invalid 'memory' setting for container '{name}'. The minimum is {MIN_CONTAINER_MEMORY_MIB} MiB."
        )
    if reservation is not None and reservation < MIN_CONTAINER_MEMORY_MIB:
        raise _invalid(
            f"Invalid 'memoryReservation' setting for container '{name}'. "
            f"The minimum is {MIN_CONTAINER_MEMORY_MIB} MiB."
        )
    if memory is not None and reservation is not None and memory < reservation:
        raise _invalid(
            f"Invalid setting for container '{name}'. "
            "'memory' must be greater than or equal to 'memoryReservation'."
        )


def _port_mapping(name: str, raw: Doc, network_mode: str) -> Doc:
    pm = dict(raw)
    pm.setdefault("protocol", "tcp")
    if "containerPortRange" in pm:
        # A range is published as a range: no single ports, and only where ECS maps ranges.
        if "containerPort" in pm or "hostPort" in pm:
            raise _invalid(
                f"Invalid port mapping for container '{name}'. "
                "containerPortRange cannot be combined with containerPort or hostPort."
            )
        if not re.match(r"^\d{1,5}-\d{1,5}$", pm["containerPortRange"]):
            raise _invalid(f"Invalid containerPortRange '{pm['containerPortRange']}' for container '{name}'.")
        low, high = (int(p) for p in pm["containerPortRange"].split("-"))
        if not 1 <= low < high <= 65535:
            raise _invalid(f"Invalid containerPortRange '{pm['containerPortRange']}' for container '{name}'.")
        return pm
    port = pm.get("containerPort")
    if port is None:
        raise _invalid(f"Invalid port mapping for container '{name}'. 'containerPort' is required.")
    if not 0 < port <= 65535:
        raise _invalid(f"Invalid 'containerPort' setting for container '{name}'.")
    host = pm.get("hostPort")
    if host is not None and not 0 <= host <= 65535:
        raise _invalid(f"Invalid 'hostPort' setting for container '{name}'.")
    if network_mode in ("awsvpc", "host"):
        # The container owns the task's (or host's) network namespace: no port translation.
        if host is not None and host != port:
            raise _invalid(
                f"When networkMode={network_mode}, the host ports and container ports "
                "in port mappings must match."
            )
        pm["hostPort"] = port
    elif network_mode == "none":
        raise _invalid("Port mappings are not supported when networkMode=none.")
    else:
        pm.setdefault("hostPort", 0)  # bridge: 0 asks for a dynamic (ephemeral) host port
    return pm


def _check_network_settings(name: str, c: Doc, network_mode: str) -> None:
    if c.get("links"):
        if network_mode != "bridge":
            raise _invalid(f"Links are not supported when networkMode={network_mode}")
        for link in c["links"]:
            target = link.split(":", 1)[0]
            if not NAME_PATTERN.match(target):
                raise _invalid(f"Invalid 'links' setting for container '{name}'.")
    if network_mode == "awsvpc":
        for field in ("hostname", "dnsServers", "dnsSearchDomains", "extraHosts"):
            if c.get(field):
                raise _invalid(f"{field} is not supported on container when networkMode=awsvpc.")
    if network_mode == "host" and c.get("hostname"):
        raise _invalid("hostname is not supported on container when networkMode=host.")


def _check_ulimits(name: str, ulimits: list[Doc]) -> None:
    seen: set[str] = set()
    for u in ulimits:
        if u.get("name") not in ULIMIT_NAMES:
            raise _invalid(
                f"Invalid 'ulimits' setting for container '{name}'. Unknown ulimit '{u.get('name')}'."
            )
        if u["name"] in seen:
            raise _invalid(
                f"Invalid 'ulimits' setting for container '{name}'. Duplicate ulimit '{u['name']}'."
            )
        seen.add(u["name"])
        if u["softLimit"] > u["hardLimit"]:
            raise _invalid(
                f"Invalid 'ulimits' setting for container '{name}'. "
                f"softLimit of '{u['name']}' cannot be greater than hardLimit."
            )


def _health_check(name: str, raw: Doc) -> Doc:
    hc = dict(raw)
    if not hc.get("command"):
        raise _invalid(f"Invalid 'healthCheck' setting for container '{name}'. 'command' must not be empty.")
    for field, low, high, default in HEALTH_CHECK_RANGES:
        value = hc.get(field, default)
        if value is None:
            continue
        if not low <= value <= high:
            raise _invalid(
                f"Invalid 'healthCheck' setting for container '{name}'. "
                f"'{field}' must be between {low} and {high}."
            )
        hc[field] = value
    return hc


def _check_restart_policy(name: str, policy: Doc) -> None:
    """ECS's bounds: ``restartAttemptPeriod`` 60 to 1800 seconds, at most 50 ignored exit codes."""
    period = policy.get("restartAttemptPeriod")
    low, high = RESTART_ATTEMPT_PERIOD
    if period is not None and not low <= period <= high:
        raise _invalid(
            f"Invalid 'restartPolicy' setting for container '{name}'. "
            f"'restartAttemptPeriod' must be between {low} and {high} seconds."
        )
    codes = policy.get("ignoredExitCodes") or []
    if len(codes) > MAX_IGNORED_EXIT_CODES:
        raise _invalid(
            f"Invalid 'restartPolicy' setting for container '{name}'. "
            f"'ignoredExitCodes' can contain at most {MAX_IGNORED_EXIT_CODES} exit codes."
        )


def _check_environment(name: str, c: Doc) -> None:
    for var in c.get("environment", []):
        if not var.get("name"):
            raise _invalid(
                f"Invalid 'environment' setting for container '{name}'. Variable names must not be empty."
            )
    seen: set[str] = set()
    for secret in c.get("secrets", []):
        if secret["name"] in seen:
            raise _invalid(
                f"Invalid 'secrets' setting for container '{name}'. Duplicate secret '{secret['name']}'."
            )
        seen.add(secret["name"])
