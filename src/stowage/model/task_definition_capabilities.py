"""What a task definition needs from where it runs: Fargate eligibility, ``compatibilities`` and
``requiresAttributes``.

ECS derives both outputs from the features a task definition uses. ``compatibilities`` lists
the launch types the definition is valid for (EC2 always; FARGATE when every Fargate rule
holds; EXTERNAL for the network modes ECS Anywhere supports). ``requiresAttributes`` lists the
container-instance attributes (``com.amazonaws.ecs.capability.*``, ``ecs.capability.*``) an
EC2/EXTERNAL host must advertise to run it; the scheduler filters hosts on them. The mapping
below follows the ECS "container instance attributes" reference; where ECS's own derivation is
undocumented the closest documented capability is used.
"""

from __future__ import annotations

import re
from typing import Any

from stowage.model import fargate

Doc = dict[str, Any]

FARGATE_LOG_DRIVERS = ("awslogs", "splunk", "awsfirelens")
FARGATE_MAX_STOP_TIMEOUT = 120
FARGATE_ADDABLE_CAPABILITIES = frozenset({"SYS_PTRACE"})

_ECR_IMAGE = re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/")

_DOCKER_API = "com.amazonaws.ecs.capability.docker-remote-api."
_ECS_CAP = "ecs.capability."


def fargate_problem(td: Doc) -> str | None:
    """Why ``td`` (normalized: integer-string cpu/memory) cannot run on Fargate, as the
    ClientException message ECS gives when FARGATE is required; None if it can."""
    if td.get("networkMode") != "awsvpc":
        return "Fargate only supports network mode \u2018awsvpc\u2019."
    if "cpu" not in td:
        return "Fargate requires that 'cpu' be defined at the task level."
    if "memory" not in td:
        return "Fargate requires that 'memory' be defined at the task level."
    cpu, memory = int(td["cpu"]), int(td["memory"])
    if not fargate.is_valid_size(cpu, memory):
        return (
            f"No Fargate configuration exists for given values: {cpu} CPU, {memory} memory. "
            "See the Amazon ECS documentation for the valid values."
        )
    if td.get("ipcMode"):
        return "Tasks using the Fargate launch type do not support ipcMode."
    if td.get("pidMode") == "host":
        return "Tasks using the Fargate launch type do not support pidMode 'host'."
    if td.get("placementConstraints"):
        return "Tasks using the Fargate launch type do not support placementConstraints."
    for volume in td.get("volumes", []):
        if (volume.get("host") or {}).get("sourcePath"):
            return f"Fargate does not support host volumes with a 'sourcePath' (volume '{volume['name']}')."
        if "dockerVolumeConfiguration" in volume:
            return f"Fargate does not support 'dockerVolumeConfiguration' (volume '{volume['name']}')."
    for c in td["containerDefinitions"]:
        problem = _fargate_container_problem(td, c)
        if problem is not None:
            return problem
    return None


def _fargate_container_problem(td: Doc, c: Doc) -> str | None:
    name = c["name"]
    if c.get("privileged"):
        return f"Fargate does not support privileged containers (container '{name}')."
    if c.get("disableNetworking"):
        return f"Fargate does not support 'disableNetworking' (container '{name}')."
    if c.get("dockerSecurityOptions"):
        return f"Fargate does not support 'dockerSecurityOptions' (container '{name}')."
    linux = c.get("linuxParameters") or {}
    if linux.get("devices"):
        return f"Fargate does not support 'devices' (container '{name}')."
    if linux.get("sharedMemorySize") is not None:
        return f"Fargate does not support 'sharedMemorySize' (container '{name}')."
    if linux.get("tmpfs"):
        return f"Fargate does not support 'tmpfs' (container '{name}')."
    if linux.get("maxSwap") is not None or linux.get("swappiness") is not None:
        return f"Fargate does not support swap settings (container '{name}')."
    added = set((linux.get("capabilities") or {}).get("add", []))
    if added - FARGATE_ADDABLE_CAPABILITIES:
        return f"Fargate only supports adding the SYS_PTRACE kernel capability (container '{name}')."
    if c.get("stopTimeout", 0) > FARGATE_MAX_STOP_TIMEOUT:
        return (
            "Tasks using the Fargate launch type must have a container stop timeout of "
            f"{FARGATE_MAX_STOP_TIMEOUT} seconds or less."
        )
    log = c.get("logConfiguration")
    if log is not None:
        driver = log["logDriver"]
        if driver not in FARGATE_LOG_DRIVERS:
            return f"{driver} is not a valid log driver. Must be one of [{','.join(FARGATE_LOG_DRIVERS)}]"
        if driver == "awslogs" and not td.get("executionRoleArn"):
            return (
                "Fargate requires task definition to have execution role ARN to support log driver awslogs."
            )
    if _ECR_IMAGE.match(c["image"]) and not td.get("executionRoleArn"):
        return "Fargate requires task definition to have execution role ARN to support ECR images."
    return None


