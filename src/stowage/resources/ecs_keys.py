"""Where each ECS resource lives in the store. One function per key family; nothing else in the
code base spells a key. ECS resources are regional and per account, so every key starts with
``/ecs/{account}/{region}/``. Numbers in keys are zero-padded so key order is numeric order."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def scope(account: str, region: str) -> str:
    return f"/ecs/{account}/{region}/"


def clusters(account: str, region: str) -> str:
    return f"{scope(account, region)}clusters/"


def cluster(account: str, region: str, name: str) -> str:
    return f"{clusters(account, region)}{name}"


def task_definitions(account: str, region: str, family: str | None = None) -> str:
    """All task definitions, or one family's (note the trailing slash: ``web/`` not ``web-2/``)."""
    base = f"{scope(account, region)}taskdefs/"
    return base if family is None else f"{base}{family}/"


def task_definition(account: str, region: str, family: str, revision: int) -> str:
    return f"{task_definitions(account, region, family)}{revision:010d}"


def task_definition_families(account: str, region: str) -> str:
    return f"{scope(account, region)}taskdef-families/"


def task_definition_family(account: str, region: str, family: str) -> str:
    return f"{task_definition_families(account, region)}{family}"


def capacity_providers(account: str, region: str) -> str:
    return f"{scope(account, region)}capacity-providers/"


def capacity_provider(account: str, region: str, name: str) -> str:
    return f"{capacity_providers(account, region)}{name}"


def attributes(account: str, region: str, cluster_name: str) -> str:
    return f"{scope(account, region)}attributes/{cluster_name}/"


def attribute(account: str, region: str, cluster_name: str, target_id: str, name: str) -> str:
    return f"{attributes(account, region, cluster_name)}{target_id}/{name}"


def account_settings(account: str, region: str) -> str:
    return f"{scope(account, region)}account-settings/"


def account_setting(account: str, region: str, principal_arn: str, name: str) -> str:
    """``principal_arn`` is ``default`` for the account-wide default."""
    return f"{account_settings(account, region)}{principal_arn}/{name}"


def container_instances(account: str, region: str, cluster_name: str) -> str:
    return f"{scope(account, region)}container-instances/{cluster_name}/"


def container_instance(account: str, region: str, cluster_name: str, instance_id: str) -> str:
    """``instance_id`` is the short id (the last part of the container instance ARN)."""
    return f"{container_instances(account, region, cluster_name)}{instance_id}"


def tasks(account: str, region: str, cluster_name: str) -> str:
    return f"{scope(account, region)}tasks/{cluster_name}/"


def task(account: str, region: str, cluster_name: str, task_id: str) -> str:
    """``task_id`` is the short id (the last part of the task ARN)."""
    return f"{tasks(account, region, cluster_name)}{task_id}"


ROOT = "/ecs/"
"""The prefix of every ECS key: the one prefix the control plane's ECS informer watches."""

TASK_FAMILY = "tasks"
CONTAINER_INSTANCE_FAMILY = "container-instances"


def task_instance(task_key: str, doc: Mapping[str, Any]) -> str | None:
    """The container-instance key a task runs on (the Fargate pool's for a Fargate task); None
    while a Fargate task waits for capacity."""
    iid = doc.get("_instance")
    if iid is None:
        return None
    parts = task_key.split("/")
    cluster = str(doc.get("_hostCluster") or parts[5])
    return container_instance(parts[2], parts[3], cluster, str(iid))


def parse(key: str) -> tuple[str, str, str, str, str] | None:
    """``(account, region, family, cluster, id)`` of a task or container-instance key, else None.
    Used by the informer to route events without decoding values."""
    parts = key.split("/")
    # "", "ecs", account, region, family, cluster, id
    if len(parts) != 7 or parts[1] != "ecs":
        return None
    family = parts[4]
    if family not in (TASK_FAMILY, CONTAINER_INSTANCE_FAMILY):
        return None
    return parts[2], parts[3], family, parts[5], parts[6]


def parse_attribute(key: str) -> tuple[str, str, str] | None:
    """``(account, region, cluster)`` of a custom attribute key, else None."""
    parts = key.split("/")
    # "", "ecs", account, region, "attributes", cluster, target id, name
    if len(parts) != 8 or parts[1] != "ecs" or parts[4] != "attributes":
        return None
    return parts[2], parts[3], parts[5]


SERVICES_ROOT = "/ecs-services/"
"""Services live under their own root, outside ``/ecs/``: the task informer's one watch on
``/ecs/`` never sees service writes, and the service controller watches only this prefix."""


def services(account: str, region: str, cluster_name: str | None = None) -> str:
    base = f"{SERVICES_ROOT}{account}/{region}/"
    return base if cluster_name is None else f"{base}{cluster_name}/"


def service(account: str, region: str, cluster_name: str, name: str) -> str:
    return f"{services(account, region, cluster_name)}{name}"


def parse_service(key: str) -> tuple[str, str, str, str] | None:
    """``(account, region, cluster, name)`` of a service key, else None."""
    parts = key.split("/")
    # "", "ecs-services", account, region, cluster, name
    if len(parts) != 6 or parts[1] != "ecs-services":
        return None
    return parts[2], parts[3], parts[4], parts[5]


USAGE_ROOT = "/ecs-usage/"
"""The Fargate usage ledger (``resources/usage.py``): its own root, outside ``/ecs/``, so the
ECS informer never sees ledger writes. Keys are ordered by the UTC day the task stopped, so a
query ``--since`` a day reads only that day onwards."""


def usage_ledger(account: str, region: str) -> str:
    return f"{USAGE_ROOT}{account}/{region}/"


def usage_entry(account: str, region: str, day: str, cluster_name: str, task_id: str) -> str:
    """``day`` is ``YYYY-MM-DD`` (UTC) of the task's ``stoppedAt``, which never changes once set,
    so one task always has the same key."""
    return f"{usage_ledger(account, region)}{day}/{cluster_name}/{task_id}"


def parse_usage(key: str) -> tuple[str, str, str, str, str] | None:
    """``(account, region, day, cluster, task id)`` of a ledger key, else None."""
    parts = key.split("/")
    # "", "ecs-usage", account, region, day, cluster, id
    if len(parts) != 7 or parts[1] != "ecs-usage":
        return None
    return parts[2], parts[3], parts[4], parts[5], parts[6]
