"""ECS clusters: CreateCluster, DescribeClusters, ListClusters, UpdateCluster,
UpdateClusterSettings, PutClusterCapacityProviders, DeleteCluster.

Also the cluster lookups other ECS handlers share (``cluster_name``, ``active_cluster``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from stowage.api.aws.context import RequestContext
from stowage.api.aws.errors import AwsError
from stowage.api.aws.service import Params, Result
from stowage.api.ecs import errors
from stowage.api.ecs.handler import EcsHandler
from stowage.api.ecs.pagination import decode_token, encode_token, page_size
from stowage.model import capacity_providers as cp_model
from stowage.model import clusters as model
from stowage.model.arns import cluster_arn, parse_arn
from stowage.model.fargate import POOL_CLUSTER
from stowage.model.tags import check_tags
from stowage.model.validation import Invalid
from stowage.resources.account_settings import AccountSettingRecords
from stowage.resources.capacity_providers import CapacityProviderRecords
from stowage.resources.clusters import ClusterRecords
from stowage.resources.records import Doc, RecordMissing, Records

LIST_PAGE = 100


# -- lookups shared with other handlers ------------------------------------------------------
def cluster_name(ctx: RequestContext, ref: str | None, *, allow_pool: bool = False) -> str:
    """The cluster a ``cluster`` parameter names (the ``default`` cluster when absent).

    The Fargate pool's cluster is named only by the calls its hosts make (``allow_pool``):
    registering, polling, reporting, and listing/describing its container instances."""
    if ref is None:
        return model.DEFAULT_CLUSTER
    if allow_pool and ref.rsplit("/", 1)[-1] == POOL_CLUSTER:
        return POOL_CLUSTER
    name = model.name_from_ref(ref, ctx.account_id, ctx.region)
    if name is None:
        raise errors.cluster_not_found()
    return name


async def active_cluster(records: Records, ctx: RequestContext, ref: str | None) -> Doc:
    """The ACTIVE cluster record a ``cluster`` parameter names, else ClusterNotFoundException."""
    doc = await ClusterRecords(records).get_active(ctx.account_id, ctx.region, cluster_name(ctx, ref))
    if doc is None:
        raise errors.cluster_not_found()
    return doc


def _invalid(exc: Invalid) -> AwsError:
    return errors.invalid_parameter(str(exc))


# -- request pieces --------------------------------------------------------------------------
def _namespace_arn(ctx: RequestContext, namespace: str) -> str:
    """Service Connect's default namespace as ECS reports it: a Cloud Map namespace ARN. A
    name stands for the HTTP namespace of that name, whose id is derived from the name."""
    if namespace.startswith("arn:"):
        arn = parse_arn(namespace)
        if arn is None or arn.service != "servicediscovery" or arn.resource_type != "namespace":
            raise errors.invalid_parameter(
                f"The namespace '{namespace}' is not a valid Cloud Map namespace ARN."
            )
        return namespace
    digest = hashlib.sha256(f"{ctx.account_id}/{ctx.region}/{namespace}".encode()).hexdigest()[:16]
    return f"arn:aws:servicediscovery:{ctx.region}:{ctx.account_id}:namespace/ns-{digest}"


async def _default_settings(records: Records, ctx: RequestContext) -> list[Doc]:
    """A new cluster's containerInsights follows the caller's effective account setting."""
    setting = await AccountSettingRecords(records).effective(
        ctx.account_id, ctx.region, ctx.principal_arn, model.CONTAINER_INSIGHTS
    )
    return [{"name": model.CONTAINER_INSIGHTS, "value": setting["value"]}]


async def _capacity_plan(
    records: Records,
    ctx: RequestContext,
    name: str,
    providers: Sequence[str],
    strategy: Sequence[dict[str, Any]],
) -> tuple[list[str], list[Doc], list[Doc]]:
    """Validate a cluster's capacity providers and default strategy. Returns the provider
    names, the strategy with defaults filled in, and the cluster attachments they imply."""
    try:
        names = cp_model.check_provider_list(list(providers))
    except Invalid as exc:
        raise _invalid(exc) from None
    cps = CapacityProviderRecords(records)
    types: dict[str, str] = {}
    docs: list[Doc] = []
    for provider in names:
        if provider in cp_model.BUILTIN:
            types[provider] = provider
            continue
        doc = await cps.get(ctx.account_id, ctx.region, provider)
        if doc is None or doc.get("status") != "ACTIVE":
            raise errors.invalid_parameter(
                f"The specified capacity provider '{provider}' does not exist. Specify a valid "
                "capacity provider and try again."
            )
        owner = doc.get("cluster")
        if owner is not None and owner != name:
            raise errors.invalid_parameter(
                f"The capacity provider '{provider}' belongs to cluster '{owner}' and cannot be used "
                "with another cluster."
            )
        types[provider] = cp_model.provider_type(doc)
        docs.append(doc)
    if docs:
        # An Auto Scaling group provider serves one cluster at a time.
        for other in await ClusterRecords(records).all_active(ctx.account_id, ctx.region):
            if other["clusterName"] == name:
                continue
            taken = {d["name"] for d in docs} & set(other.get("capacityProviders", []))
            if taken:
                raise errors.invalid_parameter(
                    f"The capacity provider '{sorted(taken)[0]}' is already associated with cluster "
                    f"'{other['clusterName']}'. A capacity provider can be associated with only one cluster."
                )
    try:
        items = cp_model.check_strategy(strategy, names, types)
    except Invalid as exc:
        raise _invalid(exc) from None
    arn = cluster_arn(ctx.region, ctx.account_id, name)
    attachments = [a for a in (cp_model.scaling_attachment(arn, d) for d in docs) if a is not None]
    return names, items, attachments


# -- handlers --------------------------------------------------------------------------------
async def create_cluster(records: Records, ctx: RequestContext, params: Params) -> Result:
    name = params.get("clusterName") or model.DEFAULT_CLUSTER
    try:
        model.check_name(name)
        tags = check_tags(params.get("tags", []))
        settings = model.check_settings(params["settings"]) if params.get("settings") else None
        configuration = (
            model.check_configuration(params["configuration"]) if "configuration" in params else None
        )
    except Invalid as exc:
        raise _invalid(exc) from None
    if settings is None:
        settings = await _default_settings(records, ctx)
    providers, strategy, attachments = await _capacity_plan(
        records,
        ctx,
        name,
        params.get("capacityProviders", []),
        params.get("defaultCapacityProviderStrategy", []),
    )
    namespace = params.get("serviceConnectDefaults", {}).get("namespace")
    doc = model.new_cluster(
        cluster_arn(ctx.region, ctx.account_id, name),
        name,
        tags=tags,
        settings=settings,
        configuration=configuration,
        capacity_providers=providers,
        strategy=strategy,
        attachments=attachments,
        service_connect_namespace=_namespace_arn(ctx, namespace) if namespace else None,
    )
    stored, _created = await ClusterRecords(records).create(ctx.account_id, ctx.region, name, doc)
    return {"cluster": model.render(stored)}


async def describe_clusters(records: Records, ctx: RequestContext, params: Params) -> Result:
    refs: list[str] = params.get("clusters") or [model.DEFAULT_CLUSTER]
    if len(refs) > model.MAX_DESCRIBE:
        raise errors.invalid_parameter(f"clusters can have at most {model.MAX_DESCRIBE} items.")
    include: list[str] = params.get("include", [])
    unknown = [i for i in include if i not in model.INCLUDE_FIELDS]
    if unknown:
        raise errors.invalid_parameter(
            f"Invalid include value '{unknown[0]}'. Valid values: {', '.join(sorted(model.INCLUDE_FIELDS))}."
        )
    store = ClusterRecords(records)
    found: list[Doc] = []
    failures: list[Doc] = []
    for ref in refs:
        name = model.name_from_ref(ref, ctx.account_id, ctx.region)
        doc = None if name is None else await store.get(ctx.account_id, ctx.region, name)
        if doc is None:
            arn = ref if ref.startswith("arn:") else cluster_arn(ctx.region, ctx.account_id, ref)
            failures.append({"arn": arn, "reason": "MISSING"})
        else:
            found.append(model.render(doc, include))
    return {"clusters": found, "failures": failures}


async def list_clusters(records: Records, ctx: RequestContext, params: Params) -> Result:
    limit = page_size(params.get("maxResults"), default=LIST_PAGE, maximum=LIST_PAGE)
    after = decode_token("ListClusters", params.get("nextToken"))
    docs, nxt = await ClusterRecords(records).page_active(
        ctx.account_id, ctx.region, after=after, limit=limit
    )
    result: Result = {"clusterArns": [d["clusterArn"] for d in docs]}
    if nxt is not None:
        result["nextToken"] = encode_token("ListClusters", nxt)
    return result


async def _change_active(records: Records, ctx: RequestContext, ref: str, change: Any) -> Doc:
    """Apply ``change`` (doc -> doc) to an ACTIVE cluster with CAS."""
    name = cluster_name(ctx, ref)

    def guarded(doc: Doc) -> Doc | None:
        if not model.is_active(doc):
            raise errors.cluster_not_found()
        result: Doc | None = change(doc)
        return result

    try:
        return await ClusterRecords(records).update(ctx.account_id, ctx.region, name, guarded)
    except RecordMissing:
        raise errors.cluster_not_found() from None


async def update_cluster(records: Records, ctx: RequestContext, params: Params) -> Result:
    try:
        settings = model.check_settings(params.get("settings", []))
        configuration = (
            model.check_configuration(params["configuration"]) if "configuration" in params else None
        )
    except Invalid as exc:
        raise _invalid(exc) from None
    scd = params.get("serviceConnectDefaults")
    namespace = None if scd is None or not scd.get("namespace") else _namespace_arn(ctx, scd["namespace"])

    def change(doc: Doc) -> Doc:
        if settings:
            doc["settings"] = model.merge_settings(doc.get("settings", []), settings)
        if configuration is not None:
            doc["configuration"] = model.merge_configuration(doc.get("configuration"), configuration)
        if scd is not None:
            # An empty namespace removes the cluster's Service Connect default.
            if namespace is None:
                doc.pop("serviceConnectDefaults", None)
            else:
                doc["serviceConnectDefaults"] = {"namespace": namespace}
        return doc

    doc = await _change_active(records, ctx, params["cluster"], change)
    return {"cluster": model.render(doc)}


async def update_cluster_settings(records: Records, ctx: RequestContext, params: Params) -> Result:
    try:
        settings = model.check_settings(params["settings"])
    except Invalid as exc:
        raise _invalid(exc) from None

    def change(doc: Doc) -> Doc:
        doc["settings"] = model.merge_settings(doc.get("settings", []), settings)
        return doc

    doc = await _change_active(records, ctx, params["cluster"], change)
    return {"cluster": model.render(doc)}


async def put_cluster_capacity_providers(records: Records, ctx: RequestContext, params: Params) -> Result:
    current = await active_cluster(records, ctx, params["cluster"])
    name = current["clusterName"]
    providers, strategy, attachments = await _capacity_plan(
        records, ctx, name, params["capacityProviders"], params["defaultCapacityProviderStrategy"]
    )

    def change(doc: Doc) -> Doc:
        doc["capacityProviders"] = providers
        doc["defaultCapacityProviderStrategy"] = strategy
        doc["attachments"] = attachments
        doc["attachmentsStatus"] = "UPDATE_COMPLETE"
        return doc

    doc = await _change_active(records, ctx, name, change)
    return {"cluster": model.render(doc)}


async def delete_cluster(records: Records, ctx: RequestContext, params: Params) -> Result:
    name = cluster_name(ctx, params["cluster"])
    scoped = [
        d["name"]
        for d in await CapacityProviderRecords(records).all(ctx.account_id, ctx.region)
        if d.get("cluster") == name
    ]

    def change(doc: Doc) -> Doc:
        if not model.is_active(doc):
            raise errors.cluster_not_found()
        # The counts are kept by the code owning instances, services and tasks; reading them
        # inside the CAS means a concurrent registration makes this delete retry and refuse.
        if doc.get("registeredContainerInstancesCount", 0) > 0:
            raise errors.cluster_contains_container_instances()
        if doc.get("activeServicesCount", 0) > 0:
            raise errors.cluster_contains_services()
        if doc.get("runningTasksCount", 0) > 0 or doc.get("pendingTasksCount", 0) > 0:
            raise errors.cluster_contains_tasks()
        if scoped:
            raise errors.client_exception(
                "The Cluster cannot be deleted while Cluster Scoped Capacity Providers are attached "
                "to the cluster."
            )
        doc["status"] = model.INACTIVE
        return doc

    try:
        doc = await ClusterRecords(records).update(ctx.account_id, ctx.region, name, change)
    except RecordMissing:
        raise errors.cluster_not_found() from None
    return {"cluster": model.render(doc)}


HANDLERS: dict[str, EcsHandler] = {
    "CreateCluster": create_cluster,
    "DescribeClusters": describe_clusters,
    "ListClusters": list_clusters,
    "UpdateCluster": update_cluster,
    "UpdateClusterSettings": update_cluster_settings,
    "PutClusterCapacityProviders": put_cluster_capacity_providers,
    "DeleteCluster": delete_cluster,
}
