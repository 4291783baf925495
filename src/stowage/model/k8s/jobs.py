"""batch/v1 Job as the API server treats it: the generated selector, validation on create and
the immutable fields on update. What runs a Job is ``controllers/k8s/jobs.py``; its arithmetic
(indexes, back-off, conditions) is ``model/k8s/job_status.py``.

The defaults (``parallelism`` 1; ``completions`` 1 only when ``parallelism`` is unset too, a
Job with ``parallelism`` and no ``completions`` being a work queue: done when any pod succeeds
and none is left running; ``backoffLimit`` 6; the pod template's PodSpec defaults, whose
``restartPolicy`` Always a Job then refuses, as Kubernetes does) are ``model/k8s/defaults``'s,
filled in before ``prepare_job`` runs (on every write, so it is idempotent). Unless
``manualSelector`` is true, the template
is labelled with the Job's uid and name (``batch.kubernetes.io/controller-uid``,
``batch.kubernetes.io/job-name`` and their legacy unprefixed forms) and the selector is
``batch.kubernetes.io/controller-uid=<uid>``, so a Job only ever counts its own pods. A Job
without labels takes its template's.
"""

from __future__ import annotations

import json
from typing import Any

from stowage.model.k8s.errors import Cause, K8sError
from stowage.model.k8s.meta import check_meta
from stowage.model.k8s.pods import validate_pod
from stowage.model.k8s.selectors import selector_from_object

Obj = dict[str, Any]

CONTROLLER_UID = "batch.kubernetes.io/controller-uid"
JOB_NAME = "batch.kubernetes.io/job-name"
LEGACY_CONTROLLER_UID = "controller-uid"
LEGACY_JOB_NAME = "job-name"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
"""Annotation and label of an Indexed Job's pods; ``JOB_COMPLETION_INDEX`` reads it."""
INDEX_ENV = "JOB_COMPLETION_INDEX"
TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
"""On every pod a Job makes until the controller has counted the pod's end."""
JOB_CONTROLLER = "kubernetes.io/job-controller"
"""``spec.managedBy`` value (or absence) for Jobs this controller runs."""

DEFAULT_BACKOFF_LIMIT = 6
MAX_INDEXED = 100_000
NON_INDEXED, INDEXED = "NonIndexed", "Indexed"
_MODES = (NON_INDEXED, INDEXED)
_REPLACEMENT = ("TerminatingOrFailed", "Failed")
# fields a later stowage may run; refused until then rather than silently ignored
_NOT_YET = ("podFailurePolicy", "successPolicy", "backoffLimitPerIndex", "maxFailedIndexes")
# what a suspended Job that never started may still change in its template (Kubernetes'
# "mutable scheduling directives")
_SCHEDULING = ("nodeSelector", "tolerations", "affinity", "schedulingGates")


def _template(job: Obj) -> Obj:
    spec = job.get("spec")
    if not isinstance(spec, dict):
        return {}
    template = spec.get("template")
    return template if isinstance(template, dict) else {}


def _generate_selector(job: Obj) -> None:
    meta = job.get("metadata") or {}
    uid, name = str(meta.get("uid") or ""), str(meta.get("name") or "")
    template = job["spec"].setdefault("template", {})
    if not isinstance(template, dict):
        return
    tmeta = template.setdefault("metadata", {})
    if not isinstance(tmeta, dict):
        return
    labels = tmeta.setdefault("labels", {})
    if not isinstance(labels, dict):
        return
    # labels the user set already are kept: a conflict is reported by validation
    for key in (LEGACY_CONTROLLER_UID, CONTROLLER_UID):
        labels.setdefault(key, uid)
    for key in (LEGACY_JOB_NAME, JOB_NAME):
        labels.setdefault(key, name)
    selector = job["spec"].get("selector")
    if selector is None:
        selector = job["spec"]["selector"] = {}
    if isinstance(selector, dict):
        match = selector.setdefault("matchLabels", {})
        if isinstance(match, dict):
            match.setdefault(CONTROLLER_UID, uid)


