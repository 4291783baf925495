"""Amazon Resource Names for the resources stowage serves: build them, and parse them back."""

from __future__ import annotations

import re
from dataclasses import dataclass

PARTITION = "aws"

_ARN = re.compile(
    r"^arn:(?P<partition>[^:]+):(?P<service>[^:]+):(?P<region>[^:]*):(?P<account>\d*):(?P<resource>.+)$"
)


@dataclass(frozen=True, slots=True)
class Arn:
    service: str
    region: str
    account: str
    resource: str
    """Everything after the account, e.g. ``cluster/default`` or ``task-definition/web:3``."""

    @property
    def resource_type(self) -> str:
        return self.resource.split("/", 1)[0].split(":", 1)[0]

    @property
    def resource_id(self) -> str:
        """What follows the resource type: ``default``, ``web:3``, ``cluster/abc123``."""
        sep = self.resource.find("/")
        return self.resource[sep + 1 :] if sep >= 0 else ""

    def __str__(self) -> str:
        return f"arn:{PARTITION}:{self.service}:{self.region}:{self.account}:{self.resource}"


def parse_arn(text: str) -> Arn | None:
    m = _ARN.match(text)
    if m is None:
        return None
    return Arn(m["service"], m["region"], m["account"], m["resource"])


def ecs_arn(region: str, account: str, resource: str) -> str:
    return f"arn:{PARTITION}:ecs:{region}:{account}:{resource}"


def cluster_arn(region: str, account: str, name: str) -> str:
    return ecs_arn(region, account, f"cluster/{name}")


def task_definition_arn(region: str, account: str, family: str, revision: int) -> str:
    return ecs_arn(region, account, f"task-definition/{family}:{revision}")


def capacity_provider_arn(region: str, account: str, name: str) -> str:
    return ecs_arn(region, account, f"capacity-provider/{name}")


def container_instance_arn(region: str, account: str, cluster: str, instance_id: str) -> str:
    return ecs_arn(region, account, f"container-instance/{cluster}/{instance_id}")


def task_arn(region: str, account: str, cluster: str, task_id: str) -> str:
    return ecs_arn(region, account, f"task/{cluster}/{task_id}")


def service_arn(region: str, account: str, cluster: str, name: str) -> str:
    return ecs_arn(region, account, f"service/{cluster}/{name}")


def root_principal_arn(account: str) -> str:
    return f"arn:{PARTITION}:iam::{account}:root"
