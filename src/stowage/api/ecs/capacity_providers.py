"""ECS capacity providers: CreateCapacityProvider, DescribeCapacityProviders,
UpdateCapacityProvider, DeleteCapacityProvider.

Auto Scaling group providers are stored and echoed with ECS's defaults; Managed Instances
providers are stored and echoed and belong to the cluster they were created in. FARGATE and
FARGATE_SPOT are built in and always described.
"""

from __future__ import annotations

from typing import Any

from stowage.api.aws.context import RequestContext
from stowage.api.aws.service import Params, Result
from stowage.api.ecs import errors
from stowage.api.ecs.clusters import active_cluster
from stowage.api.ecs.handler import EcsHandler
from stowage.api.ecs.pagination import decode_token, encode_token, page_size
from stowage.model import capacity_providers as model
from stowage.model.arns import capacity_provider_arn
from stowage.model.tags import check_tags
from stowage.model.validation import Invalid
from stowage.resources.capacity_providers import CapacityProviderRecords
from stowage.resources.clusters import ClusterRecords
from stowage.resources.records import Doc, RecordExists, RecordMissing, Records


def _render(doc: Doc, *, tags: bool = True) -> Doc:
    return {k: v for k, v in doc.items() if tags or k != "tags"}


def _provider_name(ctx: RequestContext, ref: str) -> str:
    name = model.name_from_ref(ref, ctx.account_id, ctx.region)
    if name is None:
        raise errors.invalid_parameter(f"The specified capacity provider '{ref}' is not valid.")
    return name


async def create_capacity_provider(records: Records, ctx: RequestContext, params: Params) -> Result:
    name = params["name"]
    asg_given: dict[str, Any] | None = params.get("autoScalingGroupProvider")
    mi_given: dict[str, Any] = params.get("managedInstancesProvider") or {}
    try:
        model.check_new_name(name)
        tags = check_tags(params.get("tags", []))
        asg = model.new_asg_provider(asg_given) if asg_given is not None else None
    except Invalid as exc:
        raise errors.invalid_parameter(str(exc)) from None
    if (asg_given is None) == (not mi_given):
        raise errors.invalid_parameter(
            "Specify exactly one of autoScalingGroupProvider or managedInstancesProvider."
        )
    doc: Doc = {
        "capacityProviderArn": capacity_provider_arn(ctx.region, ctx.account_id, name),
        "name": name,
        "status": "ACTIVE",
    }
    cps = CapacityProviderRecords(records)
    if asg is not None:
        if params.get("cluster") is not None:
            raise errors.invalid_parameter(
                "The cluster parameter can only be specified for Managed Instances capacity providers."
            )
        for other in await cps.all(ctx.account_id, ctx.region):
            if (
                other.get("autoScalingGroupProvider", {}).get("autoScalingGroupArn")
                == asg["autoScalingGroupArn"]
            ):
                raise errors.client_exception(
                    "The specified Auto Scaling group ARN is already being used by another capacity "
                    "provider. Specify a unique Auto Scaling group ARN and try again."
                )
        doc["autoScalingGroupProvider"] = asg
        doc["type"] = model.TYPE_ASG
    else:
        if params.get("cluster") is None:
            raise errors.invalid_parameter(
                "A cluster must be specified for a Managed Instances capacity provider."
            )
        cluster = await active_cluster(records, ctx, params["cluster"])
        doc["cluster"] = cluster["clusterName"]
        doc["managedInstancesProvider"] = {"propagateTags": "NONE", **mi_given}
        doc["type"] = model.TYPE_MANAGED_INSTANCES
    doc["tags"] = tags
    try:
        await cps.create(ctx.account_id, ctx.region, name, doc)
    except RecordExists:
        raise errors.client_exception(
            "The specified capacity provider already exists. To change the configuration of an "
            "existing capacity provider, update the capacity provider."
        ) from None
    return {"capacityProvider": _render(doc)}


