"""HorizontalPodAutoscaler objects, pure: the API server's defaults and validation for
``autoscaling/v2`` (the stored version), and the conversion to and from ``autoscaling/v1``.

Defaults (v2): ``minReplicas`` 1; no metrics means CPU at 80% of requests; a ``behavior``
given has its missing parts filled (scale up: no stabilization, Max of +4 pods or +100% per
15 s; scale down: 300 s stabilization, Max of -100% per 15 s).

v1 has only ``targetCPUUtilizationPercentage``; as upstream, the rest of a v2 object travels
in annotations when served as v1 (``autoscaling.alpha.kubernetes.io/metrics``,
``current-metrics``, ``conditions``, ``behavior``, in v1's own metric shapes) and is taken
back from them when a v1 object is written, so v2 → v1 → v2 loses nothing.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from stowage.model.k8s.errors import Cause
from stowage.model.k8s.quantity import QuantityError, parse_quantity

Obj = dict[str, Any]
DEFAULT_CPU_UTILIZATION = 80
METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/metrics"
CURRENT_METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/current-metrics"
CONDITIONS_ANNOTATION = "autoscaling.alpha.kubernetes.io/conditions"
BEHAVIOR_ANNOTATION = "autoscaling.alpha.kubernetes.io/behavior"
_ANNOTATIONS = (METRICS_ANNOTATION, CURRENT_METRICS_ANNOTATION, CONDITIONS_ANNOTATION, BEHAVIOR_ANNOTATION)
SOURCE_TYPES = ("ContainerResource", "External", "Object", "Pods", "Resource")
_SOURCE_MEMBER = {
    "ContainerResource": "containerResource",
    "External": "external",
    "Object": "object",
    "Pods": "pods",
    "Resource": "resource",
}
MAX_PERIOD_SECONDS = 1800
MAX_STABILIZATION_SECONDS = 3600


def cpu_metric(utilization: int) -> Obj:
    return {
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": utilization}},
    }


def scale_up_rules(given: Obj | None) -> Obj:
    rules = dict(given or {})
    rules.setdefault("stabilizationWindowSeconds", 0)
    rules.setdefault("selectPolicy", "Max")
    if not rules.get("policies"):
        rules["policies"] = [
            {"type": "Pods", "value": 4, "periodSeconds": 15},
            {"type": "Percent", "value": 100, "periodSeconds": 15},
        ]
    return rules


def scale_down_rules(given: Obj | None) -> Obj:
    rules = dict(given or {})
    rules.setdefault("stabilizationWindowSeconds", 300)
    rules.setdefault("selectPolicy", "Max")
    if not rules.get("policies"):
        rules["policies"] = [{"type": "Percent", "value": 100, "periodSeconds": 15}]
    return rules


def prepare_v2(obj: Obj) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    if spec.get("minReplicas") is None:
        spec["minReplicas"] = 1
    if not spec.get("metrics"):
        spec["metrics"] = [cpu_metric(DEFAULT_CPU_UTILIZATION)]
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        behavior["scaleUp"] = scale_up_rules(behavior.get("scaleUp"))
        behavior["scaleDown"] = scale_down_rules(behavior.get("scaleDown"))


def prepare_v1(obj: Obj) -> None:
    spec = obj.get("spec")
    if isinstance(spec, dict) and spec.get("minReplicas") is None:
        spec["minReplicas"] = 1


# -- validation -----------------------------------------------------------------------------------
def _invalid(field: str, value: Any, why: str) -> Cause:
    return Cause("FieldValueInvalid", f"Invalid value: {json.dumps(value)}: {why}", field)


def _required(field: str, why: str = "") -> Cause:
    return Cause("FieldValueRequired", f"Required value: {why}" if why else "Required value", field)


def _unsupported(field: str, value: Any, allowed: tuple[str, ...]) -> Cause:
    listed = ", ".join(f'"{a}"' for a in allowed)
    return Cause(
        "FieldValueNotSupported", f"Unsupported value: {json.dumps(value)}: supported values: {listed}", field
    )


def validate_v2(obj: Obj) -> list[Cause]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [_required("spec")]
    causes = _validate_ref(spec.get("scaleTargetRef") or {}, "spec.scaleTargetRef")
    low, high = spec.get("minReplicas"), spec.get("maxReplicas")
    if isinstance(low, int) and low < 1:
        causes.append(_invalid("spec.minReplicas", low, "must be greater than or equal to 1"))
    if not isinstance(high, int) or high < 1:
        causes.append(_invalid("spec.maxReplicas", high or 0, "must be greater than 0"))
    elif isinstance(low, int) and high < low:
        causes.append(_invalid("spec.maxReplicas", high, "must be greater than or equal to `minReplicas`"))
    for i, metric in enumerate(spec.get("metrics") or []):
        causes += _validate_metric(metric if isinstance(metric, dict) else {}, f"spec.metrics[{i}]")
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        for member in ("scaleUp", "scaleDown"):
            if isinstance(behavior.get(member), dict):
                causes += _validate_rules(behavior[member], f"spec.behavior.{member}")
    return causes


def _validate_ref(ref: Obj, field: str) -> list[Cause]:
    causes: list[Cause] = []
    for member in ("kind", "name"):
        value = str(ref.get(member) or "")
        if not value:
            causes.append(_required(f"{field}.{member}"))
        elif "/" in value or "%" in value or value in (".", ".."):
            causes.append(_invalid(f"{field}.{member}", value, "may not contain '/' or '%'"))
    return causes


def _validate_metric(metric: Obj, field: str) -> list[Cause]:
    kind = metric.get("type")
    if not kind:
        return [_required(f"{field}.type", "must specify a metric source type")]
    if kind not in SOURCE_TYPES:
        return [_unsupported(f"{field}.type", kind, SOURCE_TYPES)]
    member = _SOURCE_MEMBER[kind]
    source = metric.get(member)
    causes = [
        Cause(
            "FieldValueForbidden", "Forbidden: must populate the given metric source only", f"{field}.{other}"
        )
        for other in _SOURCE_MEMBER.values()
        if other != member and metric.get(other) is not None
    ]
    if not isinstance(source, dict):
        return [
            *causes,
            _required(f"{field}.{member}", "must populate information for the given metric source"),
        ]
    if kind in ("Resource", "ContainerResource"):
        if not source.get("name"):
            causes.append(_required(f"{field}.{member}.name", "must specify a resource name"))
        if kind == "ContainerResource" and not source.get("container"):
            causes.append(_required(f"{field}.{member}.container", "must specify a container"))
    elif not (source.get("metric") or {}).get("name"):
        causes.append(_required(f"{field}.{member}.metric.name", "must specify a metric name"))
    target = source.get("target")
    if not isinstance(target, dict):
        return [*causes, _required(f"{field}.{member}.target", "must specify a metric target")]
    causes += _validate_target(target, f"{field}.{member}.target")
    if kind in ("Resource", "ContainerResource"):
        if target.get("averageUtilization") is None and target.get("averageValue") is None:
            causes.append(
                _required(
                    f"{field}.{member}.target.averageUtilization",
                    "must set either a target raw value or a target utilization",
                )
            )
        elif target.get("averageUtilization") is not None and target.get("averageValue") is not None:
            causes.append(
                Cause(
                    "FieldValueForbidden",
                    "Forbidden: may not set both a target raw value and a target utilization",
                    f"{field}.{member}.target.averageValue",
                )
            )
    return causes


def _validate_target(target: Obj, field: str) -> list[Cause]:
    kind = target.get("type")
    if not kind:
        return [_required(f"{field}.type", "must specify a metric target type")]
    if kind not in ("Utilization", "Value", "AverageValue"):
        return [_invalid(f"{field}.type", kind, "must be either Utilization, Value, or AverageValue")]
    causes: list[Cause] = []
    utilization = target.get("averageUtilization")
    if isinstance(utilization, int) and utilization < 1:
        causes.append(_invalid(f"{field}.averageUtilization", utilization, "must be greater than 0"))
    for member in ("value", "averageValue"):
        if target.get(member) is None:
            continue
        try:
            positive = parse_quantity(target[member]) > 0
        except QuantityError as exc:
            causes.append(_invalid(f"{field}.{member}", target[member], str(exc)))
            continue
        if not positive:
            causes.append(_invalid(f"{field}.{member}", target[member], "must be positive"))
    if kind == "Utilization" and utilization is None:
        causes.append(
            _required(f"{field}.averageUtilization", "must set the target utilization for Utilization type")
        )
    return causes


def _validate_rules(rules: Obj, field: str) -> list[Cause]:
    causes: list[Cause] = []
    select = rules.get("selectPolicy")
    if select is not None and select not in ("Disabled", "Max", "Min"):
        causes.append(_unsupported(f"{field}.selectPolicy", select, ("Disabled", "Max", "Min")))
    window = rules.get("stabilizationWindowSeconds")
    if isinstance(window, int) and window < 0:
        causes.append(
            _invalid(f"{field}.stabilizationWindowSeconds", window, "must be greater than or equal to zero")
        )
    elif isinstance(window, int) and window > MAX_STABILIZATION_SECONDS:
        causes.append(
            _invalid(
                f"{field}.stabilizationWindowSeconds",
                window,
                f"must be less than or equal to {MAX_STABILIZATION_SECONDS}",
            )
        )
    policies = rules.get("policies") or []
    if not policies:
        causes.append(_required(f"{field}.policies", "must specify at least one Policy"))
    for i, policy in enumerate(policies):
        where = f"{field}.policies[{i}]"
        kind = policy.get("type")
        if kind not in ("Pods", "Percent"):
            causes.append(_unsupported(f"{where}.type", kind, ("Percent", "Pods")))
        value = policy.get("value")
        if not isinstance(value, int) or value <= 0:
            causes.append(_invalid(f"{where}.value", value or 0, "must be greater than zero"))
        period = policy.get("periodSeconds")
        if not isinstance(period, int) or period <= 0:
            causes.append(_invalid(f"{where}.periodSeconds", period or 0, "must be greater than zero"))
        elif period > MAX_PERIOD_SECONDS:
            causes.append(
                _invalid(
                    f"{where}.periodSeconds", period, f"must be less than or equal to {MAX_PERIOD_SECONDS}"
                )
            )
    return causes


def validate_v1(obj: Obj) -> list[Cause]:
    causes = validate_v2(v1_to_v2(obj))
    target = (obj.get("spec") or {}).get("targetCPUUtilizationPercentage")
    if isinstance(target, int) and target < 1:
        # reported at v1's own field rather than the metric it becomes
        causes = [c for c in causes if not c.field.endswith("averageUtilization")]
        causes.append(_invalid("spec.targetCPUUtilizationPercentage", target, "must be greater than 0"))
    return causes


# -- v1 <-> v2 --------------------------------------------------------------------------------
def _is_cpu_utilization(metric: Obj) -> bool:
    source = metric.get("resource") or {}
    target = source.get("target") or {}
    return (
        metric.get("type") == "Resource"
        and source.get("name") == "cpu"
        and target.get("type") == "Utilization"
        and target.get("averageUtilization") is not None
    )


def _drop_none(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if v is not None}


def _source_to_v1(entry: Obj, values: str) -> Obj:
    """One v2 metric source in v1's annotation shape. ``values`` is "target" for a spec's
    metric, "current" for a status': v1 prefixes the value fields with it."""
    kind = str(entry.get("type") or "")
    member = _SOURCE_MEMBER.get(kind, "")
    src = entry.get(member) or {}
    given = src.get(values) or {}
    ident = src.get("metric") or {}
    out: Obj
    if kind in ("Resource", "ContainerResource"):
        out = {
            "name": src.get("name"),
            "container": src.get("container"),
            f"{values}AverageUtilization": given.get("averageUtilization"),
            f"{values}AverageValue": given.get("averageValue"),
        }
    elif kind == "Pods":
        out = {
            "metricName": ident.get("name"),
            f"{values}AverageValue": given.get("averageValue"),
            "selector": ident.get("selector"),
        }
    elif kind == "Object":
        out = {
            "target": src.get("describedObject"),
            "metricName": ident.get("name"),
            f"{values}Value": given.get("value"),
            "averageValue": given.get("averageValue"),
            "selector": ident.get("selector"),
        }
    else:
        out = {
            "metricName": ident.get("name"),
            "metricSelector": ident.get("selector"),
            f"{values}Value": given.get("value"),
            f"{values}AverageValue": given.get("averageValue"),
        }
    return {"type": kind, member: _drop_none(out)} if member else {"type": kind}


