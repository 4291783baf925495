"""RunTask/StartTask request checks and the pieces they build: the task definition to run, its
network, tags, placement constraints, and one ``NewTask`` + ``TaskSpec`` per task.

Everything ECS rejects before placing anything is rejected here, with ECS's error types.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stowage.api.aws.context import RequestContext
from stowage.api.ecs import errors
from stowage.controllers.task_plane import TaskPlane
from stowage.model import task_definitions as td_model
from stowage.model import tasks as model
from stowage.model.agent_tasks import TaskNetwork, TaskSpec
from stowage.model.arns import task_arn
from stowage.model.ids import random_uuid
from stowage.model.placement import PlacementRequest, StrategyError, check_strategy
from stowage.model.tags import check_tags, merge_tags
from stowage.model.validation import Invalid
from stowage.resources import ecs_keys
from stowage.resources.records import Doc
from stowage.resources.task_definitions import TaskDefinitionStore, public_view
from stowage.scheduler import query
from stowage.scheduler.snapshot import Instance

PROPAGATE = ("TASK_DEFINITION", "SERVICE", "NONE")
MAX_CONSTRAINTS = 10
MAX_STRATEGIES = 5
STRATEGY_TYPES = ("random", "spread", "binpack")
CONSTRAINT_TYPES = ("distinctInstance", "memberOf")


@dataclass(frozen=True, slots=True)
class TaskRequest:
    """A checked RunTask/StartTask request: what every task of the call shares."""

    cluster: str
    cluster_arn: str
    task_definition: Doc
    overrides: Doc
    launch_type: str
    group: str
    started_by: str | None
    tags: list[Doc]
    enable_execute_command: bool
    network_configuration: Doc | None
    constraints: list[Doc]
    strategy: list[Doc]
    needs: model.Needs

    def placement(self) -> PlacementRequest:
        vpc = (self.network_configuration or {}).get("awsvpcConfiguration") or {}
        return PlacementRequest(
            self.needs,
            self.group,
            self.constraints,
            self.strategy,
            launch_type=self.launch_type,
            requires_attributes=list(self.task_definition.get("requiresAttributes") or []),
            family=str(self.task_definition.get("taskDefinitionArn", "")),
            subnets=tuple(vpc.get("subnets") or ()),
        )


async def resolve_task_definition(plane: TaskPlane, ctx: RequestContext, text: str) -> Doc:
    ref = td_model.parse_identifier(text)
    if ref is None or (ref.account is not None and (ref.account, ref.region) != (ctx.account_id, ctx.region)):
        raise errors.client_exception("TaskDefinition not found.")
    store = TaskDefinitionStore(plane.records)
    if ref.revision is None:
        rec = await store.latest_active(ctx.account_id, ctx.region, ref.family)
    else:
        rec = await store.get(ctx.account_id, ctx.region, ref.family, ref.revision)
    if rec is None:
        raise errors.client_exception("TaskDefinition not found.")
    if rec.doc.get("status") != "ACTIVE":
        raise errors.client_exception("TaskDefinition is inactive.")
    return rec.doc


def _network(td: Doc, params: dict[str, Any]) -> Doc | None:
    config = params.get("networkConfiguration")
    if model.network_mode(td) == "awsvpc":
        vpc = (config or {}).get("awsvpcConfiguration")
        if not vpc:
            raise errors.invalid_parameter(
                "Network Configuration must be provided when networkMode 'awsvpc' is specified."
            )
        if not vpc.get("subnets"):
            raise errors.invalid_parameter("subnets can not be empty.")
        if len(vpc["subnets"]) > 16 or len(vpc.get("securityGroups") or []) > 5:
            raise errors.invalid_parameter("At most 16 subnets and 5 security groups can be specified.")
        if vpc.get("assignPublicIp") not in (None, "ENABLED", "DISABLED"):
            raise errors.invalid_parameter("assignPublicIp must be ENABLED or DISABLED.")
        return dict(config or {})
    if config:
        raise errors.invalid_parameter(
            "Network Configuration is not valid for the given networkMode of this task definition."
        )
    return None


def _constraints(td: Doc, params: dict[str, Any]) -> list[Doc]:
    given = list(params.get("placementConstraints") or [])
    if len(given) > MAX_CONSTRAINTS:
        raise errors.invalid_parameter(f"A maximum of {MAX_CONSTRAINTS} placement constraints is allowed.")
    for c in given:
        if c.get("type") not in CONSTRAINT_TYPES:
            raise errors.invalid_parameter(f"Invalid placement constraint type '{c.get('type')}'.")
        if c.get("type") == "memberOf":
            if not c.get("expression"):
                raise errors.invalid_parameter("A memberOf placement constraint requires an expression.")
            try:
                query.parse(c["expression"])
            except query.QueryError as exc:
                raise errors.invalid_parameter(str(exc)) from None
        elif c.get("expression"):
            raise errors.invalid_parameter("A distinctInstance placement constraint takes no expression.")
    return [dict(c) for c in td.get("placementConstraints") or []] + [dict(c) for c in given]


def _strategy(params: dict[str, Any]) -> list[Doc]:
    given = list(params.get("placementStrategy") or [])
    if len(given) > MAX_STRATEGIES:
        raise errors.invalid_parameter(f"A maximum of {MAX_STRATEGIES} placement strategies is allowed.")
    for s in given:
        if s.get("type") not in STRATEGY_TYPES:
            raise errors.invalid_parameter(f"Invalid placement strategy type '{s.get('type')}'.")
    try:
        check_strategy(given)
    except StrategyError as exc:
        raise errors.invalid_parameter(str(exc)) from None
    return [dict(s) for s in given]


def _tags(td: Doc, params: dict[str, Any]) -> list[Doc]:
    propagate = params.get("propagateTags")
    if propagate is not None and propagate not in PROPAGATE:
        raise errors.invalid_parameter(f"Invalid propagateTags value '{propagate}'.")
    try:
        tags = check_tags(params.get("tags") or [])
    except Invalid as exc:
        raise errors.invalid_parameter(str(exc)) from None
    if propagate == "TASK_DEFINITION":
        # The task definition's tags, overridden by the request's for the same key.
        return merge_tags(td.get("tags") or [], tags)
    return tags


async def check_request(
    plane: TaskPlane, ctx: RequestContext, params: dict[str, Any], cluster: Doc, *, launch_type: str
) -> TaskRequest:
    td = await resolve_task_definition(plane, ctx, params["taskDefinition"])
    compat = td.get("requiresCompatibilities")
    if compat and launch_type not in compat:
        raise errors.invalid_parameter(f"Task definition does not support launch_type {launch_type}.")
    overrides = dict(params.get("overrides") or {})
    try:
        model.check_overrides(td, overrides)
    except Invalid as exc:
        raise errors.invalid_parameter(str(exc)) from None
    started_by = params.get("startedBy")
    if started_by is not None and len(started_by) > 128:
        raise errors.invalid_parameter("startedBy can be at most 128 characters.")
    group = params.get("group") or f"family:{td['family']}"
    if len(group) > 255:
        raise errors.invalid_parameter("group can be at most 255 characters.")
    return TaskRequest(
        cluster=cluster["clusterName"],
        cluster_arn=cluster["clusterArn"],
        task_definition=td,
        overrides=overrides,
        launch_type=launch_type,
        group=group,
        started_by=started_by,
        tags=_tags(td, params),
        enable_execute_command=bool(params.get("enableExecuteCommand")),
        network_configuration=_network(td, params),
        constraints=_constraints(td, params),
        strategy=_strategy(params),
        needs=model.needs_of(td, overrides),
    )


def new_task(ctx: RequestContext, req: TaskRequest) -> tuple[str, model.NewTask]:
    """One task of the request: its store key and everything but its placement."""
    tid = model.new_task_id()
    awsvpc = model.network_mode(req.task_definition) == "awsvpc"
    new = model.NewTask(
        task_id=tid,
        task_arn=task_arn(ctx.region, ctx.account_id, req.cluster, tid),
        cluster_arn=req.cluster_arn,
        task_definition=req.task_definition,
        overrides=req.overrides,
        launch_type=req.launch_type,
        group=req.group,
        started_by=req.started_by,
        tags=req.tags,
        enable_execute_command=req.enable_execute_command,
        network_configuration=req.network_configuration,
        placement_constraints=req.constraints,
        placement_strategy=req.strategy,
        needs=req.needs,
        created_at=ctx.now,
        attachment_id=str(random_uuid()) if awsvpc else None,
    )
    return ecs_keys.task(ctx.account_id, ctx.region, req.cluster, tid), new


def build_for(new: model.NewTask, candidate: Instance) -> Doc:
    """The task record of ``new`` placed on ``candidate``, with the agent's TaskSpec inside."""
    td = new.task_definition
    vpc = (new.network_configuration or {}).get("awsvpcConfiguration") or {}
    spec = TaskSpec(
        task_arn=new.task_arn,
        cluster_arn=new.cluster_arn,
        container_instance_arn=candidate.arn,
        task_definition_arn=td["taskDefinitionArn"],
        family=td["family"],
        revision=int(td["revision"]),
        task_definition=public_view(td),
        overrides=new.overrides,
        launch_type=new.launch_type,
        network=TaskNetwork(
            mode=model.network_mode(td),
            attachment_id=new.attachment_id,
            subnets=list(vpc.get("subnets") or []),
            security_groups=list(vpc.get("securityGroups") or []),
            assign_public_ip=vpc.get("assignPublicIp"),
        ),
        group=new.group,
        started_by=new.started_by,
        created_at=new.created_at,
        tags=list(new.tags),
        enable_execute_command=new.enable_execute_command,
    )
    zone = candidate.attributes.get("ecs.availability-zone")
    return model.build_task(
        new,
        instance_id=candidate.instance_id,
        instance_arn=candidate.arn,
        availability_zone=zone,
        spec=spec.encode(),
    )