def prepare_job(job: Obj) -> None:
    """The API server's generated selector and labels, on a defaulted Job (see the module
    docstring)."""
    spec = job.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec.setdefault("template", {})
    if not spec.get("manualSelector"):
        _generate_selector(job)
    meta = job.setdefault("metadata", {})
    template_labels = (_template(job).get("metadata") or {}).get("labels")
    if isinstance(meta, dict) and not meta.get("labels") and isinstance(template_labels, dict):
        meta["labels"] = dict(template_labels)


# -- validation ------------------------------------------------------------------------------------
def _invalid(field: str, value: Any, why: str) -> Cause:
    return Cause("FieldValueInvalid", f"Invalid value: {json.dumps(value, sort_keys=True)}: {why}", field)


def _unsupported(field: str, value: Any, allowed: tuple[str, ...]) -> Cause:
    listed = ", ".join(f'"{a}"' for a in allowed)
    message = f"Unsupported value: {json.dumps(value)}: supported values: {listed}"
    return Cause("FieldValueNotSupported", message, field)


def _int_field(spec: Obj, name: str, causes: list[Cause], *, minimum: int = 0) -> int | None:
    """The non-negative integer ``spec.<name>`` (None when unset or reported invalid)."""
    value = spec.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        causes.append(_invalid(f"spec.{name}", value, "must be an integer"))
        return None
    if value < minimum:
        causes.append(_invalid(f"spec.{name}", value, f"must be greater than or equal to {minimum}"))
        return None
    return value


def _has_label(labels: Obj, key: str, expected: str) -> list[Cause]:
    field = f"spec.template.metadata.labels[{key}]"
    if key not in labels:
        return [Cause("FieldValueRequired", f"Required value: {expected}", field)]
    if labels[key] != expected:
        return [_invalid(field, labels[key], f"must be '{expected}'")]
    return []


def _validate_selector(job: Obj, spec: Obj, labels: Obj) -> list[Cause]:
    causes: list[Cause] = []
    meta = job.get("metadata") or {}
    selector = spec.get("selector")
    if not spec.get("manualSelector"):
        uid, name = str(meta.get("uid") or ""), str(meta.get("name") or "")
        causes += _has_label(labels, LEGACY_CONTROLLER_UID, uid)
        causes += _has_label(labels, LEGACY_JOB_NAME, name)
        causes += _has_label(labels, CONTROLLER_UID, uid)
        causes += _has_label(labels, JOB_NAME, name)
        match = (selector or {}).get("matchLabels") if isinstance(selector, dict) else None
        if not isinstance(match, dict) or match.get(CONTROLLER_UID) != uid:
            causes.append(Cause("FieldValueInvalid", "Invalid value: `selector` not auto-generated",
                                "spec.selector"))  # fmt: skip
    if not isinstance(selector, dict) or not (
        selector.get("matchLabels") or selector.get("matchExpressions")
    ):
        causes.append(Cause("FieldValueRequired", "Required value", "spec.selector"))
        return causes
    try:
        matches = selector_from_object(selector).matches(labels)
    except K8sError as exc:  # a malformed operator: the selector itself is invalid
        causes.append(Cause("FieldValueInvalid", f"Invalid value: {exc}", "spec.selector"))
        return causes
    if not matches:
        causes.append(Cause("FieldValueInvalid", "Invalid value: `selector` does not match template `labels`",
                            "spec.template.metadata.labels"))  # fmt: skip
    return causes


def _validate_template(template: Obj) -> list[Cause]:
    causes = [
        Cause(c.reason, c.message, f"spec.template.{c.field}" if c.field else "spec.template")
        for c in check_meta(template.get("metadata") or {})
    ]
    pod_causes = validate_pod({"spec": template.get("spec") or {}})
    causes += [
        Cause(c.reason, c.message, f"spec.template.{c.field}")
        for c in pod_causes
        if c.field != "spec.restartPolicy"
    ]
    policy = (template.get("spec") or {}).get("restartPolicy")
    if policy not in ("OnFailure", "Never"):
        causes.append(_unsupported("spec.template.spec.restartPolicy", policy, ("OnFailure", "Never")))
    return causes


