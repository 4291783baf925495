"""Task definitions as ECS validates and stores them: from a RegisterTaskDefinition request to
the task-definition document (everything but the ARN, revision, status and timestamps), plus
parsing of the identifiers other operations accept (``family``, ``family:revision``, ARN).

Pure: no store, no clock. The request is assumed to match botocore's input shape already (the
protocol layer checks types and required members); this module checks ECS's semantics and
raises ``TaskDefinitionInvalid`` with ECS's error type and message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stowage.model import task_definition_capabilities as caps
from stowage.model.arns import parse_arn
from stowage.model.container_definitions import NAME_PATTERN, normalize_container
from stowage.model.resources import parse_cpu_units, parse_memory_mib
from stowage.model.task_definition_errors import INVALID_PARAMETER, TaskDefinitionInvalid

Doc = dict[str, Any]

FAMILY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
MAX_CONTAINERS = 10
MAX_TAGS = 50
MAX_PLACEMENT_CONSTRAINTS = 10
EPHEMERAL_STORAGE_GIB = (21, 200)

# Task-level members copied through as given, in the order ECS returns them.
_PASSTHROUGH = (
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "volumes",
    "placementConstraints",
    "requiresCompatibilities",
    "cpu",
    "memory",
    "pidMode",
    "ipcMode",
    "proxyConfiguration",
    "inferenceAccelerators",
    "ephemeralStorage",
    "runtimePlatform",
    "enableFaultInjection",
    "trustedExecutionConfiguration",
)


@dataclass(frozen=True, slots=True)
class Registration:
    family: str
    definition: Doc
    """The TaskDefinition shape minus taskDefinitionArn, revision, status, registeredAt/By."""
    tags: list[Doc]


@dataclass(frozen=True, slots=True)
class TaskDefinitionRef:
    """What ``family``, ``family:revision`` or a task-definition ARN names."""

    family: str
    revision: int | None
    """None: the family's latest ACTIVE revision."""
    account: str | None = None
    region: str | None = None
    """Set when the identifier was an ARN (to check it names this account and region)."""


def invalid(message: str) -> TaskDefinitionInvalid:
    return TaskDefinitionInvalid(message)


def check_family(family: str) -> None:
    if not family:
        raise invalid("Family can not be blank.")
    if not FAMILY_PATTERN.match(family):
        raise invalid("Family contains invalid characters.")


def parse_identifier(text: str) -> TaskDefinitionRef | None:
    """Parse what DescribeTaskDefinition & co. accept; None if it is none of the three forms."""
    account = region = None
    if text.startswith("arn:"):
        arn = parse_arn(text)
        if arn is None or arn.service != "ecs" or arn.resource_type != "task-definition":
            return None
        account, region, text = arn.account, arn.region, arn.resource_id
        if ":" not in text:
            return None  # an ARN always carries the revision
    family, sep, rev = text.partition(":")
    if not FAMILY_PATTERN.match(family):
        return None
    if not sep:
        return TaskDefinitionRef(family, None, account, region)
    if not rev.isdigit() or int(rev) < 1:
        return None
    return TaskDefinitionRef(family, int(rev), account, region)


def normalize_registration(params: Mapping[str, Any]) -> Registration:
    """Validate a RegisterTaskDefinition request; return what to store."""
    family = params.get("family", "")
    check_family(family)
    raw_containers = params.get("containerDefinitions") or []
    if not raw_containers:
        raise invalid("Container list cannot be empty.")
    if len(raw_containers) > MAX_CONTAINERS:
        raise invalid(f"Too many containers: a task definition can have at most {MAX_CONTAINERS}.")

    td: Doc = {"family": family}
    for key in _PASSTHROUGH:
        if key in params and params[key] is not None:
            td[key] = params[key]
    _normalize_task_size(td)
    network_mode = td.get("networkMode", "bridge")
    td["volumes"] = _normalize_volumes(td.get("volumes", []))
    td.setdefault("placementConstraints", [])
    volume_names = {v["name"] for v in td["volumes"]}

    containers: list[Doc] = []
    names: set[str] = set()
    for raw in raw_containers:
        c = normalize_container(raw, network_mode, volume_names)
        if c["name"] in names:
            raise invalid(f"Duplicate container name '{c['name']}': container names must be unique.")
        names.add(c["name"])
        containers.append(c)
    if not any(c["essential"] for c in containers):
        raise invalid("Task definition does not have any essential container.")
    _check_references(containers, td)
    _check_task_resources(containers, td)
    _check_task_options(td)

    # ECS returns containerDefinitions first and the family after it.
    out: Doc = {"containerDefinitions": containers, **td}
    required = td.get("requiresCompatibilities", [])
    if "FARGATE" in required:
        problem = caps.fargate_problem(out)
        if problem is not None:
            raise invalid(problem)
    if "EXTERNAL" in required and network_mode == "awsvpc":
        raise invalid("Task definitions for the EXTERNAL launch type do not support networkMode awsvpc.")
    out["requiresAttributes"] = caps.requires_attributes(out)
    out["compatibilities"] = caps.compatibilities(out)
    return Registration(family, out, check_tags(params.get("tags") or []))


