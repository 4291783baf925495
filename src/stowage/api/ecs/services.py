"""ECS services: CreateService, UpdateService, DeleteService, DescribeServices, ListServices,
ListServicesByNamespace.

Handlers only write the service record (its configuration and, when the configuration changes,
a new PRIMARY deployment with its service revision and service deployment); the service
controller (``controllers.services``) watches the records and does the rest.
"""

from __future__ import annotations

import copy

from stowage.api.aws.context import RequestContext
from stowage.api.aws.service import Params, Result
from stowage.api.ecs import errors
from stowage.api.ecs import service_requests as checks
from stowage.api.ecs.clusters import cluster_name
from stowage.api.ecs.pagination import decode_token, encode_token, page_size
from stowage.api.ecs.plane import PlaneHandler, cluster_record
from stowage.api.ecs.task_requests import resolve_task_definition
from stowage.controllers.task_plane import TaskPlane
from stowage.model import services as model
from stowage.model.arns import parse_arn, service_arn
from stowage.resources.records import Doc, Record
from stowage.resources.services import ClusterGone, ServiceExists, ServiceRecords

LIST_DEFAULT = 10
LIST_MAX = 100


def _name_of(ctx: RequestContext, cluster: str, ref: str) -> str | None:
    if ref.startswith("arn:"):
        arn = parse_arn(ref)
        if arn is None or arn.service != "ecs" or arn.resource_type != "service":
            return None
        if (arn.account, arn.region) != (ctx.account_id, ctx.region):
            return None
        parts = arn.resource_id.split("/")
        if len(parts) == 2:
            if parts[0] != cluster:
                return None
            return parts[1]
        return parts[-1]
    return ref if model.NAME.match(ref) else None


def _start_deployment(ctx: RequestContext, doc: Doc, td: Doc, cluster: str) -> None:
    """Make the service's current configuration a new PRIMARY deployment (the old ones become
    ACTIVE and drain), with its service revision and service deployment records."""
    now = ctx.now
    name = doc["serviceName"]
    rev_id = "".join(str(ord(c) % 10) for c in model.new_short_id())[:19]
    sd_id = model.new_short_id()
    rev_arn = model.revision_arn(ctx.region, ctx.account_id, cluster, name, rev_id)
    sd_arn = model.deployment_arn(ctx.region, ctx.account_id, cluster, name, sd_id)
    sources = [
        {
            "arn": model.revision_arn(ctx.region, ctx.account_id, cluster, name, str(d.get("_rev"))),
            "requestedTaskCount": d.get("desiredCount", 0),
            "runningTaskCount": d.get("runningCount", 0),
            "pendingTaskCount": d.get("pendingCount", 0),
        }
        for d in doc.get("deployments") or []
    ]
    for old in doc.get("deployments") or []:
        if old["status"] == model.PRIMARY:
            old["status"] = model.ACTIVE
            old["updatedAt"] = now
            for sd in doc.get("_serviceDeployments") or []:
                if sd["serviceDeploymentArn"].endswith("/" + str(old.get("_sd"))) and sd["status"] in (
                    model.IN_PROGRESS,
                    "PENDING",
                    "ROLLBACK_IN_PROGRESS",
                ):
                    sd["status"] = "STOPPED"
                    sd["statusReason"] = "Stopped by a newer service deployment."
                    sd["stoppedAt"] = sd["updatedAt"] = now
    dep = model.new_deployment(doc, now=now, rev_id=rev_id, sd_id=sd_id)
    doc["deployments"] = [dep, *(doc.get("deployments") or [])]
    revisions = doc.setdefault("_serviceRevisions", {})
    revisions[rev_id] = model.revision_doc(doc, td, rev_arn, now)
    history = doc.setdefault("_serviceDeployments", [])
    history.append(model.service_deployment_doc(doc, sd_arn, rev_arn, sources, now))
    del history[: -model.MAX_HISTORY]
    live_revs = {d.get("_rev") for d in doc["deployments"]} | {(doc.get("_lastCompleted") or {}).get("rev")}
    live_revs |= {sd["targetServiceRevision"]["arn"].rsplit("/", 1)[-1] for sd in history}
    for rid in [r for r in revisions if r not in live_revs]:
        del revisions[rid]
    doc["currentServiceDeployment"] = sd_arn
    doc.pop("_retryAt", None)
    doc.pop("_retries", None)
    doc.pop("_steadyAt", None)


