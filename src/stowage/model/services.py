"""ECS services as records: the service document, its deployments, revisions and events.

A service record is the ECS ``Service`` shape plus private members (names starting with
``_``, never rendered, also inside ``deployments[]``):

- ``deployments[]._owns``: the ``startedBy`` ids whose tasks count for the deployment (its
  own id; a rollback deployment also adopts the tasks of the deployment it returns to);
- ``deployments[]._sd`` / ``._rev``: its service deployment and service revision ids;
- ``_serviceDeployments`` (oldest first, capped) and ``_serviceRevisions`` (id -> revision):
  what DescribeServiceDeployments / DescribeServiceRevisions answer;
- ``_lastCompleted``: the deployment a circuit breaker rolls back to;
- ``_retryAt`` / ``_retries``: placement back-off; ``_steadyAt``: last steady-state event;
- ``_deregistering``: task key -> time its load-balancer deregistration delay ends;
- ``_listener``: ``{"host", "port"}`` of stowage's service listener (load balancing).

Pure: no store, no clock (times are passed in).
"""

from __future__ import annotations

import copy
import random
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from stowage.model import deployments as dm

Doc = dict[str, Any]

ACTIVE = "ACTIVE"
DRAINING = "DRAINING"
INACTIVE = "INACTIVE"
PRIMARY = "PRIMARY"
REPLICA = "REPLICA"
DAEMON = "DAEMON"
IN_PROGRESS = "IN_PROGRESS"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
MAX_EVENTS = 100
MAX_HISTORY = 20
MAX_DESCRIBE = 10
GROUP_PREFIX = "service:"
NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
STEADY_EVENT_INTERVAL = 6 * 3600.0
"""ECS repeats "has reached a steady state." about every six hours while nothing happens."""

# The members that make UpdateService start a new deployment when they change.
DEPLOYMENT_MEMBERS = (
    "taskDefinition",
    "networkConfiguration",
    "placementConstraints",
    "placementStrategy",
    "loadBalancers",
    "capacityProviderStrategy",
    "launchType",
    "enableExecuteCommand",
    "propagateTags",
    "enableECSManagedTags",
)


def group_of(name: str) -> str:
    return GROUP_PREFIX + name


def new_deployment_id() -> str:
    return "ecs-svc/" + "".join(random.choice("0123456789") for _ in range(19))


def new_short_id() -> str:
    return uuid.uuid4().hex[:20]


def deployment_arn(region: str, account: str, cluster: str, service: str, sd_id: str) -> str:
    return f"arn:aws:ecs:{region}:{account}:service-deployment/{cluster}/{service}/{sd_id}"


def revision_arn(region: str, account: str, cluster: str, service: str, rev_id: str) -> str:
    return f"arn:aws:ecs:{region}:{account}:service-revision/{cluster}/{service}/{rev_id}"


def parse_child_arn(arn: str, kind: str) -> tuple[str, str, str, str, str] | None:
    """``(region, account, cluster, service, id)`` of a service-deployment/-revision ARN."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "ecs":
        return None
    path = parts[5].split("/")
    if len(path) != 4 or path[0] != kind or not all(path[1:]):
        return None
    return parts[3], parts[4], path[1], path[2], path[3]


def limits(doc: Mapping[str, Any]) -> tuple[int, int]:
    """(minimumHealthyPercent, maximumPercent) with ECS's defaults for the strategy."""
    config = doc.get("deploymentConfiguration") or {}
    daemon = doc.get("schedulingStrategy") == DAEMON
    low = config.get("minimumHealthyPercent")
    high = config.get("maximumPercent")
    if low is None:
        low = dm.DAEMON_MIN_HEALTHY if daemon else dm.REPLICA_MIN_HEALTHY
    if high is None:
        high = dm.DAEMON_MAX_PERCENT if daemon else dm.REPLICA_MAX_PERCENT
    return int(low), int(high)


def circuit_breaker(doc: Mapping[str, Any]) -> tuple[bool, bool]:
    """(enabled, rollback)."""
    cb = (doc.get("deploymentConfiguration") or {}).get("deploymentCircuitBreaker") or {}
    return bool(cb.get("enable")), bool(cb.get("rollback"))


# -- events ----------------------------------------------------------------------------------
def add_event(doc: Doc, message: str, now: float) -> None:
    """Newest first, the 100 newest kept (as ECS shows them)."""
    events = doc.setdefault("events", [])
    events.insert(0, {"id": str(uuid.uuid4()), "createdAt": now, "message": message})
    del events[MAX_EVENTS:]


def capacity_wait_message(name: str, waiting: int) -> str:
    return (
        f"(service {name}) has {waiting} tasks waiting for Fargate capacity: they stay "
        "PROVISIONING and start as capacity frees."
    )


def steady_message(name: str) -> str:
    return f"(service {name}) has reached a steady state."


LISTED_TASKS = 10
"""Task ids named in one event; the rest are counted (a 5,000-task step must not put 5,000
ids into the service record, which is rewritten on every sync)."""


def _listed(task_ids: list[str]) -> str:
    listed = ", ".join(f"(task {t})" for t in task_ids[:LISTED_TASKS])
    more = len(task_ids) - LISTED_TASKS
    return listed + (f" and {more} more" if more > 0 else "")


def started_message(name: str, task_ids: list[str]) -> str:
    return f"(service {name}) has started {len(task_ids)} tasks: {_listed(task_ids)}."


def stopped_message(name: str, task_ids: list[str]) -> str:
    return f"(service {name}) has stopped {len(task_ids)} running tasks: {_listed(task_ids)}."


