"""EKS access entries and access policies: Create/Describe/List/Update/DeleteAccessEntry,
Associate/DisassociateAccessPolicy, ListAssociatedAccessPolicies, ListAccessPolicies.

An entry is one record per (cluster, principal); its policy associations live inside it
(``_policies``, by policy ARN), so an association and its entry can never disagree. Entries need
an API authentication mode, as on EKS. What a policy allows is ``model/eks/access``; the
cluster's Kubernetes API reads entries through ``kube_auth.AccessIndex`` (a watch, not a store
read per request).
"""

from __future__ import annotations

import contextlib
import secrets
from typing import Any

from stowage.api.aws.context import RequestContext
from stowage.api.aws.service import Params, Result
from stowage.api.eks import errors
from stowage.api.eks.common import EksPlane, cluster_record, next_token, page_args
from stowage.model.eks import access as model
from stowage.resources import eks as keys
from stowage.resources.records import Doc, Record, RecordExists, RecordMissing

_MODE_REQUIRED = (
    "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] "
    "to perform this operation."
)


def entry_arn(ctx: RequestContext, cluster: str, principal: str) -> str:
    parts = principal.split(":")
    account, resource = parts[4], parts[5]
    kind, _, name = resource.partition("/")
    return (
        f"arn:aws:eks:{ctx.region}:{ctx.account_id}:access-entry/{cluster}/{kind}/{account}/"
        f"{name.rsplit('/', 1)[-1] or kind}/{secrets.token_hex(4)}"
    )


def new_entry(ctx: RequestContext, cluster: str, principal: str, params: dict[str, Any]) -> Doc:
    return {
        "clusterName": cluster,
        "principalArn": principal,
        "kubernetesGroups": list(params.get("kubernetesGroups") or []),
        "accessEntryArn": entry_arn(ctx, cluster, principal),
        "createdAt": ctx.now,
        "modifiedAt": ctx.now,
        "tags": dict(params.get("tags") or {}),
        "username": str(params.get("username") or model.default_username(principal)),
        "type": str(params.get("type") or "STANDARD"),
        "_policies": {},
    }


def render(doc: Doc) -> Doc:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


async def bootstrap_entry(plane: EksPlane, ctx: RequestContext, cluster: Doc) -> None:
    """The creator's cluster-admin entry, as EKS makes it when an API mode is on and
    ``bootstrapClusterCreatorAdminPermissions`` (the default) holds."""
    if not cluster["accessConfig"].get("bootstrapClusterCreatorAdminPermissions"):
        return
    creator = str(cluster["_creator"])
    doc = new_entry(ctx, cluster["name"], creator, {})
    doc["_policies"] = {
        model.CLUSTER_ADMIN: {
            "policyArn": model.CLUSTER_ADMIN,
            "accessScope": {"type": "cluster", "namespaces": []},
            "associatedAt": ctx.now,
            "modifiedAt": ctx.now,
        }
    }
    key = keys.child_key(ctx.account_id, ctx.region, keys.ACCESS, cluster["name"], creator)
    with contextlib.suppress(RecordExists):
        await plane.records.create(key, doc)


async def _api_mode_cluster(plane: EksPlane, ctx: RequestContext, name: str) -> Record:
    rec = await cluster_record(plane, ctx, name)
    if rec.doc["accessConfig"]["authenticationMode"] not in model.API_MODES:
        raise errors.invalid_request(_MODE_REQUIRED, cluster=name)
    return rec


async def _entry(plane: EksPlane, ctx: RequestContext, cluster: str, principal: str) -> Record:
    rec = await plane.eks.child(ctx.account_id, ctx.region, keys.ACCESS, cluster, principal)
    if rec is None:
        raise errors.not_found(
            f"The specified principalArn {principal} could not be found on cluster {cluster}.",
            cluster=cluster,
        )
    return rec


def _key(ctx: RequestContext, cluster: str, principal: str) -> str:
    return keys.child_key(ctx.account_id, ctx.region, keys.ACCESS, cluster, principal)


async def create_access_entry(plane: EksPlane, ctx: RequestContext, params: Params) -> Result:
    cluster = str(params["clusterName"])
    await _api_mode_cluster(plane, ctx, cluster)
    try:
        principal = model.check_principal(str(params["principalArn"]))
        model.check_groups(params.get("kubernetesGroups") or [])
    except model.Invalid as exc:
        raise errors.invalid_parameter(str(exc), cluster=cluster) from None
    kind = str(params.get("type") or "STANDARD")
    if kind not in model.ENTRY_TYPES:
        raise errors.invalid_parameter(f"The access entry type {kind} is not valid", cluster=cluster)
    if kind != "STANDARD" and (params.get("username") or params.get("kubernetesGroups")):
        raise errors.invalid_parameter(
            f"username and kubernetesGroups cannot be specified for an access entry of type {kind}",
            cluster=cluster,
        )
    doc = new_entry(ctx, cluster, principal, params)
    try:
        await plane.records.create(_key(ctx, cluster, principal), doc)
    except RecordExists:
        raise errors.in_use(
            "The specified access entry resource is already in use on this cluster.", cluster=cluster
        ) from None
    return {"accessEntry": render(doc)}