async def create_service(plane: TaskPlane, ctx: RequestContext, params: Params) -> Result:
    name = params["serviceName"]
    if not model.NAME.match(name):
        raise errors.invalid_parameter(
            "Service name must be 1-255 characters of letters, numbers, hyphens and underscores."
        )
    strategy = params.get("schedulingStrategy") or model.REPLICA
    if strategy not in (model.REPLICA, model.DAEMON):
        raise errors.invalid_parameter(f"Invalid schedulingStrategy '{strategy}'.")
    controller = checks.deployment_controller(params)
    if not params.get("taskDefinition"):
        raise errors.invalid_parameter("TaskDefinition must be specified for the ECS deployment controller.")
    desired = params.get("desiredCount")
    if strategy == model.REPLICA:
        if desired is None:
            raise errors.invalid_parameter("desiredCount is required for the REPLICA scheduling strategy.")
        if desired < 0:
            raise errors.invalid_parameter("desiredCount cannot be negative.")
    elif desired not in (None, 0):
        raise errors.invalid_parameter("The desiredCount of a DAEMON service is set by the scheduler.")
    cluster = await cluster_record(plane, ctx, params.get("cluster"))
    cname = cluster.doc["clusterName"]
    td = await resolve_task_definition(plane, ctx, params["taskDefinition"])
    launch = checks.launch(params, cluster.doc, td)
    if strategy == model.DAEMON and launch.launch_type != "EC2":
        raise errors.invalid_parameter("The DAEMON scheduling strategy does not support Fargate.")
    constraints, placement_strategy = checks.placement(td, params, strategy)
    doc: Doc = {
        "serviceArn": service_arn(ctx.region, ctx.account_id, cname, name),
        "serviceName": name,
        "clusterArn": cluster.doc["clusterArn"],
        "loadBalancers": checks.load_balancers(list(params.get("loadBalancers") or []), td),
        "serviceRegistries": [dict(r) for r in params.get("serviceRegistries") or []],
        "status": model.ACTIVE,
        "desiredCount": desired or 0,
        "runningCount": 0,
        "pendingCount": 0,
        "taskDefinition": td["taskDefinitionArn"],
        "deploymentConfiguration": checks.deployment_configuration(
            params.get("deploymentConfiguration"), strategy
        ),
        "deployments": [],
        "events": [],
        "createdAt": ctx.now,
        "placementConstraints": constraints,
        "placementStrategy": placement_strategy,
        "schedulingStrategy": strategy,
        "deploymentController": controller,
        "tags": checks.tags(params),
        "createdBy": ctx.principal_arn,
        "enableECSManagedTags": bool(params.get("enableECSManagedTags")),
        "propagateTags": checks.propagate(params.get("propagateTags")),
        "enableExecuteCommand": bool(params.get("enableExecuteCommand")),
        "availabilityZoneRebalancing": params.get("availabilityZoneRebalancing") or "DISABLED",
        "resourceManagementType": "CUSTOMER",
        "_clientToken": params.get("clientToken"),
    }
    checks.launch_members(doc, launch, params)
    if params.get("role"):
        doc["roleArn"] = params["role"]
    network = checks.network(td, params)
    if network:
        doc["networkConfiguration"] = network
    grace = checks.grace(params.get("healthCheckGracePeriodSeconds"))
    if grace is not None:
        doc["healthCheckGracePeriodSeconds"] = grace
    _start_deployment(ctx, doc, td, cname)
    try:
        rec = await ServiceRecords(plane.records).create(ctx.account_id, ctx.region, cname, doc)
    except ClusterGone:
        raise errors.cluster_not_found() from None
    except ServiceExists as exists:
        current = exists.current.doc
        if current.get("status") == model.DRAINING:
            raise errors.invalid_parameter("Unable to Start a service that is still Draining.") from None
        token = params.get("clientToken")
        if token and current.get("_clientToken") == token:
            return {"service": model.render(current)}
        raise errors.invalid_parameter("Creation of service was not idempotent.") from None
    return {"service": model.render(rec.doc)}


