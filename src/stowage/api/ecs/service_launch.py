"""Service tasks, built exactly as RunTask builds tasks: the service controller's ``Launcher``.

A service task is a task with ``startedBy`` = its deployment id and ``group`` =
``service:<name>`` (as in ECS), the service's placement constraints and strategy (ECS's
service default: spread over zones then instances), its network configuration, and the tags
``propagateTags`` / ``enableECSManagedTags`` ask for. It goes through the same planner and
compare-and-swap applier as RunTask (``api.ecs.tasks`` / ``controllers.placement``).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import replace

from stowage.api.aws.context import RequestContext
from stowage.api.aws.errors import AwsError
from stowage.api.ecs.fargate_tasks import FARGATE, unplaced_tasks, write_unplaced
from stowage.api.ecs.task_requests import TaskRequest, build_for, new_task, resolve_task_definition
from stowage.controllers.placement import MAX_TASKS_PER_TXN, ClusterChanged, Contention
from stowage.controllers.services.launcher import Launched
from stowage.controllers.task_plane import TaskPlane
from stowage.model import fargate
from stowage.model import placement as pm
from stowage.model import services as model
from stowage.model import tasks as task_model
from stowage.model.capacity_providers import distribute
from stowage.model.tags import merge_tags
from stowage.resources import ecs_keys
from stowage.resources.records import Doc, Record
from stowage.scheduler import planner
from stowage.scheduler.snapshot import Instance, Snapshot

_NOT_ELIGIBLE = (pm.MEMBER_OF, pm.DISTINCT_INSTANCE, pm.ATTRIBUTE)


def _scope(service: Doc) -> tuple[str, str, str]:
    """(account, region, cluster) of a service document."""
    parts = str(service["serviceArn"]).split(":")
    return parts[4], parts[3], str(service["clusterArn"]).rsplit("/", 1)[-1]


def service_tags(service: Doc, td: Doc) -> list[Doc]:
    propagate = service.get("propagateTags")
    tags: list[Doc] = []
    if propagate == "TASK_DEFINITION":
        tags = list(td.get("tags") or [])
    elif propagate == "SERVICE":
        tags = list(service.get("tags") or [])
    if service.get("enableECSManagedTags"):
        account, region, cluster = _scope(service)
        del account, region
        tags = merge_tags(
            tags,
            [
                {"key": "aws:ecs:clusterName", "value": cluster},
                {"key": "aws:ecs:serviceName", "value": service["serviceName"]},
            ],
        )
    return tags


class ServiceLauncher:
    def __init__(self, plane: TaskPlane) -> None:
        self.plane = plane

    def _ctx(self, service: Doc) -> RequestContext:
        account, region, _cluster = _scope(service)
        return RequestContext(
            account_id=account,
            region=region,
            request_id="service-scheduler",
            access_key_id="",
            principal_arn=f"arn:aws:iam::{account}:root",
            now=time.time(),
        )

    async def _request(self, service: Doc, deployment: Doc) -> TaskRequest:
        ctx = self._ctx(service)
        td = await resolve_task_definition(self.plane, ctx, deployment["taskDefinition"])
        account, region, cluster = _scope(service)
        del account, region
        return TaskRequest(
            cluster=cluster,
            cluster_arn=service["clusterArn"],
            task_definition=td,
            overrides={},
            launch_type=str(deployment.get("launchType") or "EC2"),
            group=model.group_of(service["serviceName"]),
            started_by=deployment["id"],
            tags=service_tags(service, td),
            enable_execute_command=bool(service.get("enableExecuteCommand")),
            network_configuration=deployment.get("networkConfiguration")
            if task_model.network_mode(td) == "awsvpc"
            else None,
            constraints=[dict(c) for c in td.get("placementConstraints") or []]
            + [dict(c) for c in service.get("placementConstraints") or []],
            strategy=[dict(s) for s in service.get("placementStrategy") or []]
            or [dict(s) for s in pm.SERVICE_DEFAULT_STRATEGY],
            needs=task_model.needs_of(td, {}),
        )

    async def launch(
        self, service: Doc, deployment: Doc, count: int, *, instance_id: str | None = None
    ) -> Launched:
        account, region, cluster = _scope(service)
        ctx = self._ctx(service)
        try:
            req = await self._request(service, deployment)
        except AwsError as exc:
            return Launched(
                error=f"(service {service['serviceName']}) failed to launch a task: {exc.message}"
            )
        crec = await self.plane.records.get(ecs_keys.cluster(account, region, cluster))
        if crec is None or crec.doc.get("status") != "ACTIVE":
            return Launched(error=f"(service {service['serviceName']}) cluster {cluster} is not ACTIVE.")
        if req.launch_type == FARGATE:
            return await self._launch_fargate(ctx, service, deployment, req=req, crec=crec, count=count)
        request = req.placement()
        if instance_id is not None:
            snapshot = await self.plane.placement.snapshot(account, region, cluster, [instance_id])
            request = replace(request, strategy=())
        else:
            snapshot = await self.plane.placement.snapshot(account, region, cluster)

        def build(inst: Instance) -> tuple[str, Doc]:
            key, new = new_task(ctx, req)
            return key, build_for(new, inst)

        try:
            outcome = await self.plane.placement.place(
                cluster=crec, snapshot=snapshot, request=request, count=count, build=build
            )
        except ClusterChanged:
            return Launched(error=f"(service {service['serviceName']}) cluster {cluster} is not ACTIVE.")
        except Contention as exc:  # placed what it could; the service retries the rest
            return Launched(tasks=exc.placed)
        return Launched(tasks=outcome.tasks, failures=outcome.failures)

    async def _launch_fargate(
        self,
        ctx: RequestContext,
        service: Doc,
        deployment: Doc,
        *,
        req: TaskRequest,
        crec: Record,
        count: int,
    ) -> Launched:
        """Fargate service tasks: written PROVISIONING, placed by the Fargate provisioner. The
        capacity provider strategy is applied over the service's tasks that are not STOPPED."""
        name = service["serviceName"]
        try:
            platform = fargate.platform_version(service.get("platformVersion"))
            fargate.check_size(req.needs.cpu, req.needs.memory)
            storage = fargate.ephemeral_gib(req.task_definition, {})
        except fargate.FargateRequestError as exc:
            return Launched(error=f"(service {name}) failed to launch a task: {exc}")
        strategy = list(deployment.get("capacityProviderStrategy") or [])
        providers: list[str | None] = [None] * count
        if strategy:
            existing = Counter(
                str(t.doc.get("_capacityProvider"))
                for t in self.plane.index.tasks()
                if t.doc.get("clusterArn") == service["clusterArn"]
                and t.doc.get("group") == req.group
                and t.doc.get("lastStatus") != task_model.STOPPED
            )
            providers = list(distribute(strategy, existing, count))
        made: list[Record] = []
        tasks = unplaced_tasks(ctx, req, providers, platform, storage)
        try:
            for start in range(0, len(tasks), MAX_TASKS_PER_TXN):
                made += await write_unplaced(self.plane, crec, tasks[start : start + MAX_TASKS_PER_TXN])
        except AwsError:
            return Launched(tasks=made, error=f"(service {name}) cluster is not ACTIVE.")
        return Launched(tasks=made, failures=[])

    async def eligible(self, service: Doc, instance_ids: list[str]) -> list[str]:
        account, region, cluster = _scope(service)
        prim = model.primary(service)
        if prim is None:
            return []
        try:
            req = await self._request(service, prim)
        except AwsError:
            return []
        request = replace(req.placement(), strategy=(), group=req.group + "#probe")
        out: list[str] = []
        snapshot = await self.plane.placement.snapshot(account, region, cluster)
        for iid in instance_ids:
            inst = next((i for i in snapshot.instances if i.key.endswith("/" + iid)), None)
            if inst is None:
                continue
            plan = planner.plan(Snapshot([inst]), request, 1, self.plane.placement.rng)
            if plan.placements or not any(r in _NOT_ELIGIBLE for _a, r in plan.failures):
                out.append(iid)
        return out