def validate_job(job: Obj) -> list[Cause]:
    """What ``ValidateJob`` reports, for the fields this release runs."""
    spec = job.get("spec")
    if not isinstance(spec, dict):
        return [Cause("FieldValueRequired", "Required value", "spec")]
    causes: list[Cause] = []
    parallelism = _int_field(spec, "parallelism", causes)
    completions = _int_field(spec, "completions", causes)
    _int_field(spec, "activeDeadlineSeconds", causes)
    _int_field(spec, "backoffLimit", causes)
    _int_field(spec, "ttlSecondsAfterFinished", causes)
    mode = spec.get("completionMode")
    if mode not in _MODES:
        causes.append(_unsupported("spec.completionMode", mode, _MODES))
    if mode == INDEXED:
        if spec.get("completions") is None:
            causes.append(Cause("FieldValueRequired", "Required value: when completion mode is Indexed",
                                "spec.completions"))  # fmt: skip
        limit = f"must be less than or equal to {MAX_INDEXED} when completion mode is Indexed"
        if completions is not None and completions > MAX_INDEXED:
            causes.append(_invalid("spec.completions", completions, limit))
        if parallelism is not None and parallelism > MAX_INDEXED:
            causes.append(_invalid("spec.parallelism", parallelism, limit))
    replacement = spec.get("podReplacementPolicy")
    if replacement not in _REPLACEMENT:
        causes.append(_unsupported("spec.podReplacementPolicy", replacement, _REPLACEMENT))
    for name in _NOT_YET:
        if spec.get(name) is not None:
            causes.append(Cause("FieldValueNotSupported",
                                "not supported by this stowage release", f"spec.{name}"))  # fmt: skip
    template = _template(job)
    if not template:
        return [*causes, Cause("FieldValueRequired", "Required value", "spec.template")]
    labels = (template.get("metadata") or {}).get("labels") or {}
    causes += _validate_selector(job, spec, labels if isinstance(labels, dict) else {})
    causes += _validate_template(template)
    return causes


def _scheduling_free(template: Obj) -> Obj:
    out: Obj = json.loads(json.dumps(template))
    out.pop("metadata", None)
    for name in _SCHEDULING:
        (out.get("spec") or {}).pop(name, None)
    return out


def validate_job_update(old: Obj, new: Obj) -> list[Cause]:
    """The fields a Job cannot change once created (Kubernetes' ``ValidateJobUpdate``): the
    pod template (except the scheduling directives and template metadata of a suspended Job
    that never started), the selector, ``completions`` (except with ``parallelism`` together on
    an Indexed Job), ``completionMode``, ``manualSelector``."""
    causes: list[Cause] = []
    o, n = old.get("spec") or {}, new.get("spec") or {}
    if not isinstance(o, dict) or not isinstance(n, dict):
        return causes
    never_started = bool(n.get("suspend")) and not (old.get("status") or {}).get("startTime")
    old_t, new_t = o.get("template") or {}, n.get("template") or {}
    changed = _scheduling_free(old_t) != _scheduling_free(new_t) if never_started else old_t != new_t
    if changed:
        causes.append(_invalid("spec.template", new_t, "field is immutable"))
    for name in ("selector", "completionMode", "manualSelector", "podReplacementPolicy"):
        if o.get(name) != n.get(name):
            causes.append(_invalid(f"spec.{name}", n.get(name), "field is immutable"))
    if o.get("completions") != n.get("completions"):
        elastic = (
            n.get("completionMode") == INDEXED
            and n.get("completions") == n.get("parallelism")
            and o.get("completions") == o.get("parallelism")
        )
        if not elastic:
            causes.append(_invalid("spec.completions", n.get("completions"), "field is immutable"))
    return causes


def managed_here(job: Obj) -> bool:
    """Whether this controller runs the Job (``spec.managedBy`` absent or the default)."""
    managed_by = (job.get("spec") or {}).get("managedBy")
    return managed_by in (None, "", JOB_CONTROLLER)