_REASONS = {
    "RESOURCE:CPU": "has insufficient CPU units available",
    "RESOURCE:MEMORY": "has insufficient memory available",
    "RESOURCE:PORTS": "is already using a port required by your task",
    "RESOURCE:PORTS_UDP": "is already using a port required by your task",
    "AGENT": 'encountered error "AGENT"',
    "ATTRIBUTE": "is missing an attribute required by your task",
}


def unplaceable_message(name: str, failures: Iterable[tuple[str, str]]) -> str:
    failures = list(failures)
    head = (
        f"(service {name}) was unable to place a task because no container instance met all of its "
        "requirements."
    )
    if not failures:
        return f"{head} Reason: No Container Instances were found in your cluster."
    arn, reason = failures[0]
    instance = arn.rsplit("/", 1)[-1]
    why = _REASONS.get(reason, f"did not satisfy: {reason}")
    return (
        f"{head} The closest matching (container-instance {instance}) {why}. For more information, "
        "see the Troubleshooting section of the Amazon ECS Developer Guide."
    )


# -- deployments -----------------------------------------------------------------------------
def new_deployment(
    doc: Doc, *, now: float, rev_id: str, sd_id: str, owns: list[str] | None = None, reason: str | None = None
) -> Doc:
    """A PRIMARY deployment of the service's current configuration."""
    dep_id = new_deployment_id()
    dep: Doc = {
        "id": dep_id,
        "status": PRIMARY,
        "taskDefinition": doc["taskDefinition"],
        "desiredCount": doc.get("desiredCount", 0),
        "pendingCount": 0,
        "runningCount": 0,
        "failedTasks": 0,
        "createdAt": now,
        "updatedAt": now,
        "launchType": doc.get("launchType", "EC2"),
        "rolloutState": IN_PROGRESS,
        "rolloutStateReason": reason or "ECS deployment ecs-svc started.".replace("ecs-svc", dep_id),
        "_owns": [dep_id, *(owns or [])],
        "_rev": rev_id,
        "_sd": sd_id,
    }
    if doc.get("networkConfiguration"):
        dep["networkConfiguration"] = copy.deepcopy(doc["networkConfiguration"])
    if doc.get("capacityProviderStrategy"):
        dep["capacityProviderStrategy"] = copy.deepcopy(doc["capacityProviderStrategy"])
    return dep


def revision_doc(doc: Doc, td: Mapping[str, Any], arn: str, now: float) -> Doc:
    rev: Doc = {
        "serviceRevisionArn": arn,
        "serviceArn": doc["serviceArn"],
        "clusterArn": doc["clusterArn"],
        "taskDefinition": doc["taskDefinition"],
        "launchType": doc.get("launchType", "EC2"),
        "loadBalancers": copy.deepcopy(doc.get("loadBalancers") or []),
        "serviceRegistries": copy.deepcopy(doc.get("serviceRegistries") or []),
        "containerImages": [
            {"containerName": c["name"], "image": c.get("image", "")}
            for c in td.get("containerDefinitions", [])
        ],
        "guardDutyEnabled": False,
        "createdAt": now,
    }
    for member in ("networkConfiguration", "capacityProviderStrategy"):
        if doc.get(member):
            rev[member] = copy.deepcopy(doc[member])
    return rev


def service_deployment_doc(doc: Doc, arn: str, target_rev_arn: str, sources: list[Doc], now: float) -> Doc:
    enabled, _rollback = circuit_breaker(doc)
    return {
        "serviceDeploymentArn": arn,
        "serviceArn": doc["serviceArn"],
        "clusterArn": doc["clusterArn"],
        "createdAt": now,
        "startedAt": now,
        "updatedAt": now,
        "sourceServiceRevisions": sources,
        "targetServiceRevision": {
            "arn": target_rev_arn,
            "requestedTaskCount": doc.get("desiredCount", 0),
            "runningTaskCount": 0,
            "pendingTaskCount": 0,
        },
        "status": IN_PROGRESS,
        "lifecycleStage": "RECONCILE_SERVICE",
        "deploymentConfiguration": copy.deepcopy(doc.get("deploymentConfiguration") or {}),
        "deploymentCircuitBreaker": {
            "status": "MONITORING" if enabled else "DISABLED",
            "failureCount": 0,
            "threshold": dm.failure_threshold(
                int(doc.get("desiredCount", 0)),
                ((doc.get("deploymentConfiguration") or {}).get("deploymentCircuitBreaker") or {}).get(
                    "thresholdConfiguration"
                ),
            ),
        },
        "alarms": {"status": "DISABLED", "alarmNames": [], "triggeredAlarmNames": []},
    }


def set_desired_count(doc: Doc, count: int) -> None:
    """What UpdateService's ``desiredCount`` (and Application Auto Scaling) does to a service
    record: the service's and its PRIMARY deployment's desired count change; the controller
    starts or stops tasks and records "has started/stopped N tasks" itself."""
    doc["desiredCount"] = count
    for d in doc.get("deployments", []):
        if d["status"] == PRIMARY:
            d["desiredCount"] = count


def primary(doc: Mapping[str, Any]) -> Doc | None:
    for dep in doc.get("deployments") or []:
        if dep.get("status") == PRIMARY:
            return dict(dep)
    return None


def find_sd(doc: Mapping[str, Any], sd_id: str) -> Doc | None:
    for sd in doc.get("_serviceDeployments") or []:
        if sd["serviceDeploymentArn"].rsplit("/", 1)[-1] == sd_id:
            return dict(sd)
    return None


# -- the API view ----------------------------------------------------------------------------
def _public(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _public(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [_public(v) for v in value]
    return value


def render(doc: Mapping[str, Any], *, tags: bool = True) -> Doc:
    view: Doc = _public(dict(doc))
    if not tags:
        view.pop("tags", None)
    return view


def public(value: Mapping[str, Any]) -> Doc:
    out: Doc = _public(dict(value))
    return out
