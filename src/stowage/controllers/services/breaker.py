"""The deployment circuit breaker: count a PRIMARY deployment's failed tasks and, at ECS's
threshold, fail it (and roll back to the last COMPLETED deployment when asked to). Pure
functions on the service document the sync is editing."""

from __future__ import annotations

from stowage.model import deployments as dm
from stowage.model import services as model
from stowage.model import tasks as task_model
from stowage.resources.records import Doc, Record

FAILED_REASON = "ECS deployment circuit breaker: tasks failed to start."
SCHEDULER = "ServiceSchedulerInitiated"


def count_failures(doc: Doc, tasks: list[Record]) -> None:
    """``failedTasks`` of the PRIMARY deployment: its own tasks that stopped without the
    scheduler asking (the container exited, failed to start) or that failed their health
    checks. Kept as the highest count seen (stopped tasks are reaped later)."""
    prim = next(d for d in doc["deployments"] if d["status"] == model.PRIMARY)
    failed = 0
    for t in tasks:
        d = t.doc
        if d.get("startedBy") != prim["id"] or d.get("lastStatus") != task_model.STOPPED:
            continue
        if d.get("_serviceFailure") or (d.get("stopCode") not in (SCHEDULER, "UserInitiated")):
            failed += 1
    prim["failedTasks"] = max(int(prim.get("failedTasks", 0)), failed)


def trip(doc: Doc, events: list[str], now: float) -> None:
    enabled, rollback = model.circuit_breaker(doc)
    prim = next(d for d in doc["deployments"] if d["status"] == model.PRIMARY)
    if not enabled or prim.get("rolloutState") != model.IN_PROGRESS:
        return
    cb = (doc.get("deploymentConfiguration") or {}).get("deploymentCircuitBreaker") or {}
    threshold = dm.failure_threshold(int(doc.get("desiredCount", 0)), cb.get("thresholdConfiguration"))
    sd = service_deployment(doc, prim)
    if sd is not None:
        sd["deploymentCircuitBreaker"]["failureCount"] = prim["failedTasks"]
    if prim["failedTasks"] < threshold:
        return
    name = doc["serviceName"]
    prim["rolloutState"] = model.FAILED
    prim["rolloutStateReason"] = FAILED_REASON
    prim["updatedAt"] = now
    events.append(f"(service {name}) (deployment {prim['id']}) deployment failed: tasks failed to start.")
    target = doc.get("_lastCompleted")
    if sd is not None:
        sd["deploymentCircuitBreaker"]["status"] = "TRIGGERED"
        sd["updatedAt"] = now
    if not rollback or not target or target.get("taskDefinition") is None:
        if sd is not None:
            sd["status"] = "STOPPED"
            sd["statusReason"] = FAILED_REASON
            sd["stoppedAt"] = sd["finishedAt"] = now
        return
    # Roll back: a new PRIMARY deployment of the last completed configuration, adopting
    # that deployment's tasks if it is still draining; the failed one becomes ACTIVE.
    prim["status"] = model.ACTIVE
    old = next((d for d in doc["deployments"] if d["id"] == target["id"]), None)
    owns = list(old.get("_owns", [])) if old is not None else []
    doc["deployments"] = [d for d in doc["deployments"] if old is None or d["id"] != old["id"]]
    for member in ("taskDefinition", "networkConfiguration", "launchType"):
        if target.get(member) is not None:
            doc[member] = target[member]
    back = model.new_deployment(
        doc,
        now=now,
        rev_id=target["rev"],
        sd_id=prim["_sd"],
        owns=owns,
        reason=f"ECS deployment circuit breaker: rolling back to deploymentId {target['id']}.",
    )
    doc["deployments"].insert(0, back)
    events.append(f"(service {name}) rolling back to deployment {target['id']}.")
    if sd is not None:
        sd["status"] = "ROLLBACK_IN_PROGRESS"
        sd["rollback"] = {
            "reason": FAILED_REASON,
            "startedAt": now,
            "serviceRevisionArn": sd["targetServiceRevision"]["arn"].rsplit("/", 1)[0] + "/" + target["rev"],
        }


def service_deployment(doc: Doc, dep: Doc) -> Doc | None:
    for sd in doc.get("_serviceDeployments") or []:
        if sd["serviceDeploymentArn"].endswith("/" + str(dep.get("_sd"))):
            found: Doc = sd  # edited in place
            return found
    return None
