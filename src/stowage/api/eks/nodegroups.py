"""EKS managed node groups: Create/Describe/List/UpdateNodegroupConfig/DeleteNodegroup.

The API writes records; ``controllers/eks_nodegroups`` follows the group's nodes (agents that
join with ``stowage agent --eks-cluster NAME --nodegroup NG``), sets the status from how many
have joined, applies UPDATING changes and the group's labels, and releases the nodes of a
deleted group.
"""

from __future__ import annotations

import orjson

from stowage.api.aws.context import RequestContext
from stowage.api.aws.service import Params, Result
from stowage.api.eks import errors
from stowage.api.eks.common import EksPlane, cluster_record, next_token, page_args, usable_cluster
from stowage.model.eks import nodegroups as model
from stowage.model.eks import updates as updates_model
from stowage.resources import eks as keys
from stowage.resources.records import Doc, Record, RecordExists
from stowage.store.base import Compare


async def _nodegroup(plane: EksPlane, ctx: RequestContext, cluster: str, name: str) -> Record:
    rec = await plane.eks.child(ctx.account_id, ctx.region, keys.NODEGROUPS, cluster, name)
    if rec is None:
        raise errors.not_found(f"No node group found for name: {name}.", cluster=cluster, nodegroup=name)
    return rec


async def create_nodegroup(plane: EksPlane, ctx: RequestContext, params: Params) -> Result:
    cluster_name, name = str(params["clusterName"]), str(params["nodegroupName"])
    cluster = await usable_cluster(plane, ctx, cluster_name)
    try:
        doc = model.new_nodegroup(
            params, cluster=cluster.doc, account=ctx.account_id, region=ctx.region, now=ctx.now
        )
    except (model.Invalid, ValueError) as exc:
        raise errors.invalid_parameter(str(exc), cluster=cluster_name, nodegroup=name) from None
    key = keys.child_key(ctx.account_id, ctx.region, keys.NODEGROUPS, cluster_name, name)
    try:
        await plane.records.create(key, doc)
    except RecordExists as exists:
        token = params.get("clientRequestToken")
        if token is not None and exists.current.doc.get("_token") == token:
            return {"nodegroup": model.render(exists.current.doc)}
        raise errors.in_use(
            f"NodeGroup already exists with name {name} and cluster name {cluster_name}",
            cluster=cluster_name,
            nodegroup=name,
        ) from None
    return {"nodegroup": model.render(doc)}


async def describe_nodegroup(plane: EksPlane, ctx: RequestContext, params: Params) -> Result:
    cluster = str(params["clusterName"])
    await cluster_record(plane, ctx, cluster)
    rec = await _nodegroup(plane, ctx, cluster, str(params["nodegroupName"]))
    return {"nodegroup": model.render(rec.doc)}


async def list_nodegroups(plane: EksPlane, ctx: RequestContext, params: Params) -> Result:
    cluster = str(params["clusterName"])
    await cluster_record(plane, ctx, cluster)
    after, limit = page_args("ListNodegroups", params)
    page, more = await plane.eks.children_page(
        ctx.account_id, ctx.region, keys.NODEGROUPS, cluster, after=after, limit=limit
    )
    return {
        "nodegroups": [r.doc["nodegroupName"] for r in page],
        "nextToken": next_token("ListNodegroups", more),
    }


async def update_nodegroup_config(plane: EksPlane, ctx: RequestContext, params: Params) -> Result:
    cluster, name = str(params["clusterName"]), str(params["nodegroupName"])
    await cluster_record(plane, ctx, cluster)
    rec = await _nodegroup(plane, ctx, cluster, name)
    token = params.get("clientRequestToken")
    if token is not None:
        for u in await plane.eks.children(ctx.account_id, ctx.region, keys.UPDATES, cluster):
            if u.doc.get("_token") == token and u.doc.get("_nodegroup") == name:
                return {"update": updates_model.render(u.doc)}
    if rec.doc.get("status") not in (model.ACTIVE, model.DEGRADED):
        raise errors.in_use(
            f"Nodegroup {name} is in {rec.doc.get('status')} state; an update needs it ACTIVE",
            cluster=cluster,
            nodegroup=name,
        )
    change = {k: params[k] for k in ("labels", "taints", "scalingConfig") if params.get(k)}
    if not change:
        raise errors.invalid_parameter(
            "No changes needed: give labels, taints or scalingConfig", cluster=cluster, nodegroup=name
        )
    updated = model.with_config(rec.doc, change)
    try:
        model.check_labels(updated["labels"])
        model.check_taints(updated["taints"])
        model.check_scaling(updated["scalingConfig"])
    except (model.Invalid, ValueError, KeyError) as exc:
        raise errors.invalid_parameter(str(exc), cluster=cluster, nodegroup=name) from None
    update = updates_model.new_update(
        "ConfigUpdate",
        _update_params(change),
        now=ctx.now,
        apply=change,
        token=token,
        nodegroup=name,
    )
    ukey = keys.child_key(ctx.account_id, ctx.region, keys.UPDATES, cluster, update["id"])
    result = await plane.records.commit(
        [Compare.mod_revision(rec.key, rec.mod_revision)],
        [(rec.key, {**rec.doc, "status": model.UPDATING, "modifiedAt": ctx.now}), (ukey, update)],
    )
    if not result.succeeded:
        raise errors.in_use(
            f"Nodegroup {name} changed during the update; try again", cluster=cluster, nodegroup=name
        )
    return {"update": updates_model.render(update)}


def _update_params(change: Doc) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    labels, taints, scaling = (
        change.get("labels") or {},
        change.get("taints") or {},
        change.get("scalingConfig"),
    )
    if labels.get("addOrUpdateLabels"):
        out.append(("LabelsToAdd", orjson.dumps(labels["addOrUpdateLabels"]).decode()))
    if labels.get("removeLabels"):
        out.append(("LabelsToRemove", orjson.dumps(labels["removeLabels"]).decode()))
    if taints.get("addOrUpdateTaints"):
        out.append(("TaintsToAdd", orjson.dumps(taints["addOrUpdateTaints"]).decode()))
    if taints.get("removeTaints"):
        out.append(("TaintsToRemove", orjson.dumps(taints["removeTaints"]).decode()))
    for member, kind in (("minSize", "MinSize"), ("maxSize", "MaxSize"), ("desiredSize", "DesiredSize")):
        if scaling and member in scaling:
            out.append((kind, str(scaling[member])))
    return out


async def delete_nodegroup(plane: EksPlane, ctx: RequestContext, params: Params) -> Result:
    cluster, name = str(params["clusterName"]), str(params["nodegroupName"])
    await cluster_record(plane, ctx, cluster)
    rec = await _nodegroup(plane, ctx, cluster, name)

    def deleting(doc: Doc) -> Doc | None:
        if doc.get("status") == model.DELETING:
            return None
        return {**doc, "status": model.DELETING, "modifiedAt": ctx.now}

    updated = await plane.records.update(rec.key, deleting)
    return {"nodegroup": model.render(updated.doc)}
