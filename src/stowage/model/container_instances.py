"""Container instances as records: registration checks, resource arithmetic and the API view.

A container instance record is the ECS ``ContainerInstance`` shape plus private members (names
starting with ``_``, never rendered):

- ``_activeTasks``: how many tasks hold a reservation on the instance (placed and not yet
  released at STOPPED). It is written in the same transaction as each reservation and release,
  so DeregisterContainerInstance can refuse exactly, inside its compare-and-swap.
- ``_inactiveAt``: when a deregistered (INACTIVE) instance stops being describable.

``remainingResources`` is registered minus what tasks reserved: CPU and MEMORY as integers,
PORTS and PORTS_UDP as the set of host ports in use (the registered ones included, as ECS
shows them). ``runningTasksCount`` and ``pendingTasksCount`` are not stored: the API fills them
in from the in-memory task index. Pure: no store, no clock.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from stowage.model.validation import Invalid

Doc = dict[str, Any]

ACTIVE = "ACTIVE"
DRAINING = "DRAINING"
INACTIVE = "INACTIVE"
LIST_STATUSES = ("ACTIVE", "DRAINING", "REGISTERING", "DEREGISTERING", "REGISTRATION_FAILED")
SETTABLE_STATUSES = (ACTIVE, DRAINING)
INCLUDE_FIELDS = frozenset({"TAGS", "CONTAINER_INSTANCE_HEALTH"})
MAX_DESCRIBE = 100
MAX_UPDATE = 10
LIST_PAGE = 100

CPU = "CPU"
MEMORY = "MEMORY"
PORTS = "PORTS"
PORTS_UDP = "PORTS_UDP"
_INTEGER_RESOURCES = (CPU, MEMORY)
_PORT_RESOURCES = (PORTS, PORTS_UDP)


def new_instance_id() -> str:
    """ECS's current container instance id format: 32 hex digits."""
    return uuid.uuid4().hex


def new_ec2_instance_id() -> str:
    """An EC2-like instance id (``i-`` + 17 hex digits) for hosts without an identity document."""
    return "i-" + secrets.token_hex(9)[:17]


# -- resources -------------------------------------------------------------------------------
def int_resource(name: str, value: int) -> Doc:
    return {"name": name, "type": "INTEGER", "doubleValue": 0.0, "longValue": 0, "integerValue": value}


def set_resource(name: str, values: Iterable[str]) -> Doc:
    return {
        "name": name,
        "type": "STRINGSET",
        "doubleValue": 0.0,
        "longValue": 0,
        "integerValue": 0,
        "stringSetValue": sorted(set(values), key=_port_order),
    }


def _port_order(text: str) -> tuple[int, str]:
    return (int(text), text) if text.isdigit() else (1 << 31, text)


def resource_int(resources: Sequence[Mapping[str, Any]], name: str) -> int:
    for r in resources:
        if r.get("name") == name:
            return int(r.get("integerValue") or r.get("longValue") or r.get("doubleValue") or 0)
    return 0


def resource_set(resources: Sequence[Mapping[str, Any]], name: str) -> set[str]:
    for r in resources:
        if r.get("name") == name:
            return set(r.get("stringSetValue") or [])
    return set()


def check_total_resources(resources: Sequence[Mapping[str, Any]]) -> list[Doc]:
    """What RegisterContainerInstance's ``totalResources`` declares, normalised: CPU and MEMORY
    (required integers), PORTS and PORTS_UDP (host ports the host itself uses), other resources
    kept as given."""
    names = {r.get("name") for r in resources}
    for required in _INTEGER_RESOURCES:
        if required not in names:
            raise Invalid(f"totalResources must include the {required} resource.")
    out: list[Doc] = []
    for r in resources:
        name = r.get("name")
        if name in _INTEGER_RESOURCES:
            value = resource_int([r], str(name))
            if value < 0:
                raise Invalid(f"Resource {name} cannot be negative.")
            out.append(int_resource(str(name), value))
        elif name in _PORT_RESOURCES:
            ports = [str(p) for p in r.get("stringSetValue") or []]
            if any(not p.isdigit() or not 0 < int(p) < 65536 for p in ports):
                raise Invalid(f"Resource {name} must list port numbers between 1 and 65535.")
            out.append(set_resource(str(name), ports))
        else:
            out.append(dict(r))
    present = {r["name"] for r in out}
    out.extend(set_resource(p, []) for p in _PORT_RESOURCES if p not in present)
    return out


def reserve(remaining: list[Doc], cpu: int, memory: int, tcp: Iterable[int], udp: Iterable[int]) -> list[Doc]:
    """``remaining`` after a task takes its share (the caller checked it fits)."""
    return _adjust(remaining, -cpu, -memory, tcp, udp, add_ports=True)


def release(remaining: list[Doc], cpu: int, memory: int, tcp: Iterable[int], udp: Iterable[int]) -> list[Doc]:
    """``remaining`` after a task gives its share back."""
    return _adjust(remaining, cpu, memory, tcp, udp, add_ports=False)


def _adjust(
    remaining: list[Doc], cpu: int, memory: int, tcp: Iterable[int], udp: Iterable[int], *, add_ports: bool
) -> list[Doc]:
    deltas = {CPU: cpu, MEMORY: memory}
    ports = {PORTS: {str(p) for p in tcp}, PORTS_UDP: {str(p) for p in udp}}
    out: list[Doc] = []
    for r in remaining:
        name = r["name"]
        if name in deltas:
            out.append(int_resource(name, resource_int([r], name) + deltas[name]))
        elif name in ports:
            current = set(r.get("stringSetValue") or [])
            out.append(set_resource(name, current | ports[name] if add_ports else current - ports[name]))
        else:
            out.append(r)
    return out