async def describe_capacity_providers(records: Records, ctx: RequestContext, params: Params) -> Result:
    include: list[str] = params.get("include", [])
    if any(i != "TAGS" for i in include):
        raise errors.invalid_parameter("Invalid include value. Valid values: TAGS.")
    with_tags = "TAGS" in include
    limit = page_size(
        params.get("maxResults"), default=model.MAX_DESCRIBE_PAGE, maximum=model.MAX_DESCRIBE_PAGE
    )
    after = decode_token("DescribeCapacityProviders", params.get("nextToken"))
    cluster_filter: str | None = None
    if params.get("cluster") is not None:
        cluster_filter = (await active_cluster(records, ctx, params["cluster"]))["clusterName"]
    cps = CapacityProviderRecords(records)

    refs: list[str] | None = params.get("capacityProviders")
    if refs:
        found: list[Doc] = []
        failures: list[Doc] = []
        for ref in refs:
            name = model.name_from_ref(ref, ctx.account_id, ctx.region)
            doc: Doc | None = None
            if name in model.BUILTIN:
                doc = model.builtin(ctx.region, ctx.account_id, name)
            elif name is not None:
                doc = await cps.get(ctx.account_id, ctx.region, name)
            if doc is None or (
                cluster_filter is not None and doc.get("cluster") not in (None, cluster_filter)
            ):
                arn = (
                    ref if ref.startswith("arn:") else capacity_provider_arn(ctx.region, ctx.account_id, ref)
                )
                failures.append({"arn": arn, "reason": "MISSING"})
            else:
                found.append(_render(doc, tags=with_tags))
        # An explicit list is paged by position, like the list itself.
        start = 0
        if after is not None:
            if not after.isdigit():
                raise errors.invalid_parameter("Invalid nextToken value.")
            start = int(after)
        page = found[start : start + limit]
        result: Result = {"capacityProviders": page, "failures": failures if start == 0 else []}
        if start + limit < len(found):
            result["nextToken"] = encode_token("DescribeCapacityProviders", str(start + limit))
        return result

    # Everything: the built-in providers, then the stored ones in name order (the cluster's own
    # and the account-wide ones when a cluster is given). An account has few providers, so the
    # page is cut from the whole list; the token names the last provider returned.
    builtins = [model.builtin(ctx.region, ctx.account_id, n) for n in model.BUILTIN]
    stored = [
        d
        for d in await cps.all(ctx.account_id, ctx.region)
        if cluster_filter is None or d.get("cluster") in (None, cluster_filter)
    ]
    if after is None:
        start = 0
    elif after in model.BUILTIN:
        start = model.BUILTIN.index(after) + 1
    else:
        start = len(builtins) + sum(1 for d in stored if d["name"] <= after)
    everything = builtins + stored
    chosen = everything[start : start + limit]
    result = {"capacityProviders": [_render(d, tags=with_tags) for d in chosen], "failures": []}
    if start + limit < len(everything):
        result["nextToken"] = encode_token("DescribeCapacityProviders", chosen[-1]["name"])
    return result


async def update_capacity_provider(records: Records, ctx: RequestContext, params: Params) -> Result:
    name = _provider_name(ctx, params["name"])
    if name in model.BUILTIN:
        raise errors.invalid_parameter(f"The {name} capacity provider cannot be updated.")
    asg_given: dict[str, Any] | None = params.get("autoScalingGroupProvider")
    mi_given: dict[str, Any] | None = params.get("managedInstancesProvider")

    def change(doc: Doc) -> Doc:
        try:
            if asg_given is not None:
                if "autoScalingGroupProvider" not in doc:
                    raise errors.invalid_parameter(
                        "autoScalingGroupProvider can only be updated on an Auto Scaling group "
                        "capacity provider."
                    )
                doc["autoScalingGroupProvider"] = model.update_asg_provider(
                    doc["autoScalingGroupProvider"], asg_given
                )
            if mi_given is not None:
                if "managedInstancesProvider" not in doc:
                    raise errors.invalid_parameter(
                        "managedInstancesProvider can only be updated on a Managed Instances "
                        "capacity provider."
                    )
                doc["managedInstancesProvider"] = {**doc["managedInstancesProvider"], **mi_given}
        except Invalid as exc:
            raise errors.invalid_parameter(str(exc)) from None
        doc["updateStatus"] = "UPDATE_COMPLETE"
        return doc

    try:
        doc = await CapacityProviderRecords(records).update(ctx.account_id, ctx.region, name, change)
    except RecordMissing:
        raise errors.invalid_parameter(f"The specified capacity provider '{name}' does not exist.") from None
    return {"capacityProvider": _render(doc)}


async def delete_capacity_provider(records: Records, ctx: RequestContext, params: Params) -> Result:
    name = _provider_name(ctx, params["capacityProvider"])
    if name in model.BUILTIN:
        raise errors.invalid_parameter(f"The {name} capacity provider cannot be deleted.")
    cps = CapacityProviderRecords(records)
    doc = await cps.get(ctx.account_id, ctx.region, name)
    if doc is None:
        raise errors.invalid_parameter(f"The specified capacity provider '{name}' does not exist.")
    users = [
        c["clusterName"]
        for c in await ClusterRecords(records).all_active(ctx.account_id, ctx.region)
        if name in c.get("capacityProviders", [])
    ]
    if users:
        # ECS answers the call and marks the provider DELETE_FAILED with the reason.
        reason = (
            f"The capacity provider cannot be deleted because it is associated with cluster: {users[0]}. "
            "Remove the capacity provider from the cluster and try again."
        )

        def failed(current: Doc) -> Doc:
            current["updateStatus"] = "DELETE_FAILED"
            current["updateStatusReason"] = reason
            return current

        return {"capacityProvider": _render(await cps.update(ctx.account_id, ctx.region, name, failed))}
    await cps.delete(ctx.account_id, ctx.region, name)
    doc["updateStatus"] = "DELETE_IN_PROGRESS"
    doc.pop("updateStatusReason", None)
    return {"capacityProvider": _render(doc)}


HANDLERS: dict[str, EcsHandler] = {
    "CreateCapacityProvider": create_capacity_provider,
    "DescribeCapacityProviders": describe_capacity_providers,
    "UpdateCapacityProvider": update_capacity_provider,
    "DeleteCapacityProvider": delete_capacity_provider,
}
