"""apps/v1 Deployment and ReplicaSet: their declarations (kubectl's table columns, the
``status`` and ``scale`` subresources) and the ``/scale`` handler (an ``autoscaling/v1``
Scale view of ``spec.replicas``; writing it changes only ``spec.replicas``, which bumps the
generation like any spec change). What runs them is ``controllers/k8s/{deployments,
replicasets}.py``."""

from __future__ import annotations

from typing import Any

from stowage.api.k8s.columns import AGE, NAME
from stowage.api.k8s.context import ApiContext
from stowage.api.k8s.handlers import Reply
from stowage.api.k8s.http import Request, decode_body
from stowage.api.k8s.registry import Column, ResourceType, Subresource
from stowage.model.k8s import errors
from stowage.model.k8s.jsonpatch import json_patch, merge_patch

Obj = dict[str, Any]


def _st(member: str) -> Any:
    return lambda o, _: int((o.get("status") or {}).get(member) or 0)


def _containers(o: Obj, _: float) -> str:
    spec = ((o.get("spec") or {}).get("template") or {}).get("spec") or {}
    return ",".join(str(c.get("name", "")) for c in spec.get("containers") or [])


def _images(o: Obj, _: float) -> str:
    spec = ((o.get("spec") or {}).get("template") or {}).get("spec") or {}
    return ",".join(str(c.get("image", "")) for c in spec.get("containers") or [])


def selector_text(selector: Obj | None) -> str:
    """A LabelSelector object as the label-selector string kubectl prints (and Scale carries)."""
    if not selector:
        return "<none>"
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op in ("In", "NotIn"):
            parts.append(f"{key} {op.lower()} ({','.join(sorted(values))})")
        else:
            parts.append(str(key) if op == "Exists" else f"!{key}")
    return ",".join(parts)


def _selector(o: Obj, _: float) -> str:
    return selector_text((o.get("spec") or {}).get("selector"))


_WIDE = (
    Column("Containers", _containers, priority=1, description="Names of each container in the template."),
    Column("Images", _images, priority=1, description="Images referenced by each container in the template."),
    Column("Selector", _selector, priority=1, description="Label selector for pods."),
)
_SCALE = Subresource("scale", "Scale", group="autoscaling", version="v1")

DEPLOYMENT = ResourceType(
    "apps", "v1", "deployments", "Deployment", True, "io.k8s.api.apps.v1.Deployment",
    short_names=("deploy",),
    categories=("all",),
    columns=(
        NAME,
        Column("Ready", lambda o, _: f"{int((o.get('status') or {}).get('readyReplicas') or 0)}/"
               f"{int((o.get('spec') or {}).get('replicas', 1))}",
               description="Number of the pod with ready state"),
        Column("Up-to-date", _st("updatedReplicas"), type="integer",
               description="Total number of non-terminated pods targeted by this deployment that have the desired template spec."),  # noqa: E501
        Column("Available", _st("availableReplicas"), type="integer",
               description="Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),  # noqa: E501
        AGE,
        *_WIDE,
    ),
    subresources=(Subresource("status", "Deployment", group="apps"), _SCALE),
    generation=True,
)  # fmt: skip

REPLICASET = ResourceType(
    "apps", "v1", "replicasets", "ReplicaSet", True, "io.k8s.api.apps.v1.ReplicaSet",
    short_names=("rs",),
    categories=("all",),
    columns=(
        NAME,
        Column("Desired", lambda o, _: int((o.get("spec") or {}).get("replicas", 1)), type="integer",
               description="Replicas is the number of desired replicas."),
        Column("Current", _st("replicas"), type="integer",
               description="Replicas is the most recently observed number of replicas."),
        Column("Ready", _st("readyReplicas"), type="integer",
               description="The number of ready replicas for this replica set."),
        AGE,
        *_WIDE,
    ),
    subresources=(Subresource("status", "ReplicaSet", group="apps"), _SCALE),
    generation=True,
)  # fmt: skip

APPS = (DEPLOYMENT, REPLICASET)


def _scale_of(obj: Obj) -> Obj:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    return {
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": int(spec.get("replicas", 1))},
        "status": {
            "replicas": int((obj.get("status") or {}).get("replicas") or 0),
            "selector": selector_text(spec.get("selector")),
        },
    }


async def serve_scale(ctx: ApiContext, rt: ResourceType, ns: str, name: str, request: Request) -> Reply:
    """GET, PUT and PATCH (JSON, merge and strategic merge: a Scale has no lists) of /scale."""
    if request.method == "GET":
        stored = await ctx.service.get(rt, ns, name)
        return Reply(200, _scale_of(ctx.service.served(rt, stored.obj)), warnings=request.warnings)
    content_type = request.content_type
    body = decode_body(request.body, "yaml" if content_type.endswith("yaml") else content_type)
    expect: list[str | None] = [None]

    def change(old: Obj) -> Obj:
        scale = _scale_of(old)
        if request.method == "PUT":
            new_scale = body
            expect[0] = (
                ((body or {}).get("metadata") or {}).get("resourceVersion")
                if isinstance(body, dict)
                else None
            )
        elif content_type == "application/json-patch+json":
            new_scale = json_patch(scale, body)
        elif isinstance(body, dict):
            new_scale = merge_patch(scale, body)
        else:
            raise errors.bad_request("the patch must be a JSON object")
        replicas = (
            ((new_scale or {}).get("spec") or {}).get("replicas") if isinstance(new_scale, dict) else None
        )
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise errors.bad_request(
                'Scale.autoscaling "" is invalid: spec.replicas: must be a non-negative integer'
            )
        old.setdefault("spec", {})["replicas"] = replicas
        old["metadata"].pop("resourceVersion", None)
        if expect[0]:
            old["metadata"]["resourceVersion"] = expect[0]
        return old

    stored = await ctx.service.update(rt, ns, name, change)
    return Reply(200, _scale_of(ctx.service.served(rt, stored.obj)), warnings=request.warnings)
