"""ECS clusters as records: names, references, settings, configuration, and the API view.

A cluster record is the ``Cluster`` shape of the ECS API with every member filled in (counts,
statistics, tags, settings, configuration, attachments). ``render`` cuts it down to what
DescribeClusters shows for a given ``include`` list, as ECS does: configuration, settings,
statistics, tags and attachments appear only when asked for.

The counts (``registeredContainerInstancesCount``, ``runningTasksCount``, ``pendingTasksCount``,
``activeServicesCount``) and ``statistics`` are maintained by the code that owns container
instances, tasks and services; this module only initialises them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from stowage.model.arns import parse_arn
from stowage.model.validation import Invalid

DEFAULT_CLUSTER = "default"
ACTIVE = "ACTIVE"
INACTIVE = "INACTIVE"
MAX_DESCRIBE = 100

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")

INCLUDE_FIELDS = frozenset({"ATTACHMENTS", "CONFIGURATIONS", "SETTINGS", "STATISTICS", "TAGS"})
CONTAINER_INSIGHTS = "containerInsights"
CONTAINER_INSIGHTS_VALUES = ("enhanced", "enabled", "disabled")
EXECUTE_COMMAND_LOGGING = ("NONE", "DEFAULT", "OVERRIDE")

COUNT_FIELDS = (
    "registeredContainerInstancesCount",
    "runningTasksCount",
    "pendingTasksCount",
    "activeServicesCount",
)

# The per-launch-type numbers ECS reports under include=STATISTICS, as string values.
STATISTIC_NAMES = (
    "runningEC2TasksCount",
    "runningFargateTasksCount",
    "runningExternalTasksCount",
    "pendingEC2TasksCount",
    "pendingFargateTasksCount",
    "pendingExternalTasksCount",
    "activeEC2ServiceCount",
    "activeFargateServiceCount",
    "activeExternalServiceCount",
    "drainingEC2ServiceCount",
    "drainingFargateServiceCount",
    "drainingExternalServiceCount",
)

Doc = dict[str, Any]


def valid_name(name: str) -> bool:
    return _NAME.match(name) is not None


def check_name(name: str) -> str:
    if not valid_name(name):
        raise Invalid(
            "Cluster name must be 1-255 characters long and contain only letters, numbers, "
            "hyphens and underscores."
        )
    return name


def name_from_ref(ref: str, account: str, region: str) -> str | None:
    """The cluster name a ``cluster`` parameter (short name or full ARN) refers to, or None
    when it cannot name a cluster of this account and region (the caller answers not-found)."""
    if ref.startswith("arn:"):
        arn = parse_arn(ref)
        if (
            arn is None
            or arn.service != "ecs"
            or arn.resource_type != "cluster"
            or arn.account != account
            or arn.region != region
        ):
            return None
        ref = arn.resource_id
    return ref if valid_name(ref) else None


def check_settings(settings: Sequence[Mapping[str, Any]]) -> list[Doc]:
    """Cluster settings from a request (only ``containerInsights`` exists), deduplicated by name."""
    out: dict[str, str] = {}
    for item in settings:
        name, value = item.get("name"), item.get("value")
        if name != CONTAINER_INSIGHTS:
            raise Invalid(f"Invalid cluster setting name: {name}. Valid names: {CONTAINER_INSIGHTS}.")
        if value not in CONTAINER_INSIGHTS_VALUES:
            raise Invalid(
                f"Invalid value '{value}' for setting {CONTAINER_INSIGHTS}. "
                f"Valid values: {', '.join(CONTAINER_INSIGHTS_VALUES)}."
            )
        out[name] = value
    return [{"name": n, "value": v} for n, v in out.items()]


def merge_settings(existing: Iterable[Mapping[str, Any]], new: Sequence[Doc]) -> list[Doc]:
    merged = {s["name"]: s["value"] for s in existing}
    merged.update({s["name"]: s["value"] for s in new})
    return [{"name": n, "value": v} for n, v in merged.items()]


def check_configuration(configuration: Mapping[str, Any]) -> Doc:
    """A ``ClusterConfiguration``: execute-command logging must agree with its log config."""
    out: Doc = {}
    exec_cfg = configuration.get("executeCommandConfiguration")
    if exec_cfg is not None:
        logging = exec_cfg.get("logging", "DEFAULT")
        if logging not in EXECUTE_COMMAND_LOGGING:
            raise Invalid(f"Invalid executeCommandConfiguration logging value: {logging}.")
        has_log_cfg = bool(exec_cfg.get("logConfiguration"))
        if logging == "OVERRIDE" and not has_log_cfg:
            raise Invalid("logConfiguration must be provided when logging is set to OVERRIDE.")
        if logging != "OVERRIDE" and has_log_cfg:
            raise Invalid("logConfiguration can only be provided when logging is set to OVERRIDE.")
        out["executeCommandConfiguration"] = dict(exec_cfg)
    storage = configuration.get("managedStorageConfiguration")
    if storage is not None:
        out["managedStorageConfiguration"] = dict(storage)
    return out


def merge_configuration(existing: Mapping[str, Any] | None, new: Doc) -> Doc:
    """UpdateCluster replaces each configuration member it names and keeps the others."""
    merged = dict(existing or {})
    merged.update(new)
    return merged


def zero_statistics() -> list[Doc]:
    return [{"name": n, "value": "0"} for n in STATISTIC_NAMES]


def new_cluster(
    arn: str,
    name: str,
    *,
    tags: list[Doc],
    settings: list[Doc],
    configuration: Doc | None,
    capacity_providers: list[str],
    strategy: list[Doc],
    attachments: list[Doc],
    service_connect_namespace: str | None,
) -> Doc:
    doc: Doc = {
        "clusterArn": arn,
        "clusterName": name,
        "status": ACTIVE,
        **dict.fromkeys(COUNT_FIELDS, 0),
        "statistics": zero_statistics(),
        "tags": tags,
        "settings": settings,
        "capacityProviders": capacity_providers,
        "defaultCapacityProviderStrategy": strategy,
        "attachments": attachments,
        "attachmentsStatus": "UPDATE_COMPLETE",
    }
    if configuration:
        doc["configuration"] = configuration
    if service_connect_namespace:
        doc["serviceConnectDefaults"] = {"namespace": service_connect_namespace}
    return doc


# What each include value adds to the view; these members are left out otherwise.
_INCLUDED_MEMBERS = {
    "ATTACHMENTS": ("attachments", "attachmentsStatus"),
    "CONFIGURATIONS": ("configuration",),
    "SETTINGS": ("settings",),
    "STATISTICS": ("statistics",),
    "TAGS": ("tags",),
}


def render(doc: Mapping[str, Any], include: Iterable[str] | None = None) -> Doc:
    """The API view of a cluster record. ``include=None`` means everything (what the
    create/update/delete operations return)."""
    wanted = INCLUDE_FIELDS if include is None else frozenset(include)
    hidden = {m for field, members in _INCLUDED_MEMBERS.items() if field not in wanted for m in members}
    view = {k: v for k, v in doc.items() if k not in hidden and not k.startswith("_")}
    if not doc.get("attachments"):
        # Without capacity provider attachments ECS shows an empty list when asked, else nothing.
        view.pop("attachmentsStatus", None)
        if include is None:
            view.pop("attachments", None)
    if include is None:
        # Mutating operations answer with an empty statistics list, as ECS does; the numbers
        # are only computed for DescribeClusters with include=STATISTICS.
        view["statistics"] = []
    return view


def is_active(doc: Mapping[str, Any]) -> bool:
    return doc.get("status") == ACTIVE
