"""EKS cluster operations: Create/Describe/List/Delete, UpdateClusterVersion, UpdateClusterConfig
(access config and logging), DescribeUpdate/ListUpdates.

The API only writes records; ``controllers/eks`` brings a CREATING cluster's Kubernetes API up
and marks it ACTIVE, applies InProgress updates, and tears a DELETING cluster down. CreateCluster
gives the cluster its CA and its endpoint's port (claimed in the same transaction as the record).
"""

from __future__ import annotations

import orjson

from stowage.api.aws.context import RequestContext
from stowage.api.aws.service import Params, Result
from stowage.api.eks import errors
from stowage.api.eks.access import bootstrap_entry
from stowage.api.eks.common import EksPlane, cluster_record, next_token, page_args
from stowage.api.eks.listener import port_free
from stowage.api.k8s.pki import new_ca
from stowage.model.eks import clusters as model
from stowage.model.eks import updates as updates_model
from stowage.model.k8s.service_ranges import IpRange
from stowage.resources import eks as keys
from stowage.resources import eks_ports
from stowage.resources.records import Doc, Record
from stowage.store.base import Compare


async def create_cluster(plane: EksPlane, ctx: RequestContext, params: Params) -> Result:
    name = str(params["name"])
    token = params.get("clientRequestToken")
    try:
        doc = model.new_cluster(
            params,
            account=ctx.account_id,
            region=ctx.region,
            creator=ctx.principal_arn,
            now=ctx.now,
            cluster_id=model.new_id(),
        )
        cidr = IpRange.parse(doc["kubernetesNetworkConfig"]["serviceIpv4Cidr"])
    except ValueError as exc:
        raise errors.invalid_parameter(str(exc), cluster=name) from None
    if not 12 <= cidr.network.prefixlen <= 24:
        raise errors.invalid_parameter(
            "serviceIpv4Cidr must have a prefix length between /12 and /24", cluster=name
        )
    key = keys.cluster_key(ctx.account_id, ctx.region, name)
    ca = new_ca("kubernetes")  # EKS's cluster CAs are named so
    for _ in range(8):
        existing = await plane.records.get(key)
        if existing is not None:
            if model.same_request(existing.doc, token) and existing.doc["status"] != model.DELETING:
                return {"cluster": plane.render(existing.doc)}
            raise errors.in_use(f"Cluster already exists with name: {name}", cluster=name)
        port = await plane.ports.pick(lambda p: port_free(plane.endpoint.bind, p))
        if port is None:
            raise errors.limit_exceeded(
                f"Cannot create cluster {name}: every port of the EKS endpoint range {plane.ports} "
                "is in use (delete a cluster, or widen the control plane's --eks-port-range)",
                cluster=name,
            )
        doc = model.with_endpoint(doc, port, ca)
        claim, put = eks_ports.claim(port, eks_ports.Holder(key, doc["_id"]))
        result = await plane.records.commit([Compare.absent(key), claim], [(key, doc)], [put])
        if result.succeeded:
            break
        # the name was taken meanwhile (answered above), or the port: pick again
    else:
        raise errors.in_use(
            f"Cluster {name} could not be created: too many concurrent creations", cluster=name
        )
    if doc["accessConfig"]["authenticationMode"] in ("API", "API_AND_CONFIG_MAP"):
        await bootstrap_entry(plane, ctx, doc)
    return {"cluster": plane.render(doc)}


async def describe_cluster(plane: EksPlane, ctx: RequestContext, params: Params) -> Result:
    rec = await cluster_record(plane, ctx, str(params["name"]))
    return {"cluster": plane.render(rec.doc)}


async def list_clusters(plane: EksPlane, ctx: RequestContext, params: Params) -> Result:
    after, limit = page_args("ListClusters", params)
    page, more = await plane.eks.clusters_page(ctx.account_id, ctx.region, after=after, limit=limit)
    return {"clusters": [r.doc["name"] for r in page], "nextToken": next_token("ListClusters", more)}


async def delete_cluster(plane: EksPlane, ctx: RequestContext, params: Params) -> Result:
    name = str(params["name"])
    rec = await cluster_record(plane, ctx, name)
    if rec.doc.get("deletionProtection"):
        raise errors.invalid_request(
            "Cannot delete cluster because deletion protection is enabled. Disable it first.", cluster=name
        )
    if await plane.eks.has_children(ctx.account_id, ctx.region, keys.NODEGROUPS, name):
        raise errors.in_use("Cluster has nodegroups attached", cluster=name)
    if await plane.eks.has_children(ctx.account_id, ctx.region, keys.FARGATE, name):
        raise errors.in_use("Cluster has fargate profiles attached", cluster=name)

    def deleting(doc: Doc) -> Doc | None:
        if doc.get("status") == model.DELETING:
            return None
        return {**doc, "status": model.DELETING}

    updated = await plane.records.update(rec.key, deleting)
    return {"cluster": plane.render(updated.doc)}


# -- updates -------------------------------------------------------------------------------------
async def _start_update(
    plane: EksPlane, ctx: RequestContext, rec: Record, update: Doc, status: str = model.UPDATING
) -> Doc:
    """Write the InProgress update and the cluster's UPDATING status in one transaction."""
    name = rec.doc["name"]
    key = keys.child_key(ctx.account_id, ctx.region, keys.UPDATES, name, update["id"])
    result = await plane.records.commit(
        [Compare.mod_revision(rec.key, rec.mod_revision)],
        [(rec.key, {**rec.doc, "status": status}), (key, update)],
    )
    if not result.succeeded:
        raise errors.in_use(f"Cluster {name} changed during the update; try again", cluster=name)
    return update


