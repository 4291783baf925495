"""Where each ECS resource lives in the store. One function per key family; nothing else in the
code base spells a key. ECS resources are regional and per account, so every key starts with
``/ecs/{account}/{region}/``. Numbers in keys are zero-padded so key order is numeric order."""

from __future__ import annotations


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