def _metric_to_v1(metric: Obj) -> Obj:
    return _source_to_v1(metric, "target")


def _metric_from_v1(metric: Obj) -> Obj:
    kind = str(metric.get("type") or "")
    member = _SOURCE_MEMBER.get(kind, "")
    src = metric.get(member) or {}
    out: Obj
    if kind in ("Resource", "ContainerResource"):
        utilization = src.get("targetAverageUtilization")
        target = (
            {"type": "Utilization", "averageUtilization": utilization}
            if utilization is not None
            else {"type": "AverageValue", "averageValue": src.get("targetAverageValue")}
        )
        out = _drop_none({"name": src.get("name"), "container": src.get("container"), "target": target})
    elif kind == "Pods":
        out = {
            "metric": _drop_none({"name": src.get("metricName"), "selector": src.get("selector")}),
            "target": {"type": "AverageValue", "averageValue": src.get("targetAverageValue")},
        }
    elif kind == "Object":
        target = (
            {"type": "AverageValue", "averageValue": src["averageValue"]}
            if src.get("averageValue") is not None
            else {"type": "Value", "value": src.get("targetValue")}
        )
        out = {
            "describedObject": src.get("target"),
            "target": target,
            "metric": _drop_none({"name": src.get("metricName"), "selector": src.get("selector")}),
        }
    else:
        target = (
            {"type": "AverageValue", "averageValue": src["targetAverageValue"]}
            if src.get("targetAverageValue") is not None
            else {"type": "Value", "value": src.get("targetValue")}
        )
        out = {
            "metric": _drop_none({"name": src.get("metricName"), "selector": src.get("metricSelector")}),
            "target": target,
        }
    return {"type": kind, member: out} if member else {"type": kind}