async def _service(plane: TaskPlane, ctx: RequestContext, params: Params) -> tuple[Record, str]:
    cluster = await cluster_record(plane, ctx, params.get("cluster"))
    cname = cluster.doc["clusterName"]
    name = _name_of(ctx, cname, params["service"])
    if name is None:
        raise errors.service_not_found()
    rec = await ServiceRecords(plane.records).get(ctx.account_id, ctx.region, cname, name)
    if rec is None:
        raise errors.service_not_found()
    return rec, cname


async def update_service(plane: TaskPlane, ctx: RequestContext, params: Params) -> Result:
    rec, cname = await _service(plane, ctx, params)
    if params.get("deploymentController"):
        checks.deployment_controller(params)
    td: Doc | None = None
    if params.get("taskDefinition"):
        td = await resolve_task_definition(plane, ctx, params["taskDefinition"])
    grace = checks.grace(params.get("healthCheckGracePeriodSeconds"))

    async def current_td(doc: Doc) -> Doc:
        return td or await resolve_task_definition(plane, ctx, doc["taskDefinition"])

    base_td = await current_td(rec.doc)
    cluster_doc = (await cluster_record(plane, ctx, params.get("cluster"))).doc

    def change(doc: Doc) -> Doc:
        if doc.get("status") != model.ACTIVE:
            raise errors.service_not_active()
        strategy = doc["schedulingStrategy"]
        before = {m: copy.deepcopy(doc.get(m)) for m in model.DEPLOYMENT_MEMBERS}
        if params.get("desiredCount") is not None:
            if params["desiredCount"] < 0:
                raise errors.invalid_parameter("desiredCount cannot be negative.")
            if strategy == model.DAEMON:
                raise errors.invalid_parameter(
                    "The desiredCount of a DAEMON service is set by the scheduler."
                )
            model.set_desired_count(doc, params["desiredCount"])
        if td is not None:
            doc["taskDefinition"] = td["taskDefinitionArn"]
        if params.get("launchType"):
            raise errors.invalid_parameter("The launch type of a service cannot be updated.")
        if params.get("capacityProviderStrategy") or params.get("platformVersion"):
            launch = checks.launch(params, cluster_doc, td or base_td, checks.current_launch(doc))
            checks.launch_members(doc, launch, params)
        if params.get("deploymentConfiguration"):
            doc["deploymentConfiguration"] = checks.deployment_configuration(
                params["deploymentConfiguration"], strategy, doc.get("deploymentConfiguration")
            )
        if "networkConfiguration" in params:
            network = checks.network(base_td, params)
            if network:
                doc["networkConfiguration"] = network
        elif td is not None:
            checks.network(td, {"networkConfiguration": doc.get("networkConfiguration")})
        if "placementConstraints" in params or "placementStrategy" in params:
            merged = {
                "placementConstraints": params.get("placementConstraints", doc.get("placementConstraints")),
                "placementStrategy": params.get("placementStrategy", doc.get("placementStrategy")),
            }
            doc["placementConstraints"], doc["placementStrategy"] = checks.placement(
                base_td, merged, strategy
            )
        if "loadBalancers" in params:
            doc["loadBalancers"] = checks.load_balancers(list(params["loadBalancers"] or []), base_td)
        elif td is not None and doc.get("loadBalancers"):
            checks.load_balancers(doc["loadBalancers"], td)
        for member in ("enableExecuteCommand", "enableECSManagedTags"):
            if params.get(member) is not None:
                doc[member] = bool(params[member])
        if params.get("propagateTags") is not None:
            doc["propagateTags"] = checks.propagate(params["propagateTags"])
        if params.get("availabilityZoneRebalancing"):
            doc["availabilityZoneRebalancing"] = params["availabilityZoneRebalancing"]
        if params.get("serviceRegistries") is not None:
            doc["serviceRegistries"] = [dict(r) for r in params["serviceRegistries"]]
        if grace is not None:
            doc["healthCheckGracePeriodSeconds"] = grace
        after = {m: doc.get(m) for m in model.DEPLOYMENT_MEMBERS}
        if params.get("forceNewDeployment") or after != before:
            _start_deployment(ctx, doc, base_td, cname)
        elif params.get("desiredCount") is not None:
            doc.pop("_steadyAt", None)
        return doc

    updated = await ServiceRecords(plane.records).change(rec.key, change)
    if updated is None:
        raise errors.service_not_found()
    return {"service": model.render(updated.doc)}


