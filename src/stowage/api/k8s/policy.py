"""policy/v1: PodDisruptionBudget (declared here; its status is written by
``controllers/k8s/disruption``) and the ``pods/eviction`` subresource (``serve_eviction``):
POST an ``Eviction`` and the pod is deleted gracefully, as ``kubectl delete`` would, unless
that would break the pod's disruption budget (429 TooManyRequests, upstream's message; the
budget is computed at the moment of the eviction by ``model/k8s/disruption``, and evictions of
one namespace are serialized so two concurrent ones cannot both spend the last disruption).
``kubectl drain`` uses it."""

from __future__ import annotations

import asyncio
from typing import Any

from stowage.api.k8s.columns import AGE, NAME
from stowage.api.k8s.context import ApiContext
from stowage.api.k8s.handlers import Reply
from stowage.api.k8s.http import Request, decode_body
from stowage.api.k8s.registry import Column, ResourceType, Subresource
from stowage.model.k8s import disruption, errors
from stowage.model.k8s.selectors import selector_from_object
from stowage.resources.k8s_objects import resource_prefix

Obj = dict[str, Any]
_LOCKS: dict[tuple[str, str], asyncio.Lock] = {}


def _spec_value(member: str) -> Any:
    def cell(o: Obj, _: float) -> str:
        value = (o.get("spec") or {}).get(member)
        return "N/A" if value is None else str(value)

    return cell


def _validate_pdb(pdb: Obj) -> list[errors.Cause]:
    spec = pdb.get("spec") or {}
    causes: list[errors.Cause] = []
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        causes.append(
            errors.Cause(
                "FieldValueInvalid",
                "Invalid value: minAvailable and maxUnavailable cannot be both set",
                "spec",
            )
        )
    for member in ("minAvailable", "maxUnavailable"):
        value = spec.get(member)
        if value is None:
            continue
        text = str(value)
        number = text[:-1] if text.endswith("%") and isinstance(value, str) else text
        if not number.isdigit() or (isinstance(value, str) and not text.endswith("%")):
            causes.append(
                errors.Cause(
                    "FieldValueInvalid",
                    f'Invalid value: "{text}": must be an integer or a percentage',
                    f"spec.{member}",
                )
            )
    try:
        selector_from_object(spec.get("selector"))
    except errors.K8sError as exc:
        causes.append(errors.Cause("FieldValueInvalid", exc.message, "spec.selector"))
    return causes


PDB = ResourceType(
    "policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True,
    "io.k8s.api.policy.v1.PodDisruptionBudget",
    short_names=("pdb",),
    columns=(
        NAME,
        Column("Min Available", _spec_value("minAvailable"),
               description="The minimum number of pods that must be available simultaneously."),
        Column("Max Unavailable", _spec_value("maxUnavailable"),
               description="The maximum number of pods that may be unavailable simultaneously."),
        Column("Allowed Disruptions", lambda o, _: (o.get("status") or {}).get("disruptionsAllowed", 0),
               type="integer", description="Calculated number of pods that may be disrupted at this time."),
        AGE,
    ),
    subresources=(Subresource("status", "PodDisruptionBudget", "policy", "v1"),),
    generation=True,
    validate=_validate_pdb,
)  # fmt: skip

POLICY = (PDB,)
EVICTION = Subresource("eviction", "Eviction", "policy", "v1", verbs=("create",))


async def _budgets(ctx: ApiContext, ns: str, pod: Obj) -> list[tuple[Obj, disruption.Budget]]:
    objects = ctx.service.objects
    space = ctx.service.cluster
    pdbs, _more, _rev = await objects.list(resource_prefix(space, "policy", "poddisruptionbudgets", ns))
    mine = [s.obj for s in pdbs if disruption.selects(s.obj, pod)]
    if not mine:
        return []
    pods, _more, _rev = await objects.list(resource_prefix(space, "", "pods", ns))
    sets, _more, _rev = await objects.list(resource_prefix(space, "apps", "replicasets", ns))
    replicas = {
        ("ReplicaSet", str((s.obj.get("metadata") or {}).get("name"))): int(
            (s.obj.get("spec") or {}).get("replicas", 1)
        )
        for s in sets
    }

    def scale_of(kind: str, name: str) -> int | None:
        return replicas.get((kind, name))

    return [(p, disruption.budget(p, [s.obj for s in pods], scale_of)) for p in mine]


async def serve_eviction(ctx: ApiContext, rt: ResourceType, ns: str, name: str, request: Request) -> Reply:
    """POST pods/NAME/eviction (policy/v1 or v1beta1 Eviction)."""
    if request.method != "POST":
        raise errors.K8sError(
            405,
            "MethodNotAllowed",
            f"the server does not allow this method on the requested resource ({request.method})",
        )
    body = decode_body(request.body, request.content_type) if request.body.strip() else {}
    if not isinstance(body, dict):
        raise errors.bad_request("the request body must be an Eviction object")
    if body.get("kind") not in (None, "", "Eviction"):
        raise errors.bad_request(
            f"the kind in the data ({body.get('kind')}) does not match the expected kind (Eviction)"
        )
    named = (body.get("metadata") or {}).get("name")
    if named not in (None, "", name):
        raise errors.bad_request("name in URL does not match name in Eviction object")
    options = body.get("deleteOptions") or {}
    grace = options.get("gracePeriodSeconds")
    pre = options.get("preconditions") or {}
    lock = _LOCKS.setdefault((ctx.service.cluster, ns), asyncio.Lock())
    async with lock:
        found = await ctx.service.get(rt, ns, name)
        pod = found.obj
        disruption.check_eviction(pod, await _budgets(ctx, ns, pod))
        if request.query.get("dryRun") != "All":
            await ctx.service.delete(
                rt,
                ns,
                name,
                grace_seconds=grace if isinstance(grace, int) else None,
                expect_rv=pre.get("resourceVersion"),
                expect_uid=pre.get("uid"),
            )
    status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
    return Reply(201, status, warnings=request.warnings)