async def _idempotent(plane: EksPlane, ctx: RequestContext, name: str, token: str | None) -> Doc | None:
    if token is None:
        return None
    for rec in await plane.eks.children(ctx.account_id, ctx.region, keys.UPDATES, name):
        if rec.doc.get("_token") == token:
            return rec.doc
    return None


def _check_updatable(doc: Doc) -> None:
    name, status = doc["name"], doc.get("status")
    if status != model.ACTIVE:
        raise errors.in_use(f"Cluster {name} is in {status} state; an update needs it ACTIVE", cluster=name)


async def update_cluster_version(plane: EksPlane, ctx: RequestContext, params: Params) -> Result:
    name = str(params["name"])
    rec = await cluster_record(plane, ctx, name)
    done = await _idempotent(plane, ctx, name, params.get("clientRequestToken"))
    if done is not None:
        return {"update": updates_model.render(done)}
    _check_updatable(rec.doc)
    target = str(params["version"])
    try:
        model.check_upgrade(str(rec.doc["version"]), target)
    except model.Invalid as exc:
        raise errors.invalid_parameter(str(exc), cluster=name) from None
    update = updates_model.new_update(
        "VersionUpdate",
        [("Version", target), ("PlatformVersion", model.PLATFORM_VERSION)],
        now=ctx.now,
        apply={"version": target, "platformVersion": model.PLATFORM_VERSION},
        token=params.get("clientRequestToken"),
    )
    return {"update": updates_model.render(await _start_update(plane, ctx, rec, update))}


_MODE_ORDER = {"CONFIG_MAP": 0, "API_AND_CONFIG_MAP": 1, "API": 2}


async def update_cluster_config(plane: EksPlane, ctx: RequestContext, params: Params) -> Result:
    """Access config (authentication mode: CONFIG_MAP → API_AND_CONFIG_MAP → API, never back)
    and control-plane logging; other members are refused rather than ignored."""
    name = str(params["name"])
    rec = await cluster_record(plane, ctx, name)
    done = await _idempotent(plane, ctx, name, params.get("clientRequestToken"))
    if done is not None:
        return {"update": updates_model.render(done)}
    asked = [k for k in params if k not in ("name", "clientRequestToken")]
    if len(asked) != 1 or asked[0] not in ("accessConfig", "logging"):
        raise errors.invalid_parameter(
            "Exactly one of accessConfig or logging must be updated per request "
            "(stowage does not update the other cluster settings)",
            cluster=name,
        )
    _check_updatable(rec.doc)
    token = params.get("clientRequestToken")
    if asked[0] == "logging":
        logging = model.logging_config(params)
        update = updates_model.new_update(
            "LoggingUpdate",
            [("ClusterLogging", _json(logging["clusterLogging"]))],
            now=ctx.now,
            apply={"logging": logging},
            token=token,
        )
        return {"update": updates_model.render(await _start_update(plane, ctx, rec, update))}
    mode = str((params["accessConfig"] or {}).get("authenticationMode") or "")
    current = str(rec.doc["accessConfig"]["authenticationMode"])
    if mode not in _MODE_ORDER or _MODE_ORDER[mode] <= _MODE_ORDER[current]:
        raise errors.invalid_parameter(
            f"Unsupported authentication mode update from {current} to {mode or 'null'}", cluster=name
        )
    update = updates_model.new_update(
        "AccessConfigUpdate",
        [("AuthenticationMode", mode)],
        now=ctx.now,
        apply={"accessConfig": {**rec.doc["accessConfig"], "authenticationMode": mode}},
        token=token,
    )
    started = await _start_update(plane, ctx, rec, update)
    if current == "CONFIG_MAP":
        await bootstrap_entry(plane, ctx, rec.doc)
    return {"update": updates_model.render(started)}


def _json(value: object) -> str:
    return orjson.dumps(value).decode()


async def describe_update(plane: EksPlane, ctx: RequestContext, params: Params) -> Result:
    name, update_id = str(params["name"]), str(params["updateId"])
    await cluster_record(plane, ctx, name)
    rec = await plane.eks.child(ctx.account_id, ctx.region, keys.UPDATES, name, update_id)
    if rec is None or rec.doc.get("_nodegroup") != params.get("nodegroupName"):
        raise errors.not_found(f"No update found for ID: {update_id}", cluster=name)
    return {"update": updates_model.render(rec.doc)}


async def list_updates(plane: EksPlane, ctx: RequestContext, params: Params) -> Result:
    name = str(params["name"])
    await cluster_record(plane, ctx, name)
    after, limit = page_args("ListUpdates", params)
    nodegroup = params.get("nodegroupName")
    if params.get("addonName") or params.get("capabilityName"):
        return {"updateIds": []}
    records = await plane.eks.children(ctx.account_id, ctx.region, keys.UPDATES, name)
    ours = sorted(
        (r.doc for r in records if r.doc.get("_nodegroup") == nodegroup),
        key=lambda d: (d["createdAt"], d["id"]),
    )
    ids = [d["id"] for d in ours]
    start = ids.index(after) + 1 if after in ids else 0
    chunk = ids[start : start + limit]
    more = chunk[-1] if start + limit < len(ids) else None
    return {"updateIds": chunk, "nextToken": next_token("ListUpdates", more)}