# -- registration ----------------------------------------------------------------------------
def parse_identity_document(text: str | None) -> Doc:
    """The EC2 instance identity document's fields we use; {} when absent. A document that is
    not a JSON object is an error, as ECS rejects it."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        raise Invalid("instanceIdentityDocument is not a valid instance identity document.") from None
    if not isinstance(value, dict):
        raise Invalid("instanceIdentityDocument is not a valid instance identity document.")
    return value


def standard_attributes(identity: Mapping[str, Any], given: Sequence[Mapping[str, Any]]) -> list[Doc]:
    """The agent's attributes plus the ones ECS derives from the identity document, which fill
    in only what the agent did not send."""
    attrs: dict[str, Doc] = {}
    derived = {
        "ecs.os-type": "linux",
        "ecs.availability-zone": identity.get("availabilityZone"),
        "ecs.instance-type": identity.get("instanceType"),
        "ecs.ami-id": identity.get("imageId"),
        "ecs.cpu-architecture": _arch(identity.get("architecture")),
    }
    for name, value in derived.items():
        if value:
            attrs[name] = {"name": name, "value": str(value)}
    for a in given:
        name = str(a.get("name", ""))
        if not name:
            raise Invalid("Attribute names must not be empty.")
        doc: Doc = {"name": name}
        if a.get("value") is not None:
            doc["value"] = a["value"]
        attrs[name] = doc
    return [attrs[n] for n in sorted(attrs)]


def _arch(value: Any) -> str | None:
    return {"x86_64": "x86_64", "arm64": "arm64", "aarch64": "arm64"}.get(str(value)) if value else None


def new_instance(
    arn: str,
    *,
    ec2_instance_id: str,
    resources: list[Doc],
    version_info: Doc,
    attributes: list[Doc],
    tags: list[Doc],
    now: float,
) -> Doc:
    return {
        "containerInstanceArn": arn,
        "ec2InstanceId": ec2_instance_id,
        "version": 1,
        "versionInfo": version_info,
        "remainingResources": [dict(r) for r in resources],
        "registeredResources": resources,
        "status": ACTIVE,
        "agentConnected": True,
        "agentUpdateStatus": None,
        "attributes": attributes,
        "registeredAt": now,
        "attachments": [],
        "tags": tags,
        "_activeTasks": 0,
        "_healthChangedAt": now,
    }


def reregister(
    doc: Doc, *, resources: list[Doc], version_info: Doc, attributes: list[Doc], tags: list[Doc] | None
) -> Doc:
    """The same instance registering again (its agent restarted): new totals, remaining
    recomputed from what tasks still hold, identity and registration time kept."""
    used_cpu = resource_int(doc["registeredResources"], CPU) - resource_int(doc["remainingResources"], CPU)
    used_mem = resource_int(doc["registeredResources"], MEMORY) - resource_int(
        doc["remainingResources"], MEMORY
    )
    used_tcp = resource_set(doc["remainingResources"], PORTS) - resource_set(
        doc["registeredResources"], PORTS
    )
    used_udp = resource_set(doc["remainingResources"], PORTS_UDP) - resource_set(
        doc["registeredResources"], PORTS_UDP
    )
    remaining = reserve(
        [dict(r) for r in resources], used_cpu, used_mem, map(int, used_tcp), map(int, used_udp)
    )
    doc.update(
        registeredResources=resources,
        remainingResources=remaining,
        versionInfo=version_info,
        attributes=attributes,
        agentConnected=True,
        version=int(doc.get("version", 0)) + 1,
    )
    if doc.get("status") == INACTIVE:
        doc["status"] = ACTIVE
        doc.pop("_inactiveAt", None)
    if tags:
        doc["tags"] = tags
    return doc


def touch(doc: Doc) -> Doc:
    doc["version"] = int(doc.get("version", 0)) + 1
    return doc


# -- the API view ----------------------------------------------------------------------------
def render(
    doc: Mapping[str, Any],
    *,
    include: Iterable[str] = (),
    running: int = 0,
    pending: int = 0,
    custom_attributes: Sequence[Mapping[str, Any]] = (),
) -> Doc:
    wanted = frozenset(include)
    view: Doc = {k: v for k, v in doc.items() if not k.startswith("_") and v is not None}
    view["runningTasksCount"] = running
    view["pendingTasksCount"] = pending
    if custom_attributes:
        merged = {a["name"]: dict(a) for a in view.get("attributes", [])}
        for a in custom_attributes:
            item: Doc = {"name": a["name"]}
            if a.get("value") is not None:
                item["value"] = a["value"]
            merged[a["name"]] = item
        view["attributes"] = [merged[n] for n in sorted(merged)]
    if "TAGS" not in wanted:
        view.pop("tags", None)
    if "CONTAINER_INSTANCE_HEALTH" in wanted:
        changed = doc.get("_healthChangedAt", doc.get("registeredAt"))
        status = "OK" if doc.get("agentConnected") else "IMPAIRED"
        view["healthStatus"] = {
            "overallStatus": status,
            "details": [
                {
                    "type": "CONTAINER_RUNTIME",
                    "status": status,
                    "lastUpdated": changed,
                    "lastStatusChange": changed,
                }
            ],
        }
    return view


def instance_id_from_ref(ref: str) -> tuple[str | None, str]:
    """``(cluster or None, instance id)`` of a container instance id or ARN (not validated)."""
    if ref.startswith("arn:"):
        resource = ref.split(":", 5)[-1]
        parts = resource.split("/")
        if len(parts) == 3:
            return parts[1], parts[2]
        return None, parts[-1]
    return None, ref
