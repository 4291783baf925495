"""batch/v1 Job: its declaration (kubectl's table columns, the ``status`` subresource, the
``status.successful`` field selector) with the API server's defaults, generated selector,
validation and immutable fields (``model/k8s/jobs.py``). What runs a Job is
``controllers/k8s/jobs.py``."""

from __future__ import annotations

from typing import Any

from stowage.api.k8s.apps import selector_text
from stowage.api.k8s.columns import AGE, NAME, human_duration
from stowage.api.k8s.registry import Column, ResourceType, Subresource
from stowage.model.k8s import job_status as js
from stowage.model.k8s.jobs import prepare_job, validate_job, validate_job_update
from stowage.model.k8s.meta import parse_rfc3339

Obj = dict[str, Any]


def job_status_text(o: Obj) -> str:
    """kubectl's STATUS column for a Job (the API server's ``printJob``)."""
    if js.condition(o, js.COMPLETE):
        return "Complete"
    if js.condition(o, js.FAILED_COND):
        return "Failed"
    if (o.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating"
    for kind in (js.SUSPENDED, js.FAILURE_TARGET, js.SUCCESS_CRITERIA_MET):
        if js.condition(o, kind):
            return kind
    return "Running"


def _completions(o: Obj, _: float) -> str:
    spec = o.get("spec") or {}
    succeeded = int((o.get("status") or {}).get("succeeded") or 0)
    if spec.get("completions") is not None:
        return f"{succeeded}/{spec['completions']}"
    parallelism = spec.get("parallelism")
    if parallelism is not None and int(parallelism) > 1:
        return f"{succeeded}/1 of {parallelism}"
    return f"{succeeded}/1"


def _duration(o: Obj, now: float) -> str:
    status = o.get("status") or {}
    start = parse_rfc3339(str(status.get("startTime") or ""))
    if start is None:
        return ""
    end = parse_rfc3339(str(status.get("completionTime") or "")) or now
    return human_duration(end - start)


def _template_spec(o: Obj) -> Obj:
    return ((o.get("spec") or {}).get("template") or {}).get("spec") or {}


JOB = ResourceType(
    "batch", "v1", "jobs", "Job", True, "io.k8s.api.batch.v1.Job",
    categories=("all",),
    columns=(
        NAME,
        Column("Status", lambda o, _: job_status_text(o), description="The job's state from its conditions."),
        Column("Completions", _completions,
               description="Succeeded pods out of the completions the job needs."),
        Column("Duration", _duration, description="How long the job ran (until now if it has not finished)."),
        AGE,
        Column("Containers", lambda o, _: ",".join(str(c.get("name", "")) for c in _template_spec(o).get("containers") or []),  # noqa: E501
               priority=1, description="Names of each container in the template."),
        Column("Images", lambda o, _: ",".join(str(c.get("image", "")) for c in _template_spec(o).get("containers") or []),  # noqa: E501
               priority=1, description="Images referenced by each container in the template."),
        Column("Selector", lambda o, _: selector_text((o.get("spec") or {}).get("selector")), priority=1,
               description="Label selector for the job's pods."),
    ),
    fields={"status.successful": lambda o: str(int((o.get("status") or {}).get("succeeded") or 0))},
    subresources=(Subresource("status", "Job", group="batch"),),
    generation=True,
    prepare=prepare_job,
    validate=validate_job,
    validate_update=validate_job_update,
)  # fmt: skip

BATCH = (JOB,)