def _status_to_v1(status: Obj) -> Obj:
    return _source_to_v1(status, "current")


def _status_from_v1(status: Obj) -> Obj:
    kind = str(status.get("type") or "")
    member = _SOURCE_MEMBER.get(kind, "")
    src = status.get(member) or {}
    if kind in ("Resource", "ContainerResource"):
        current = _drop_none(
            {
                "averageUtilization": src.get("currentAverageUtilization"),
                "averageValue": src.get("currentAverageValue"),
            }
        )
        out = _drop_none({"name": src.get("name"), "container": src.get("container"), "current": current})
    elif kind == "Pods":
        out = {
            "metric": _drop_none({"name": src.get("metricName"), "selector": src.get("selector")}),
            "current": _drop_none({"averageValue": src.get("currentAverageValue")}),
        }
    elif kind == "Object":
        out = {
            "describedObject": src.get("target"),
            "metric": _drop_none({"name": src.get("metricName"), "selector": src.get("selector")}),
            "current": _drop_none(
                {"value": src.get("currentValue"), "averageValue": src.get("averageValue")}
            ),
        }
    else:
        out = {
            "metric": _drop_none({"name": src.get("metricName"), "selector": src.get("metricSelector")}),
            "current": _drop_none(
                {"value": src.get("currentValue"), "averageValue": src.get("currentAverageValue")}
            ),
        }
    return {"type": kind, member: out} if member else {"type": kind}


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def v2_to_v1(obj: Obj) -> Obj:
    """A stored (v2) object as ``autoscaling/v1`` serves it."""
    obj = copy.deepcopy(obj)
    spec = obj.get("spec") or {}
    status = obj.get("status")
    meta = obj.setdefault("metadata", {})
    annotations = dict(meta.get("annotations") or {})
    out_spec: Obj = {k: spec[k] for k in ("scaleTargetRef", "minReplicas", "maxReplicas") if k in spec}
    others: list[Obj] = []
    for metric in spec.get("metrics") or []:
        if _is_cpu_utilization(metric) and "targetCPUUtilizationPercentage" not in out_spec:
            out_spec["targetCPUUtilizationPercentage"] = metric["resource"]["target"]["averageUtilization"]
        else:
            others.append(_metric_to_v1(metric))
    if others:
        annotations[METRICS_ANNOTATION] = _dumps(others)
    if spec.get("behavior") is not None:
        annotations[BEHAVIOR_ANNOTATION] = _dumps(spec["behavior"])
    obj["spec"] = out_spec
    if isinstance(status, dict):
        out_status: Obj = {
            k: status[k]
            for k in ("observedGeneration", "lastScaleTime", "currentReplicas", "desiredReplicas")
            if k in status
        }
        out_status.setdefault("currentReplicas", 0)
        out_status.setdefault("desiredReplicas", 0)
        current = status.get("currentMetrics") or []
        for m in current:
            if m.get("type") == "Resource" and (m.get("resource") or {}).get("name") == "cpu":
                value = ((m.get("resource") or {}).get("current") or {}).get("averageUtilization")
                if value is not None:
                    out_status["currentCPUUtilizationPercentage"] = value
        if current:
            annotations[CURRENT_METRICS_ANNOTATION] = _dumps([_status_to_v1(m) for m in current])
        if status.get("conditions"):
            annotations[CONDITIONS_ANNOTATION] = _dumps(status["conditions"])
        obj["status"] = out_status
    if annotations:
        meta["annotations"] = annotations
    obj["apiVersion"] = "autoscaling/v1"
    return obj