def _normalize_task_size(td: Doc) -> None:
    # "1 vCPU" / "2 GB" are accepted and stored as integer strings, as ECS does.
    for key, parse in (("cpu", parse_cpu_units), ("memory", parse_memory_mib)):
        if key in td:
            value = parse(td[key])
            if value is None:
                raise invalid(f"Invalid '{key}' setting for task.")
            td[key] = str(value)


def _normalize_volumes(volumes: list[Doc]) -> list[Doc]:
    out: list[Doc] = []
    seen: set[str] = set()
    kinds = ("host", "dockerVolumeConfiguration", "efsVolumeConfiguration",
             "fsxWindowsFileServerVolumeConfiguration", "s3filesVolumeConfiguration")  # fmt: skip
    for raw in volumes:
        v = dict(raw)
        name = v.get("name")
        if not name:
            raise invalid("Volume name should not be null or empty.")
        if not NAME_PATTERN.match(name):
            raise invalid("Volume name contains invalid characters.")
        if name in seen:
            raise invalid(f"Duplicate volume name '{name}': volume names must be unique.")
        seen.add(name)
        if sum(1 for k in kinds if k in v) > 1:
            raise invalid(f"Volume '{name}' can specify only one volume configuration.")
        docker = v.get("dockerVolumeConfiguration")
        if docker is not None and docker.get("autoprovision") and docker.get("scope", "task") == "task":
            raise invalid("Autoprovision can be enabled only for volumes with 'shared' scope.")
        if "host" not in v and not any(k in v for k in kinds):
            v["host"] = {}  # ECS echoes an empty host for a bind mount with no source path
        out.append(v)
    return out


def _check_references(containers: list[Doc], td: Doc) -> None:
    by_name = {c["name"]: c for c in containers}
    for c in containers:
        name = c["name"]
        for link in c.get("links", []):
            target = link.split(":", 1)[0]
            if target not in by_name or target == name:
                raise invalid(
                    f"Invalid 'links' setting for container '{name}'. Unknown container '{target}'."
                )
        for vf in c.get("volumesFrom", []):
            source = vf.get("sourceContainer")
            if source not in by_name or source == name:
                raise invalid(
                    f"Invalid 'volumesFrom' setting for container '{name}'. Unknown container '{source}'."
                )
        for dep in c.get("dependsOn", []):
            target = dep["containerName"]
            if target not in by_name or target == name:
                raise invalid(f"Cannot depend on container '{target}' because it does not exist")
            if dep["condition"] not in ("START", "COMPLETE", "SUCCESS", "HEALTHY"):
                raise invalid(f"Invalid dependency condition '{dep['condition']}' for container '{name}'.")
            if dep["condition"] in ("SUCCESS", "COMPLETE") and by_name[target]["essential"]:
                raise invalid(
                    "A dependency container with SUCCESS or COMPLETE condition cannot be an essential "
                    f"container (container '{target}')."
                )
            if dep["condition"] == "HEALTHY" and "healthCheck" not in by_name[target]:
                raise invalid(
                    "A dependency container with HEALTHY condition must have a health check "
                    f"configured (container '{target}')."
                )
    _check_acyclic(containers)
    proxy = td.get("proxyConfiguration")
    if proxy is not None:
        if proxy["containerName"] not in by_name:
            raise invalid(f"Proxy configuration container '{proxy['containerName']}' does not exist.")
        if td.get("networkMode") != "awsvpc":
            raise invalid("Proxy configuration requires networkMode awsvpc.")


