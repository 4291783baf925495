"""Fargate launches: which launch type and capacity providers a RunTask/CreateService call gets,
the Fargate checks ECS makes before accepting it, and the unplaced task records it writes.

A Fargate task is accepted at once and written PROVISIONING with no instance; the Fargate
provisioner (``controllers.fargate``) then places it on the pool's hosts as capacity allows,
so a full pool delays tasks instead of failing them. Each task carries what ECS reports for
Fargate (``capacityProviderName`` when a strategy chose it, ``platformVersion``,
``platformFamily``, ``ephemeralStorage``, the cpu architecture attribute) and its encoded
``TaskSpec`` with the instance left blank until placement.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from stowage.api.aws.context import RequestContext
from stowage.api.ecs import errors
from stowage.api.ecs.task_requests import TaskRequest, build_for, new_task
from stowage.controllers.task_plane import TaskPlane
from stowage.model import capacity_providers as cp
from stowage.model import fargate
from stowage.model import tasks as model
from stowage.model.agent_tasks import TaskSpec
from stowage.model.validation import Invalid
from stowage.resources.records import Doc, Record
from stowage.scheduler.snapshot import Instance
from stowage.store.base import Compare

EC2 = "EC2"
FARGATE = "FARGATE"
BOTH_GIVEN = "Specifying both a launch type and capacity provider strategy is not supported."
ASG_PROVIDERS = (
    "Capacity providers backed by Auto Scaling groups are not served by stowage: use launchType "
    "EC2 with registered container instances, or the FARGATE and FARGATE_SPOT providers."
)
NO_STRATEGIES = "Placement strategies are not supported with FARGATE launch type."
NO_CONSTRAINTS = "Placement constraints are not supported with FARGATE launch type."
NOT_COMPATIBLE = "Task definition does not support launch_type FARGATE."
EC2_PLATFORM = "The platform version must be null when specifying an EC2 launch type."


@dataclass(frozen=True, slots=True)
class Launch:
    """How a call's tasks run: EC2 on the cluster's instances, or FARGATE on the pool."""

    launch_type: str
    strategy: list[Doc] = field(default_factory=list)
    """The capacity provider strategy (Fargate providers only); empty for a ``launchType``."""
    from_strategy: bool = False
    """True when the call (or the cluster default) gave a strategy rather than a launch type."""


def launch_of(params: dict[str, Any], cluster: Doc, current: Launch | None = None) -> Launch:
    """The launch a RunTask/CreateService/UpdateService call asks for, ECS's rules: a launch
    type or a capacity provider strategy (never both); neither means the cluster's default
    strategy if it has one, else what the service had (``current``), else EC2."""
    launch = params.get("launchType")
    given = params.get("capacityProviderStrategy")
    if launch and given:
        raise errors.invalid_parameter(BOTH_GIVEN)
    if given:
        return _strategy_launch(given, cluster)
    if launch:
        if launch not in (EC2, FARGATE):
            raise errors.invalid_parameter(f"launchType {launch} is not available: use EC2 or FARGATE.")
        return Launch(str(launch))
    if current is not None:
        return current
    default = cluster.get("defaultCapacityProviderStrategy") or []
    if default:
        return _strategy_launch(default, cluster)
    return Launch(EC2)


def _strategy_launch(strategy: list[Doc], cluster: Doc) -> Launch:
    associated = list(cluster.get("capacityProviders") or [])
    types = {name: name for name in associated if name in cp.FARGATE_TYPES}
    try:
        items = cp.check_strategy(strategy, associated, types)
    except Invalid as exc:
        raise errors.invalid_parameter(str(exc)) from None
    if any(i["capacityProvider"] not in cp.FARGATE_TYPES for i in items):
        raise errors.invalid_parameter(ASG_PROVIDERS)
    return Launch(FARGATE, items, from_strategy=True)


def check_platform(params: dict[str, Any], launch: Launch) -> str | None:
    """The platform version of the call's tasks (None on EC2, where ECS refuses one)."""
    given = params.get("platformVersion")
    if launch.launch_type != FARGATE:
        if given is not None:
            raise errors.invalid_parameter(EC2_PLATFORM)
        return None
    try:
        return fargate.platform_version(given)
    except fargate.FargateRequestError as exc:
        raise errors.invalid_parameter(str(exc)) from None


def check_fargate(req: TaskRequest, params: dict[str, Any]) -> int:
    """ECS's Fargate checks of a request whose definition resolved; the ephemeral storage GiB."""
    td = req.task_definition
    if FARGATE not in (td.get("compatibilities") or []):
        raise errors.invalid_parameter(NOT_COMPATIBLE)
    if params.get("placementStrategy"):
        raise errors.invalid_parameter(NO_STRATEGIES)
    if params.get("placementConstraints"):
        raise errors.invalid_parameter(NO_CONSTRAINTS)
    try:
        fargate.check_runtime_platform(td)
        fargate.check_size(req.needs.cpu, req.needs.memory)
        return fargate.ephemeral_gib(td, req.overrides)
    except fargate.FargateRequestError as exc:
        raise errors.invalid_parameter(str(exc)) from None


_UNPLACED = Instance(
    key="", instance_id="", arn="", mod_revision=0, status="ACTIVE", connected=True, cpu=0, memory=0
)
"""Stands for the host when the spec is built: the provisioner fills the instance in."""


def unplaced_tasks(
    ctx: RequestContext,
    req: TaskRequest,
    providers: list[str | None],
    platform_version: str,
    ephemeral_gib: int,
) -> list[tuple[str, Doc]]:
    """One PROVISIONING task per entry of ``providers`` (its capacity provider, None for a
    plain ``launchType: FARGATE``): store keys and records, not yet on any host."""
    arch = fargate.architecture(req.task_definition)
    out: list[tuple[str, Doc]] = []
    for provider in providers:
        key, new = new_task(ctx, req)
        extra: Doc = {
            "platformVersion": platform_version,
            "platformFamily": "Linux",
            "ephemeralStorage": {"sizeInGiB": ephemeral_gib},
            "attributes": [{"name": "ecs.cpu-architecture", "value": arch}],
        }
        if provider is not None:
            extra["capacityProviderName"] = provider
        new = replace(new, extra=extra)
        spec = TaskSpec.decode(build_for(new, _UNPLACED)["_spec"])
        spec = replace(spec, capacity_provider=fargate_provider(provider))
        doc = model.build_task(
            new, instance_id=None, instance_arn=None, availability_zone=None, spec=spec.encode()
        )
        doc["lastStatus"] = "PROVISIONING"
        doc["_capacityProvider"] = provider or fargate_provider(None)
        out.append((key, doc))
    return out


def fargate_provider(name: str | None) -> str:
    """The capacity a Fargate task uses: its provider, FARGATE for a plain launch type."""
    return name or cp.FARGATE


async def write_unplaced(plane: TaskPlane, cluster: Record, tasks: list[tuple[str, Doc]]) -> list[Record]:
    """Create the tasks in one transaction, guarded by the cluster's revision (a cluster being
    deleted takes none); raises ``errors.cluster_not_found`` once it is no longer ACTIVE."""
    for _ in range(8):
        compares = [Compare.mod_revision(cluster.key, cluster.mod_revision)]
        compares += [Compare.absent(k) for k, _ in tasks]
        result = await plane.records.commit(compares, tasks)
        if result.succeeded:
            await plane.written(result.revision)
            return [Record(k, d, result.revision) for k, d in tasks]
        fresh = await plane.records.get(cluster.key)
        if fresh is None or fresh.doc.get("status") != "ACTIVE":
            break
        cluster = fresh
    raise errors.cluster_not_found()