def _loads(text: Any) -> Any:
    try:
        return json.loads(str(text))
    except ValueError:
        return None


def v1_to_v2(obj: Obj) -> Obj:
    """An ``autoscaling/v1`` object as stored (v2), its annotations folded back in."""
    obj = copy.deepcopy(obj)
    spec = obj.get("spec") or {}
    meta = obj.setdefault("metadata", {})
    annotations = dict(meta.get("annotations") or {})
    found = {k: annotations.pop(k) for k in _ANNOTATIONS if k in annotations}
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    out_spec: Obj = {k: spec[k] for k in ("scaleTargetRef", "minReplicas", "maxReplicas") if k in spec}
    metrics: list[Obj] = []
    if spec.get("targetCPUUtilizationPercentage") is not None:
        metrics.append(cpu_metric(spec["targetCPUUtilizationPercentage"]))
    others = _loads(found.get(METRICS_ANNOTATION, "[]"))
    metrics += [_metric_from_v1(m) for m in others if isinstance(m, dict)] if isinstance(others, list) else []
    out_spec["metrics"] = metrics or [cpu_metric(DEFAULT_CPU_UTILIZATION)]
    behavior = _loads(found[BEHAVIOR_ANNOTATION]) if BEHAVIOR_ANNOTATION in found else None
    if isinstance(behavior, dict):
        out_spec["behavior"] = behavior
    obj["spec"] = out_spec
    status = obj.get("status")
    if isinstance(status, dict):
        out_status: Obj = {
            k: status[k]
            for k in ("observedGeneration", "lastScaleTime", "currentReplicas", "desiredReplicas")
            if k in status
        }
        current = _loads(found[CURRENT_METRICS_ANNOTATION]) if CURRENT_METRICS_ANNOTATION in found else None
        if isinstance(current, list):
            out_status["currentMetrics"] = [_status_from_v1(m) for m in current if isinstance(m, dict)]
        elif status.get("currentCPUUtilizationPercentage") is not None:
            out_status["currentMetrics"] = [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "current": {"averageUtilization": status["currentCPUUtilizationPercentage"]},
                    },
                }
            ]
        conditions = _loads(found[CONDITIONS_ANNOTATION]) if CONDITIONS_ANNOTATION in found else None
        if isinstance(conditions, list):
            out_status["conditions"] = conditions
        obj["status"] = out_status
    obj["apiVersion"] = "autoscaling/v2"
    return obj


