"""ECS capacity providers: names, the built-in Fargate providers, Auto Scaling group provider
settings with ECS's defaults, and capacity provider strategies.

Capacity provider records are the ``CapacityProvider`` shape of the ECS API. FARGATE and
FARGATE_SPOT exist in every account and region without a record.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from stowage.model.arns import capacity_provider_arn, parse_arn
from stowage.model.validation import Invalid

FARGATE = "FARGATE"
FARGATE_SPOT = "FARGATE_SPOT"
BUILTIN = (FARGATE, FARGATE_SPOT)
TYPE_ASG = "EC2_AUTOSCALING"
TYPE_MANAGED_INSTANCES = "MANAGED_INSTANCES"
FARGATE_TYPES = frozenset({FARGATE, FARGATE_SPOT})
MAX_PER_CLUSTER = 20
MAX_STRATEGY_ITEMS = 20
MAX_DESCRIBE_PAGE = 10

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_RESERVED_PREFIXES = ("aws", "ecs", "fargate")

# ECS fills these in when a request leaves them out.
MANAGED_SCALING_DEFAULTS: dict[str, Any] = {
    "status": "DISABLED",
    "targetCapacity": 100,
    "minimumScalingStepSize": 1,
    "maximumScalingStepSize": 10000,
    "instanceWarmupPeriod": 300,
}

Doc = dict[str, Any]


def check_new_name(name: str) -> str:
    if not _NAME.match(name):
        raise Invalid(
            "The capacity provider name must be 1-255 characters long and contain only letters, "
            "numbers, underscores and hyphens."
        )
    if name.lower().startswith(_RESERVED_PREFIXES):
        raise Invalid("The capacity provider name cannot be prefixed with 'aws', 'ecs', or 'fargate'.")
    return name


def name_from_ref(ref: str, account: str, region: str) -> str | None:
    """A capacity provider's short name from a name or full ARN; None if it cannot be one."""
    if ref.startswith("arn:"):
        arn = parse_arn(ref)
        if (
            arn is None
            or arn.service != "ecs"
            or arn.resource_type != "capacity-provider"
            or arn.account != account
            or arn.region != region
        ):
            return None
        ref = arn.resource_id
    return ref if _NAME.match(ref) else None


def builtin(region: str, account: str, name: str) -> Doc:
    return {
        "capacityProviderArn": capacity_provider_arn(region, account, name),
        "name": name,
        "status": "ACTIVE",
        "tags": [],
        "type": name,
    }


def provider_type(doc: Mapping[str, Any]) -> str:
    return str(doc.get("type", TYPE_ASG))


def check_asg_arn(arn_text: str) -> str:
    arn = parse_arn(arn_text)
    if arn is None or arn.service != "autoscaling" or not arn.resource.startswith("autoScalingGroup:"):
        raise Invalid(
            f"The specified Auto Scaling group ARN '{arn_text}' is not valid. "
            "Specify a valid Auto Scaling group ARN and try again."
        )
    return arn_text


def _managed_scaling(given: Mapping[str, Any] | None, base: Mapping[str, Any]) -> Doc:
    merged = dict(base)
    merged.update(given or {})
    if merged["minimumScalingStepSize"] > merged["maximumScalingStepSize"]:
        raise Invalid("minimumScalingStepSize must be less than or equal to maximumScalingStepSize.")
    return merged


def _check_termination_protection(asg: Mapping[str, Any]) -> None:
    if asg.get("managedTerminationProtection") == "ENABLED" and asg["managedScaling"]["status"] != "ENABLED":
        raise Invalid(
            "The managed termination protection setting for the capacity provider is invalid. "
            "To enable managed termination protection for a capacity provider, managed scaling "
            "must also be enabled."
        )


def new_asg_provider(given: Mapping[str, Any]) -> Doc:
    """An ``autoScalingGroupProvider`` from CreateCapacityProvider, with ECS's defaults."""
    asg: Doc = {
        "autoScalingGroupArn": check_asg_arn(str(given["autoScalingGroupArn"])),
        "managedScaling": _managed_scaling(given.get("managedScaling"), MANAGED_SCALING_DEFAULTS),
        "managedTerminationProtection": given.get("managedTerminationProtection", "DISABLED"),
        "managedDraining": given.get("managedDraining", "ENABLED"),
    }
    _check_termination_protection(asg)
    return asg


def update_asg_provider(current: Mapping[str, Any], given: Mapping[str, Any]) -> Doc:
    """UpdateCapacityProvider: the members given replace the current ones."""
    asg = dict(current)
    if "managedScaling" in given:
        asg["managedScaling"] = _managed_scaling(given["managedScaling"], current["managedScaling"])
    for member in ("managedTerminationProtection", "managedDraining"):
        if member in given:
            asg[member] = given[member]
    _check_termination_protection(asg)
    return asg