def _check_acyclic(containers: list[Doc]) -> None:
    """dependsOn must be a DAG, or no container could ever start."""
    edges = {c["name"]: [d["containerName"] for d in c.get("dependsOn", [])] for c in containers}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(n: str) -> None:
        state[n] = 1
        for m in edges[n]:
            if state.get(m) == 1:
                raise invalid(f"Container dependencies contain a cycle (involving container '{m}').")
            if m not in state:
                visit(m)
        state[n] = 2

    for n in edges:
        if n not in state:
            visit(n)


def _check_task_resources(containers: list[Doc], td: Doc) -> None:
    task_memory = int(td["memory"]) if "memory" in td else None
    task_cpu = int(td["cpu"]) if "cpu" in td else None
    for c in containers:
        if task_memory is None and c.get("memory") is None and c.get("memoryReservation") is None:
            raise invalid(
                f"Invalid setting for container '{c['name']}'. "
                "At least one of 'memory' or 'memoryReservation' must be specified."
            )
        if task_memory is not None and c.get("memory") is not None and c["memory"] > task_memory:
            raise invalid(f"The 'memory' setting for container '{c['name']}' is greater than for the task.")
    if task_memory is not None:
        # What a container needs at least: its reservation, else its hard limit.
        reserved = sum(c.get("memoryReservation") or c.get("memory") or 0 for c in containers)
        if reserved > task_memory:
            raise invalid(
                "The sum of all container 'memoryReservation' values cannot be greater than "
                "the value of the task 'memory'."
            )
    if task_cpu is not None and sum(c["cpu"] for c in containers) > task_cpu:
        raise invalid(
            "The sum of all container 'cpu' values cannot be greater than the value of the task 'cpu'."
        )


def _check_task_options(td: Doc) -> None:
    storage = td.get("ephemeralStorage")
    if storage is not None:
        low, high = EPHEMERAL_STORAGE_GIB
        if not low <= storage["sizeInGiB"] <= high:
            raise invalid(f"The ephemeral storage size must be between {low} and {high} GiB.")
    constraints = td["placementConstraints"]
    if len(constraints) > MAX_PLACEMENT_CONSTRAINTS:
        raise invalid(
            f"A task definition can have at most {MAX_PLACEMENT_CONSTRAINTS} placement constraints."
        )
    for pc in constraints:
        if pc.get("type") != "memberOf" or not pc.get("expression"):
            raise invalid(
                "Task definition placement constraints must be of type 'memberOf' with an expression."
            )
    platform = td.get("runtimePlatform") or {}
    os_family = platform.get("operatingSystemFamily", "LINUX")
    if os_family.startswith("WINDOWS"):
        if platform.get("cpuArchitecture") == "ARM64":
            raise invalid("The ARM64 CPU architecture is not supported with Windows operating systems.")
        if td.get("pidMode") or td.get("ipcMode"):
            raise invalid("pidMode and ipcMode are not supported for Windows containers.")


def check_tags(tags: list[Doc]) -> list[Doc]:
    """ECS tag rules (also used by TagResource): ≤50, unique keys, no ``aws:`` prefix."""
    if len(tags) > MAX_TAGS:
        raise TaskDefinitionInvalid(f"A resource can have at most {MAX_TAGS} tags.", INVALID_PARAMETER)
    seen: set[str] = set()
    out: list[Doc] = []
    for tag in tags:
        key = tag.get("key")
        if not key:
            raise TaskDefinitionInvalid("Tag keys must not be empty.", INVALID_PARAMETER)
        if key.lower().startswith("aws:"):
            raise TaskDefinitionInvalid(
                "Tag keys prefixed with 'aws:' are reserved for AWS use.", INVALID_PARAMETER
            )
        if key in seen:
            raise TaskDefinitionInvalid(f"Duplicate tag key '{key}'.", INVALID_PARAMETER)
        seen.add(key)
        out.append({"key": key, "value": tag.get("value", "")})
    return out