# -- kubectl's TARGETS column -----------------------------------------------------------------------
def _target_text(spec: Obj, status: Obj | None) -> str:
    kind = spec.get("type")
    member = _SOURCE_MEMBER.get(str(kind), "")
    src = spec.get(member) or {}
    target = src.get("target") or {}
    current = ((status or {}).get(member) or {}).get("current") if status else None
    unknown = "<unknown>"
    if kind in ("Resource", "ContainerResource"):
        if target.get("averageValue") is not None:
            now = (current or {}).get("averageValue", unknown) if current is not None else unknown
            return f"{src.get('name')}: {now}/{target['averageValue']}"
        now = unknown
        if current is not None and current.get("averageUtilization") is not None:
            now = f"{current['averageUtilization']}%"
        wanted = (
            f"{target['averageUtilization']}%" if target.get("averageUtilization") is not None else "<auto>"
        )
        return f"{src.get('name')}: {now}/{wanted}"
    if kind == "Pods":
        return f"{(current or {}).get('averageValue', unknown)}/{target.get('averageValue')}"
    if kind in ("Object", "External"):
        if target.get("averageValue") is not None:
            return f"{(current or {}).get('averageValue', unknown)}/{target['averageValue']} (avg)"
        return f"{(current or {}).get('value', unknown)}/{target.get('value')}"
    return "<unknown type>"


def targets_text(obj: Obj) -> str:
    """``cpu: 12%/50%``, ``memory: 10Mi/64Mi, cpu: <unknown>/80% + 1 more...`` (upstream's
    ``formatHPAMetrics``; a metric's status is the one at the same index)."""
    specs = (obj.get("spec") or {}).get("metrics") or []
    if not specs:
        return "<none>"
    statuses = (obj.get("status") or {}).get("currentMetrics") or []
    texts = [_target_text(s, statuses[i] if i < len(statuses) else None) for i, s in enumerate(specs)]
    if len(texts) > 2:
        return f"{', '.join(texts[:2])} + {len(texts) - 2} more..."
    return ", ".join(texts)
