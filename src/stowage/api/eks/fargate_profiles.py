"""EKS Fargate profiles: Create/Describe/List/DeleteFargateProfile (profiles are immutable).

The controller makes a CREATING profile ACTIVE and removes a DELETING one once its pods are
deleted (``controllers/eks_nodegroups``). The pods a profile selects run on stowage's Fargate
pool (``controllers/k8s/fargate_admission``, ``controllers/k8s/fargate_pods``; docs/eks.md).
"""

from __future__ import annotations

from stowage.api.aws.context import RequestContext
from stowage.api.aws.service import Params, Result
from stowage.api.eks import errors
from stowage.api.eks.common import EksPlane, cluster_record, next_token, page_args, usable_cluster
from stowage.model.eks import fargate_profiles as model
from stowage.resources import eks as keys
from stowage.resources.records import Doc, Record, RecordExists


async def _profile(plane: EksPlane, ctx: RequestContext, cluster: str, name: str) -> Record:
    rec = await plane.eks.child(ctx.account_id, ctx.region, keys.FARGATE, cluster, name)
    if rec is None:
        raise errors.not_found(f"No Fargate Profile found with name: {name}.", cluster=cluster, profile=name)
    return rec


async def create_fargate_profile(plane: EksPlane, ctx: RequestContext, params: Params) -> Result:
    cluster_name, name = str(params["clusterName"]), str(params["fargateProfileName"])
    cluster = await usable_cluster(plane, ctx, cluster_name)
    try:
        doc = model.new_profile(
            params, cluster=cluster.doc, account=ctx.account_id, region=ctx.region, now=ctx.now
        )
    except model.Invalid as exc:
        raise errors.invalid_parameter(str(exc), cluster=cluster_name, profile=name) from None
    creating = [
        r.doc["fargateProfileName"]
        for r in await plane.eks.children(ctx.account_id, ctx.region, keys.FARGATE, cluster_name)
        if r.doc.get("status") in (model.CREATING, model.DELETING) and r.doc["fargateProfileName"] != name
    ]
    if creating:
        # EKS changes one profile of a cluster at a time
        raise errors.in_use(
            f"Cannot create Fargate Profile {name} because cluster {cluster_name} currently has Fargate "
            f"profile {creating[0]} in status {model.CREATING}",
            cluster=cluster_name,
        )
    key = keys.child_key(ctx.account_id, ctx.region, keys.FARGATE, cluster_name, name)
    try:
        await plane.records.create(key, doc)
    except RecordExists as exists:
        token = params.get("clientRequestToken")
        if token is not None and exists.current.doc.get("_token") == token:
            return {"fargateProfile": model.render(exists.current.doc)}
        raise errors.in_use(
            f"A Fargate Profile already exists with this name: {name}", cluster=cluster_name
        ) from None
    return {"fargateProfile": model.render(doc)}


async def describe_fargate_profile(plane: EksPlane, ctx: RequestContext, params: Params) -> Result:
    cluster = str(params["clusterName"])
    await cluster_record(plane, ctx, cluster)
    rec = await _profile(plane, ctx, cluster, str(params["fargateProfileName"]))
    return {"fargateProfile": model.render(rec.doc)}


async def list_fargate_profiles(plane: EksPlane, ctx: RequestContext, params: Params) -> Result:
    cluster = str(params["clusterName"])
    await cluster_record(plane, ctx, cluster)
    after, limit = page_args("ListFargateProfiles", params)
    page, more = await plane.eks.children_page(
        ctx.account_id, ctx.region, keys.FARGATE, cluster, after=after, limit=limit
    )
    return {
        "fargateProfileNames": [r.doc["fargateProfileName"] for r in page],
        "nextToken": next_token("ListFargateProfiles", more),
    }


async def delete_fargate_profile(plane: EksPlane, ctx: RequestContext, params: Params) -> Result:
    cluster, name = str(params["clusterName"]), str(params["fargateProfileName"])
    await cluster_record(plane, ctx, cluster)
    rec = await _profile(plane, ctx, cluster, name)

    def deleting(doc: Doc) -> Doc | None:
        if doc.get("status") == model.DELETING:
            return None
        return {**doc, "status": model.DELETING}

    updated = await plane.records.update(rec.key, deleting)
    return {"fargateProfile": model.render(updated.doc)}
