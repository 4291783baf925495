"""``autoscaling``: HorizontalPodAutoscaler, served in v2 (stored, preferred) and v1 (the same
objects converted, as a real API server serves both), with kubectl's table columns (NAME,
REFERENCE, TARGETS, MINPODS, MAXPODS, REPLICAS, AGE), the ``status`` subresource, and the API
server's defaults and validation (``model/k8s/hpa_spec.py``). What runs an autoscaler is
``controllers/k8s/hpa.py``."""

from __future__ import annotations

from typing import Any

from stowage.api.k8s.columns import AGE, NAME
from stowage.api.k8s.registry import Column, ResourceType, Subresource
from stowage.model.k8s.hpa_spec import (
    prepare_v1,
    prepare_v2,
    targets_text,
    v1_to_v2,
    v2_to_v1,
    validate_v1,
    validate_v2,
)

Obj = dict[str, Any]
GROUP = "autoscaling"


def _reference(o: Obj, _: float) -> str:
    ref = (o.get("spec") or {}).get("scaleTargetRef") or {}
    return f"{ref.get('kind', '')}/{ref.get('name', '')}"


def _min_pods(o: Obj, _: float) -> str:
    low = (o.get("spec") or {}).get("minReplicas")
    return "<unset>" if low is None else str(low)


# cells read the stored (v2) shape whatever version is listed
_COLUMNS = (
    NAME,
    Column("Reference", _reference, description="scaleTargetRef points to the target resource to scale."),
    Column("Targets", lambda o, _: targets_text(o),
           description="metrics contains the specifications for which to use to calculate the desired replica count."),  # noqa: E501
    Column("MinPods", _min_pods, description="minReplicas is the lower limit for the number of replicas."),
    Column("MaxPods", lambda o, _: int((o.get("spec") or {}).get("maxReplicas") or 0), type="integer",
           description="maxReplicas is the upper limit for the number of replicas."),
    Column("Replicas", lambda o, _: int((o.get("status") or {}).get("currentReplicas") or 0), type="integer",
           description="currentReplicas is current number of replicas of pods managed by this autoscaler."),
    AGE,
)  # fmt: skip

HPA_V2 = ResourceType(
    GROUP, "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", True,
    "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler",
    short_names=("hpa",),
    categories=("all",),
    columns=_COLUMNS,
    subresources=(Subresource("status", "HorizontalPodAutoscaler", group=GROUP, version="v2"),),
    generation=True,
    prepare=prepare_v2,
    validate=validate_v2,
)  # fmt: skip

HPA_V1 = ResourceType(
    GROUP, "v1", "horizontalpodautoscalers", "HorizontalPodAutoscaler", True,
    "io.k8s.api.autoscaling.v1.HorizontalPodAutoscaler",
    short_names=("hpa",),
    categories=("all",),
    columns=_COLUMNS,
    subresources=(Subresource("status", "HorizontalPodAutoscaler", group=GROUP, version="v1"),),
    generation=True,
    prepare=prepare_v1,
    validate=validate_v1,
    storage_group=GROUP,  # the v2 objects: only the shape differs
    to_storage=v1_to_v2,
    from_storage=v2_to_v1,
)  # fmt: skip

AUTOSCALING = (HPA_V2, HPA_V1)