def check_provider_list(names: Sequence[str]) -> list[str]:
    if len(set(names)) != len(names):
        raise Invalid("The specified capacity providers cannot contain duplicates.")
    if len(names) > MAX_PER_CLUSTER:
        raise Invalid(f"A cluster can have at most {MAX_PER_CLUSTER} capacity providers.")
    return list(names)


def check_strategy(
    strategy: Sequence[Mapping[str, Any]], associated: Sequence[str], types: Mapping[str, str]
) -> list[Doc]:
    """A capacity provider strategy against the providers a cluster has (``associated``, with
    ``types`` giving each one's type). Returns the items with ``base``/``weight`` filled in."""
    items: list[Doc] = []
    seen: set[str] = set()
    for raw in strategy:
        name = str(raw["capacityProvider"])
        if name in seen:
            raise Invalid(
                "The specified capacity provider strategy cannot contain duplicate capacity providers."
            )
        seen.add(name)
        if name not in associated:
            raise Invalid(
                "The specified capacity provider strategy cannot contain a capacity provider that is "
                "not associated with the cluster. Associate the capacity provider with the cluster or "
                "specify a valid capacity provider and try again."
            )
        items.append({"capacityProvider": name, "weight": raw.get("weight", 0), "base": raw.get("base", 0)})
    if len(items) > MAX_STRATEGY_ITEMS:
        raise Invalid(
            f"A capacity provider strategy can contain at most {MAX_STRATEGY_ITEMS} capacity providers."
        )
    if sum(1 for i in items if i["base"] > 0) > 1:
        raise Invalid(
            "The specified capacity provider strategy can have a base value greater than zero for "
            "only one capacity provider."
        )
    if len(items) > 1 and all(i["weight"] == 0 for i in items):
        raise Invalid(
            "The specified capacity provider strategy must contain at least one capacity provider "
            "with a weight value greater than zero."
        )
    fargate = {
        i["capacityProvider"] in FARGATE_TYPES or types.get(i["capacityProvider"]) in FARGATE_TYPES
        for i in items
    }
    if len(fargate) > 1:
        raise Invalid(
            "The specified capacity provider strategy cannot contain a mix of capacity providers "
            "using Auto Scaling groups and Fargate providers. Specify one or the other and try again."
        )
    return items


def scaling_attachment(cluster_arn: str, provider: Mapping[str, Any]) -> Doc | None:
    """The ``as_policy`` attachment ECS adds to a cluster for a provider with managed scaling."""
    asg = provider.get("autoScalingGroupProvider")
    if not asg or asg.get("managedScaling", {}).get("status") != "ENABLED":
        return None
    ident = uuid.uuid5(uuid.NAMESPACE_URL, f"{cluster_arn}#{provider['name']}")
    return {
        "id": str(ident),
        "type": "as_policy",
        "status": "CREATED",
        "details": [
            {"name": "capacityProviderName", "value": provider["name"]},
            {"name": "scalingPolicyName", "value": f"ECSManagedAutoScalingPolicy-{ident}"},
        ],
    }


def distribute(strategy: Sequence[Mapping[str, Any]], existing: Mapping[str, int], count: int) -> list[str]:
    """The provider of each of ``count`` new tasks under a checked ``strategy``, given the tasks
    each provider already runs for the same caller (a service's tasks; nothing for RunTask).

    ECS's rule: the provider with a ``base`` gets tasks until it has ``base``; after that each
    task goes where it brings the providers closest to their ``weight`` shares, i.e. to the
    provider with the fewest tasks beyond its base per unit of weight (ties: strategy order).
    Providers of weight 0 get nothing beyond their base."""
    counts = {str(i["capacityProvider"]): int(existing.get(str(i["capacityProvider"]), 0)) for i in strategy}
    out: list[str] = []
    for _ in range(count):
        chosen: str | None = None
        for item in strategy:
            name = str(item["capacityProvider"])
            if counts[name] < int(item.get("base", 0)):
                chosen = name
                break
        if chosen is None:
            best: tuple[float, int] | None = None
            for order, item in enumerate(strategy):
                name, weight = str(item["capacityProvider"]), int(item.get("weight", 0))
                if weight <= 0 and len(strategy) > 1:
                    continue
                beyond = counts[name] - int(item.get("base", 0))
                score = (beyond + 1) / max(weight, 1)
                if best is None or (score, order) < best:
                    best, chosen = (score, order), name
        if chosen is None:  # every weight is 0 with one provider: ECS treats it as weight 1
            chosen = str(strategy[0]["capacityProvider"])
        counts[chosen] += 1
        out.append(chosen)
    return out
