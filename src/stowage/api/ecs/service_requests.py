"""CreateService/UpdateService checks: what ECS rejects before a service is written, with ECS's
error types, and the pieces a service record is built from."""

from __future__ import annotations

from typing import Any

from stowage.api.ecs import errors
from stowage.api.ecs.fargate_tasks import (
    FARGATE,
    NO_CONSTRAINTS,
    NO_STRATEGIES,
    NOT_COMPATIBLE,
    Launch,
    check_platform,
    launch_of,
)
from stowage.api.ecs.task_requests import _constraints, _network, _strategy
from stowage.model import services as model
from stowage.model.tags import check_tags
from stowage.model.validation import Invalid
from stowage.resources.records import Doc

MAX_GRACE = 2147483647


def launch(params: dict[str, Any], cluster: Doc, td: Doc, current: Launch | None = None) -> Launch:
    """The service's launch (launch type or Fargate capacity provider strategy) with ECS's
    checks of the task definition and placement against it."""
    chosen = launch_of(params, cluster, current)
    check_platform(params, chosen)
    compat = td.get("requiresCompatibilities")
    if compat and chosen.launch_type not in compat:
        raise errors.invalid_parameter(f"Task definition does not support launch_type {chosen.launch_type}.")
    if chosen.launch_type == FARGATE:
        if FARGATE not in (td.get("compatibilities") or []):
            raise errors.invalid_parameter(NOT_COMPATIBLE)
        if params.get("placementStrategy"):
            raise errors.invalid_parameter(NO_STRATEGIES)
        if params.get("placementConstraints"):
            raise errors.invalid_parameter(NO_CONSTRAINTS)
    return chosen


def launch_members(doc: Doc, chosen: Launch, params: dict[str, Any]) -> None:
    """Write a launch into a service document (launchType, strategy, platform)."""
    doc["launchType"] = chosen.launch_type
    if chosen.from_strategy:
        doc["capacityProviderStrategy"] = [dict(i) for i in chosen.strategy]
    else:
        doc.pop("capacityProviderStrategy", None)
    if chosen.launch_type == FARGATE:
        doc["platformVersion"] = params.get("platformVersion") or doc.get("platformVersion") or "LATEST"
        doc["platformFamily"] = "Linux"
    else:
        doc.pop("platformVersion", None)
        doc.pop("platformFamily", None)


def current_launch(doc: Doc) -> Launch:
    strategy = list(doc.get("capacityProviderStrategy") or [])
    return Launch(str(doc.get("launchType") or "EC2"), strategy, from_strategy=bool(strategy))


def deployment_configuration(given: Doc | None, strategy: str, current: Doc | None = None) -> Doc:
    config: Doc = dict(current or {})
    for k, v in (given or {}).items():
        config[k] = v
    low = config.get("minimumHealthyPercent")
    high = config.get("maximumPercent")
    if low is not None and not 0 <= low <= 100:
        raise errors.invalid_parameter("minimumHealthyPercent must be between 0 and 100.")
    if high is not None and high < 0:
        raise errors.invalid_parameter("maximumPercent must be a non-negative integer.")
    if strategy == model.DAEMON and high is not None and high > 100:
        raise errors.invalid_parameter(
            "The daemon scheduling strategy does not support a maximumPercent greater than 100."
        )
    eff_low = low if low is not None else (0 if strategy == model.DAEMON else 100)
    eff_high = high if high is not None else (100 if strategy == model.DAEMON else 200)
    if eff_high < eff_low:
        raise errors.invalid_parameter(
            "maximumPercent must be greater than or equal to minimumHealthyPercent."
        )
    config.setdefault("maximumPercent", eff_high)
    config.setdefault("minimumHealthyPercent", eff_low)
    cb = config.get("deploymentCircuitBreaker")
    if cb is not None:
        config["deploymentCircuitBreaker"] = {
            "enable": bool(cb.get("enable")),
            "rollback": bool(cb.get("rollback")),
            **{k: v for k, v in cb.items() if k not in ("enable", "rollback")},
        }
    else:
        config["deploymentCircuitBreaker"] = {"enable": False, "rollback": False}
    strat = config.get("strategy")
    if strat not in (None, "ROLLING"):
        raise errors.invalid_parameter(
            f"Deployment strategy {strat} is not available: stowage deploys with ROLLING updates."
        )
    return config


def deployment_controller(params: dict[str, Any]) -> Doc:
    controller = params.get("deploymentController") or {"type": "ECS"}
    if controller.get("type") != "ECS":
        raise errors.invalid_parameter(
            f"Deployment controller type {controller.get('type')} is not available: stowage serves the "
            "ECS (rolling update) deployment controller."
        )
    return dict(controller)


def load_balancers(given: list[Doc], td: Doc) -> list[Doc]:
    out: list[Doc] = []
    containers = {c["name"]: c for c in td.get("containerDefinitions", [])}
    for lb in given:
        name = lb.get("containerName")
        port = lb.get("containerPort")
        if not name or port is None:
            raise errors.invalid_parameter(
                "containerName and containerPort must be specified for a load balancer."
            )
        container = containers.get(name)
        if container is None:
            raise errors.invalid_parameter(f"The container {name} does not exist in the task definition.")
        ports = {pm.get("containerPort") for pm in container.get("portMappings") or []}
        if port not in ports:
            raise errors.invalid_parameter(
                f"The container {name} did not have a container port {port} defined."
            )
        out.append(dict(lb))
    return out


def placement(td: Doc, params: dict[str, Any], strategy: str) -> tuple[list[Doc], list[Doc]]:
    if strategy == model.DAEMON and params.get("placementStrategy"):
        raise errors.invalid_parameter(
            "Placement strategies are not supported with the DAEMON scheduling strategy."
        )
    constraints = _constraints({}, params)
    del td
    return constraints, _strategy(params)


def network(td: Doc, params: dict[str, Any]) -> Doc | None:
    return _network(td, params)


def tags(params: dict[str, Any]) -> list[Doc]:
    try:
        return [dict(t) for t in check_tags(params.get("tags") or [])]
    except Invalid as exc:
        raise errors.invalid_parameter(str(exc)) from None


def propagate(value: Any) -> str:
    if value is None:
        return "NONE"
    if value not in ("TASK_DEFINITION", "SERVICE", "NONE"):
        raise errors.invalid_parameter(f"Invalid propagateTags value '{value}'.")
    return str(value)


def grace(value: Any) -> int | None:
    if value is None:
        return None
    if not 0 <= value <= MAX_GRACE:
        raise errors.invalid_parameter(f"healthCheckGracePeriodSeconds must be between 0 and {MAX_GRACE}.")
    return int(value)