async def delete_service(plane: TaskPlane, ctx: RequestContext, params: Params) -> Result:
    rec, _cname = await _service(plane, ctx, params)
    force = bool(params.get("force"))

    def change(doc: Doc) -> Doc | None:
        if doc.get("status") == model.INACTIVE:
            raise errors.service_not_found()
        if doc.get("status") == model.DRAINING:
            return None
        if doc.get("schedulingStrategy") == model.REPLICA and doc.get("desiredCount", 0) > 0 and not force:
            raise errors.invalid_parameter("The service cannot be stopped while it is scaled above 0.")
        doc["status"] = model.DRAINING
        doc["desiredCount"] = 0
        for d in doc.get("deployments", []):
            d["desiredCount"] = 0
        return doc

    updated = await ServiceRecords(plane.records).change(rec.key, change)
    if updated is None:
        raise errors.service_not_found()
    return {"service": model.render(updated.doc)}


async def describe_services(plane: TaskPlane, ctx: RequestContext, params: Params) -> Result:
    refs: list[str] = params["services"]
    if not refs:
        raise errors.invalid_parameter("Services cannot be empty.")
    if len(refs) > model.MAX_DESCRIBE:
        raise errors.invalid_parameter(
            f"A maximum of {model.MAX_DESCRIBE} services can be described at once."
        )
    include = params.get("include") or []
    for item in include:
        if item != "TAGS":
            raise errors.invalid_parameter(f"Invalid include value '{item}'.")
    cluster = await cluster_record(plane, ctx, params.get("cluster"))
    cname = cluster.doc["clusterName"]
    store = ServiceRecords(plane.records)
    services: list[Doc] = []
    failures: list[Doc] = []
    for ref in refs:
        name = _name_of(ctx, cname, ref)
        rec = None if name is None else await store.get(ctx.account_id, ctx.region, cname, name)
        arn = ref if ref.startswith("arn:") else service_arn(ctx.region, ctx.account_id, cname, ref)
        if rec is None:
            failures.append({"arn": arn, "reason": "MISSING"})
            continue
        services.append(model.render(rec.doc, tags="TAGS" in include))
    return {"services": services, "failures": failures}


async def list_services(plane: TaskPlane, ctx: RequestContext, params: Params) -> Result:
    limit = page_size(params.get("maxResults"), default=LIST_DEFAULT, maximum=LIST_MAX)
    after = decode_token("ListServices", params.get("nextToken"))
    cname = cluster_name(ctx, params.get("cluster"))
    await cluster_record(plane, ctx, params.get("cluster"))
    launch = params.get("launchType")
    strategy = params.get("schedulingStrategy")
    managed = params.get("resourceManagementType")

    def keep(rec: Record) -> bool:
        d = rec.doc
        return (
            d.get("status") != model.INACTIVE
            and (launch is None or d.get("launchType") == launch)
            and (strategy is None or d.get("schedulingStrategy") == strategy)
            and (managed is None or d.get("resourceManagementType", "CUSTOMER") == managed)
        )

    recs, nxt = await ServiceRecords(plane.records).page(
        ctx.account_id, ctx.region, cname, after=after, limit=limit, keep=keep
    )
    out: Result = {"serviceArns": [r.doc["serviceArn"] for r in recs]}
    if nxt is not None:
        out["nextToken"] = encode_token("ListServices", nxt)
    return out


async def list_services_by_namespace(plane: TaskPlane, ctx: RequestContext, params: Params) -> Result:
    """Service Connect namespaces are not served: no service is in any namespace. A namespace
    ARN that names nothing is NamespaceNotFoundException, as in ECS."""
    page_size(params.get("maxResults"), default=LIST_DEFAULT, maximum=LIST_MAX)
    decode_token("ListServicesByNamespace", params.get("nextToken"))
    namespace: str = params["namespace"]
    if not namespace:
        raise errors.invalid_parameter("namespace cannot be empty.")
    raise errors.namespace_not_found(f"Namespace {namespace} not found.")


HANDLERS: dict[str, PlaneHandler] = {
    "CreateService": create_service,
    "UpdateService": update_service,
    "DeleteService": delete_service,
    "DescribeServices": describe_services,
    "ListServices": list_services,
    "ListServicesByNamespace": list_services_by_namespace,
}