async def describe_access_entry(plane: EksPlane, ctx: RequestContext, params: Params) -> Result:
    cluster = str(params["clusterName"])
    await cluster_record(plane, ctx, cluster)
    rec = await _entry(plane, ctx, cluster, str(params["principalArn"]))
    return {"accessEntry": render(rec.doc)}


async def list_access_entries(plane: EksPlane, ctx: RequestContext, params: Params) -> Result:
    cluster = str(params["clusterName"])
    await cluster_record(plane, ctx, cluster)
    after, limit = page_args("ListAccessEntries", params)
    policy = params.get("associatedPolicyArn")
    records = await plane.eks.children(ctx.account_id, ctx.region, keys.ACCESS, cluster)
    arns = sorted(r.doc["principalArn"] for r in records if policy is None or policy in r.doc["_policies"])
    start = arns.index(after) + 1 if after in arns else 0
    chunk = arns[start : start + limit]
    more = chunk[-1] if start + limit < len(arns) else None
    return {"accessEntries": chunk, "nextToken": next_token("ListAccessEntries", more)}


async def update_access_entry(plane: EksPlane, ctx: RequestContext, params: Params) -> Result:
    cluster, principal = str(params["clusterName"]), str(params["principalArn"])
    await _api_mode_cluster(plane, ctx, cluster)
    rec = await _entry(plane, ctx, cluster, principal)
    try:
        groups = model.check_groups(params.get("kubernetesGroups") or [])
    except model.Invalid as exc:
        raise errors.invalid_parameter(str(exc), cluster=cluster) from None

    def change(doc: Doc) -> Doc:
        if "kubernetesGroups" in params:
            doc["kubernetesGroups"] = groups
        if params.get("username"):
            doc["username"] = str(params["username"])
        doc["modifiedAt"] = ctx.now
        return doc

    updated = await plane.records.update(rec.key, change)
    return {"accessEntry": render(updated.doc)}


async def delete_access_entry(plane: EksPlane, ctx: RequestContext, params: Params) -> Result:
    cluster, principal = str(params["clusterName"]), str(params["principalArn"])
    await cluster_record(plane, ctx, cluster)
    rec = await _entry(plane, ctx, cluster, principal)
    await plane.records.delete(rec.key)
    return {}


async def associate_access_policy(plane: EksPlane, ctx: RequestContext, params: Params) -> Result:
    cluster, principal = str(params["clusterName"]), str(params["principalArn"])
    await _api_mode_cluster(plane, ctx, cluster)
    rec = await _entry(plane, ctx, cluster, principal)
    if rec.doc.get("type", "STANDARD") != "STANDARD":
        raise errors.invalid_request(
            f"Access policies cannot be associated with an access entry of type {rec.doc['type']}",
            cluster=cluster,
        )
    try:
        policy = model.check_policy(str(params["policyArn"]))
        scope = model.check_scope(params["accessScope"])
    except model.Invalid as exc:
        raise errors.invalid_parameter(str(exc), cluster=cluster) from None

    def change(doc: Doc) -> Doc:
        old = doc["_policies"].get(policy)
        doc["_policies"][policy] = {
            "policyArn": policy,
            "accessScope": scope,
            "associatedAt": old["associatedAt"] if old else ctx.now,
            "modifiedAt": ctx.now,
        }
        return doc

    try:
        updated = await plane.records.update(rec.key, change)
    except RecordMissing:
        raise errors.not_found(f"The specified principalArn {principal} could not be found.") from None
    return {
        "clusterName": cluster,
        "principalArn": principal,
        "associatedAccessPolicy": updated.doc["_policies"][policy],
    }


async def disassociate_access_policy(plane: EksPlane, ctx: RequestContext, params: Params) -> Result:
    cluster, principal = str(params["clusterName"]), str(params["principalArn"])
    await cluster_record(plane, ctx, cluster)
    rec = await _entry(plane, ctx, cluster, principal)
    policy = str(params["policyArn"])
    if policy not in rec.doc["_policies"]:
        raise errors.not_found(f"The policy {policy} is not associated with {principal}.", cluster=cluster)

    def change(doc: Doc) -> Doc:
        doc["_policies"].pop(policy, None)
        return doc

    await plane.records.update(rec.key, change)
    return {}


async def list_associated_access_policies(plane: EksPlane, ctx: RequestContext, params: Params) -> Result:
    cluster, principal = str(params["clusterName"]), str(params["principalArn"])
    await cluster_record(plane, ctx, cluster)
    rec = await _entry(plane, ctx, cluster, principal)
    after, limit = page_args("ListAssociatedAccessPolicies", params)
    policies = sorted(rec.doc["_policies"])
    start = policies.index(after) + 1 if after in policies else 0
    chunk = policies[start : start + limit]
    more = chunk[-1] if start + limit < len(policies) else None
    return {
        "clusterName": cluster,
        "principalArn": principal,
        "associatedAccessPolicies": [rec.doc["_policies"][p] for p in chunk],
        "nextToken": next_token("ListAssociatedAccessPolicies", more),
    }


async def list_access_policies(plane: EksPlane, ctx: RequestContext, params: Params) -> Result:
    return {"accessPolicies": [{"name": model.policy_name(arn), "arn": arn} for arn in model.POLICIES]}