def compatibilities(td: Doc) -> list[str]:
    """The launch types ``td`` is valid for, in the order ECS lists them."""
    out: list[str] = []
    awsvpc = td.get("networkMode") == "awsvpc"
    if not awsvpc:
        out.append("EXTERNAL")
    out.append("EC2")
    if fargate_problem(td) is None:
        out.append("FARGATE")
    if "MANAGED_INSTANCES" in td.get("requiresCompatibilities", []):
        out.append("MANAGED_INSTANCES")
    return out


def requires_attributes(td: Doc) -> list[Doc]:
    """The ``requiresAttributes`` list: ``[{"name": ...}]``, sorted, without duplicates."""
    names: set[str] = set()
    add = names.add
    if td.get("taskRoleArn"):
        add("com.amazonaws.ecs.capability.task-iam-role")
    mode = td.get("networkMode")
    if mode == "awsvpc":
        add(_ECS_CAP + "task-eni")
    if mode in ("awsvpc", "host", "none"):
        add(_DOCKER_API + "1.18")
    if td.get("pidMode") or td.get("ipcMode"):
        add(_ECS_CAP + "pid-ipc-namespace-sharing")
    if td.get("proxyConfiguration"):
        add(_ECS_CAP + "aws-appmesh")
    if td.get("enableFaultInjection"):
        add(_ECS_CAP + "fault-injection")
    for volume in td.get("volumes", []):
        if "efsVolumeConfiguration" in volume:
            add(_ECS_CAP + "efs")
            efs = volume["efsVolumeConfiguration"]
            if efs.get("authorizationConfig") or efs.get("transitEncryption") == "ENABLED":
                add(_ECS_CAP + "efsAuth")
        if "dockerVolumeConfiguration" in volume:
            add(_DOCKER_API + "1.25")
        if "fsxWindowsFileServerVolumeConfiguration" in volume:
            add(_ECS_CAP + "fsxWindowsFileServer")
    for c in td["containerDefinitions"]:
        _container_attributes(td, c, add)
    return [{"name": n} for n in sorted(names)]


def _container_attributes(td: Doc, c: Doc, add: Any) -> None:
    if c.get("memoryReservation") is not None:
        add(_DOCKER_API + "1.21")
    if c.get("dockerLabels") or c.get("ulimits"):
        add(_DOCKER_API + "1.18")
    if c.get("healthCheck"):
        add(_ECS_CAP + "container-health-check")
        add(_DOCKER_API + "1.24")
    if c.get("dependsOn") or c.get("startTimeout") is not None or c.get("stopTimeout") is not None:
        add(_ECS_CAP + "container-ordering")
    if c.get("systemControls"):
        add(_DOCKER_API + "1.25")
    linux = c.get("linuxParameters") or {}
    if linux:
        add(_DOCKER_API + "1.25")
    if c.get("repositoryCredentials"):
        add("com.amazonaws.ecs.capability.private-registry-authentication.secretsmanager")
    if c.get("environmentFiles"):
        add(_ECS_CAP + "env-files.s3")
    for secret in c.get("secrets", []):
        add(_ECS_CAP + ("secrets.asm.environment-variables" if ":secretsmanager:" in secret["valueFrom"]
                        else "secrets.ssm.environment-variables"))  # fmt: skip
    if _ECR_IMAGE.match(c["image"]) and td.get("executionRoleArn"):
        add(_ECS_CAP + "execution-role-ecr-pull")
    if c.get("firelensConfiguration"):
        add(_ECS_CAP + "firelens." + c["firelensConfiguration"]["type"])
    log = c.get("logConfiguration")
    if log is not None:
        driver = log["logDriver"]
        add("com.amazonaws.ecs.capability.logging-driver." + driver)
        add(_DOCKER_API + ("1.19" if driver in ("awslogs", "fluentd", "splunk", "awsfirelens") else "1.18"))
        if driver == "awslogs" and td.get("executionRoleArn"):
            add(_ECS_CAP + "execution-role-awslogs")
        if log.get("secretOptions"):
            add(_ECS_CAP + "secrets.ssm.bootstrap.log-driver")
