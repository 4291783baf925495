"""core/v1 Service rules, pure: the API server's defaults, its validation (with its messages),
and what an update keeps of the allocated values.

- ``prepare_service``: what the API server's strategy adds to a defaulted Service (the
  defaults, ``type: ClusterIP``, ``sessionAffinity: None``, port ``protocol: TCP``,
  ``targetPort`` = ``port``, traffic policies, are ``model/k8s/defaults``'s): the IP families,
  ``clusterIPs`` from ``clusterIP``, and the zeros a protobuf body carries dropped.
- ``validate_service``: the causes a real API server gives for a bad spec (422 Invalid).
- ``carry_allocated``: an update keeps ``clusterIP(s)`` and ``nodePort`` values the new object
  leaves unset (so ``kubectl replace``/``apply`` never re-allocate them), and drops the ones a
  type change no longer needs (``NodePort`` → ``ClusterIP`` releases the node ports).
- ``check_update``: the cluster IP cannot change once set.

The cluster is single-stack IPv4: ``ipFamilies`` is ``[IPv4]`` (IPv6 is "not configured on this
cluster"), as on a real single-stack cluster.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from stowage.model.k8s.errors import Cause

Obj = dict[str, Any]

NONE = "None"
CLUSTER_IP, NODE_PORT, LOAD_BALANCER, EXTERNAL_NAME = "ClusterIP", "NodePort", "LoadBalancer", "ExternalName"
TYPES = (CLUSTER_IP, EXTERNAL_NAME, LOAD_BALANCER, NODE_PORT)
PROTOCOLS = ("SCTP", "TCP", "UDP")
AFFINITIES = ("ClientIP", "None")
TRAFFIC_POLICIES = ("Cluster", "Local")
FAMILY_POLICIES = ("PreferDualStack", "RequireDualStack", "SingleStack")
FAMILIES = ("IPv4", "IPv6")

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_PORT_NAME = re.compile(r"^[-a-z0-9]+$")

_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
    "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
    "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
    "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
_NAME_PART_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
_IP_MSG = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
_PORT_RANGE_MSG = "must be between 1 and 65535, inclusive"


# -- reading a service -------------------------------------------------------------------------
def spec_of(svc: Obj) -> Obj:
    spec = svc.get("spec")
    return spec if isinstance(spec, dict) else {}


def service_type(svc: Obj) -> str:
    return str(spec_of(svc).get("type") or CLUSTER_IP)


def needs_cluster_ip(svc: Obj) -> bool:
    return service_type(svc) != EXTERNAL_NAME


def is_headless(svc: Obj) -> bool:
    return spec_of(svc).get("clusterIP") == NONE


def needs_node_ports(svc: Obj) -> bool:
    return service_type(svc) in (NODE_PORT, LOAD_BALANCER)


def allocates_node_ports(svc: Obj) -> bool:
    """Whether ports without a ``nodePort`` get one (a LoadBalancer may opt out)."""
    kind = service_type(svc)
    return kind == NODE_PORT or (
        kind == LOAD_BALANCER and spec_of(svc).get("allocateLoadBalancerNodePorts") is not False
    )


def needs_health_check_port(svc: Obj) -> bool:
    spec = spec_of(svc)
    return service_type(svc) == LOAD_BALANCER and spec.get("externalTrafficPolicy") == "Local"


def ports_of(svc: Obj) -> list[Obj]:
    ports = spec_of(svc).get("ports")
    return [p for p in ports if isinstance(p, dict)] if isinstance(ports, list) else []


def cluster_ips(svc: Obj) -> list[str]:
    """The allocated cluster IPs (none for headless and ExternalName services)."""
    if not needs_cluster_ip(svc):
        return []
    spec = spec_of(svc)
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    return [str(ip) for ip in ips if ip and ip != NONE]


def node_ports(svc: Obj) -> set[int]:
    """Node ports the service holds: its ports' and its health check's."""
    if not needs_node_ports(svc):
        return set()
    held = {_int(p.get("nodePort")) for p in ports_of(svc)} - {0}
    hc = _int(spec_of(svc).get("healthCheckNodePort"))
    if hc and needs_health_check_port(svc):
        held.add(hc)
    return held


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


# -- defaults --------------------------------------------------------------------------------
def prepare_service(svc: Obj) -> None:
    """The API server's strategy, on every write of a defaulted Service."""
    spec = svc.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    for member in ("healthCheckNodePort", "publishNotReadyAddresses"):
        if spec.get(member) in (0, False):  # protobuf bodies carry zeros JSON would omit
            spec.pop(member)
    for port in ports_of(svc):
        if port.get("nodePort") == 0:
            port.pop("nodePort")
    if spec.get("type") != EXTERNAL_NAME:
        if spec.get("clusterIP") and not spec.get("clusterIPs"):
            spec["clusterIPs"] = [spec["clusterIP"]]
        _default_families(svc, spec)
    status = svc.setdefault("status", {})
    if isinstance(status, dict):
        status.setdefault("loadBalancer", {})


def _default_families(svc: Obj, spec: Obj) -> None:
    headless_selectorless = spec.get("clusterIP") == NONE and not spec.get("selector")
    if not spec.get("ipFamilyPolicy"):
        # as the API server: headless services without a selector default to dual-stack
        spec["ipFamilyPolicy"] = "RequireDualStack" if headless_selectorless else "SingleStack"
    families = spec.get("ipFamilies")
    if not families:
        families = spec["ipFamilies"] = ["IPv4"]
    if headless_selectorless and spec["ipFamilyPolicy"] != "SingleStack" and families == ["IPv4"]:
        spec["ipFamilies"] = ["IPv4", "IPv6"]


# -- validation --------------------------------------------------------------------------------
def go_value(value: Any) -> str:
    """A value as apimachinery's field errors print it (Go's ``%q`` / ``%#v``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "[]string{" + ", ".join(go_value(v) for v in value) + "}"
    if value is None:
        return "null"
    return str(value)


def invalid(path: str, value: Any, message: str) -> Cause:
    return Cause("FieldValueInvalid", f"Invalid value: {go_value(value)}: {message}", path)


def required(path: str, detail: str = "") -> Cause:
    return Cause("FieldValueRequired", f"Required value{': ' + detail if detail else ''}", path)


def forbidden(path: str, detail: str) -> Cause:
    return Cause("FieldValueForbidden", f"Forbidden: {detail}", path)


def not_supported(path: str, value: Any, supported: tuple[str, ...]) -> Cause:
    values = ", ".join(f'"{v}"' for v in supported)
    return Cause(
        "FieldValueNotSupported", f"Unsupported value: {go_value(value)}: supported values: {values}", path
    )


def duplicate(path: str, value: Any) -> Cause:
    return Cause("FieldValueDuplicate", f"Duplicate value: {value}", path)


def valid_ip(text: Any) -> bool:
    try:
        ipaddress.ip_address(str(text))
    except ValueError:
        return False
    return isinstance(text, str)


def _port_number(path: str, value: Any) -> list[Cause]:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        return [invalid(path, value if isinstance(value, int) else 0, _PORT_RANGE_MSG)]
    return []


def _port_name_msgs(name: str) -> list[str]:
    """apimachinery's IsValidPortName (an IANA_SVC_NAME)."""
    msgs = []
    if len(name) > 15:
        msgs.append("must be no more than 15 characters")
    if not _PORT_NAME.match(name):
        msgs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if "--" in name:
        msgs.append("must not contain consecutive hyphens")
    if not re.search(r"[a-z]", name):
        msgs.append("must contain at least one letter (a-z)")
    if name.startswith("-") or name.endswith("-"):
        msgs.append("must not begin or end with a hyphen")
    return msgs


def _label_causes(path: str, labels: Any) -> list[Cause]:
    if not isinstance(labels, dict):
        return []
    causes = []
    for key, value in labels.items():
        prefix, _, name = str(key).rpartition("/")
        if (prefix and not _DNS1123_SUBDOMAIN.match(prefix)) or len(name) > 63 or not _LABEL_NAME.match(name):
            causes.append(invalid(path, key, _NAME_PART_MSG))
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            causes.append(invalid(path, value, _LABEL_VALUE_MSG))
    return causes


def _go_service_port(port: Obj) -> str:
    protocol = go_value(port.get("protocol") or "")
    return (
        f'core.ServicePort{{Name:"", Protocol:{protocol}, AppProtocol:(*string)(nil), '
        f"Port:{_int(port.get('port'))}, "
        'TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}'
    )


def validate_service(svc: Obj) -> list[Cause]:
    """The causes of a 422 for this service (after defaulting), as the API server words them."""
    causes: list[Cause] = []
    name = str((svc.get("metadata") or {}).get("name") or "")
    if name and (len(name) > 63 or not _DNS1035_LABEL.match(name)):
        causes.append(invalid("metadata.name", name, _DNS1035_MSG))
    spec = spec_of(svc)
    kind = spec.get("type")
    headless = spec.get("clusterIP") == NONE
    ports = ports_of(svc)
    if not ports and not headless and kind != EXTERNAL_NAME:
        causes.append(required("spec.ports"))
    if kind not in TYPES:
        causes.append(not_supported("spec.type", kind, TYPES))
    if kind in (NODE_PORT, LOAD_BALANCER) and headless:
        causes.append(invalid("spec.clusterIPs[0]", NONE, f"may not be set to 'None' for {kind} services"))
    if kind == EXTERNAL_NAME:
        causes += _external_name(spec)
    else:
        causes += _cluster_ips(spec)
    causes += _ports(ports, kind)
    causes += _label_causes("spec.selector", spec.get("selector"))
    if spec.get("sessionAffinity") not in AFFINITIES:
        causes.append(not_supported("spec.sessionAffinity", spec.get("sessionAffinity"), AFFINITIES))
    elif spec["sessionAffinity"] == "None" and spec.get("sessionAffinityConfig"):
        causes.append(
            forbidden("spec.sessionAffinityConfig", "must not be set when session affinity is None")
        )
    for i, ip in enumerate(spec.get("externalIPs") or []):
        if not valid_ip(ip):
            causes.append(invalid(f"spec.externalIPs[{i}]", ip, _IP_MSG))
    policy = spec.get("externalTrafficPolicy")
    if policy:
        if kind not in (NODE_PORT, LOAD_BALANCER):
            causes.append(invalid("spec.externalTrafficPolicy", policy,
                                  "may only be set when `type` is 'NodePort' or 'LoadBalancer'"))  # fmt: skip
        elif policy not in TRAFFIC_POLICIES:
            causes.append(not_supported("spec.externalTrafficPolicy", policy, TRAFFIC_POLICIES))
    internal = spec.get("internalTrafficPolicy")
    if internal and internal not in TRAFFIC_POLICIES:
        causes.append(not_supported("spec.internalTrafficPolicy", internal, TRAFFIC_POLICIES))
    if kind != LOAD_BALANCER and spec.get("healthCheckNodePort"):
        causes.append(invalid("spec.healthCheckNodePort", spec["healthCheckNodePort"],
                              "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` "
                              "is 'Local'"))  # fmt: skip
    return causes


def _external_name(spec: Obj) -> list[Cause]:
    causes = []
    if spec.get("clusterIPs") or spec.get("clusterIP"):
        causes.append(forbidden("spec.clusterIPs", "may not be set for ExternalName services"))
    if spec.get("ipFamilies"):
        causes.append(forbidden("spec.ipFamilies", "may not be set for ExternalName services"))
    if spec.get("ipFamilyPolicy"):
        causes.append(forbidden("spec.ipFamilyPolicy", "may not be set for ExternalName services"))
    cname = str(spec.get("externalName") or "").removesuffix(".")
    if not cname:
        causes.append(required("spec.externalName"))
    elif len(cname) > 253 or not _DNS1123_SUBDOMAIN.match(cname):
        causes.append(invalid("spec.externalName", cname, _SUBDOMAIN_MSG))
    return causes


def _cluster_ips(spec: Obj) -> list[Cause]:
    causes: list[Cause] = []
    ip = spec.get("clusterIP") or ""
    ips = spec.get("clusterIPs") or []
    if not isinstance(ips, list):
        return [invalid("spec.clusterIPs", ips, "must be a list")]
    if ip and ips and ips[0] != ip:
        causes.append(invalid("spec.clusterIPs", ips, "first value must match `clusterIP`"))
    elif not ip and ips:
        causes.append(invalid("spec.clusterIPs", ips, "must be empty when `clusterIP` is not specified"))
    bad = False
    for i, value in enumerate(ips):
        if i == 0 and value == NONE:
            if len(ips) > 1:
                bad = True
                causes.append(invalid("spec.clusterIPs", ips, "'None' must be the first and only value"))
            continue
        if not valid_ip(value):
            bad = True
            causes.append(invalid(f"spec.clusterIPs[{i}]", value, _IP_MSG))
    if len(ips) > 2:
        causes.append(invalid("spec.clusterIPs", ips, "may only hold up to 2 values"))
    elif len(ips) == 2 and not bad and len({ipaddress.ip_address(v).version for v in ips}) == 1:
        causes.append(invalid("spec.clusterIPs", ips, "may specify no more than one IP for each IP family"))
    policy = spec.get("ipFamilyPolicy")
    if policy not in FAMILY_POLICIES:
        causes.append(not_supported("spec.ipFamilyPolicy", policy, FAMILY_POLICIES))
    for i, family in enumerate(spec.get("ipFamilies") or []):
        if family not in FAMILIES:
            causes.append(not_supported(f"spec.ipFamilies[{i}]", family, FAMILIES))
    if spec.get("clusterIP") != NONE or spec.get("selector"):
        # a single-stack IPv4 cluster (headless services without a selector may list both)
        for i, family in enumerate(spec.get("ipFamilies") or []):
            if family == "IPv6":
                causes.append(invalid(f"spec.ipFamilies[{i}]", family, "not configured on this cluster"))
        if policy == "RequireDualStack":
            causes.append(
                invalid(
                    "spec.ipFamilyPolicy", policy, "this cluster is not configured for dual-stack services"
                )
            )
        for i, value in enumerate(ips):
            if value != NONE and valid_ip(value) and ipaddress.ip_address(value).version == 6:
                causes.append(invalid(f"spec.clusterIPs[{i}]", ips, "IPv6 is not configured on this cluster"))
    return causes


def _ports(ports: list[Obj], kind: Any) -> list[Cause]:
    causes: list[Cause] = []
    names: set[str] = set()
    for i, port in enumerate(ports):
        path = f"spec.ports[{i}]"
        name = port.get("name") or ""
        if len(ports) > 1 and not name:
            causes.append(required(f"{path}.name"))
        elif name:
            if len(name) > 63 or not _DNS1123_LABEL.match(str(name)):
                causes.append(invalid(f"{path}.name", name, _LABEL_MSG))
            if name in names:
                causes.append(duplicate(f"{path}.name", go_value(name)))
            names.add(str(name))
        causes += _port_number(f"{path}.port", port.get("port"))
        protocol = port.get("protocol")
        if not protocol:
            causes.append(required(f"{path}.protocol"))
        elif protocol not in PROTOCOLS:
            causes.append(not_supported(f"{path}.protocol", protocol, PROTOCOLS))
        target = port.get("targetPort")
        if isinstance(target, str):
            causes += [invalid(f"{path}.targetPort", target, m) for m in _port_name_msgs(target)]
        else:
            causes += _port_number(f"{path}.targetPort", target)
        node_port = port.get("nodePort")
        if node_port not in (None, 0):
            if kind == CLUSTER_IP:
                causes.append(forbidden(f"{path}.nodePort", "may not be used when `type` is 'ClusterIP'"))
            elif not isinstance(node_port, int) or isinstance(node_port, bool):
                causes.append(invalid(f"{path}.nodePort", node_port, "must be an integer"))
    seen_node: set[tuple[str, int]] = set()
    seen_port: set[tuple[str, int]] = set()
    for i, port in enumerate(ports):
        protocol, node_port = str(port.get("protocol") or ""), _int(port.get("nodePort"))
        if node_port:
            if (protocol, node_port) in seen_node:
                causes.append(duplicate(f"spec.ports[{i}].nodePort", node_port))
            seen_node.add((protocol, node_port))
        key = (protocol, _int(port.get("port")))
        if key in seen_port:
            causes.append(duplicate(f"spec.ports[{i}]", _go_service_port(port)))
        seen_port.add(key)
    return causes


# -- updates -----------------------------------------------------------------------------------
def carry_allocated(old: Obj, new: Obj) -> None:
    """What an update keeps and drops (the API server's PrepareForUpdate for services).

    Values the new object leaves unset are kept when the new type still needs them: clusterIP
    and clusterIPs, the IP family fields, each port's nodePort (matched by port name, unless
    another port already uses it), healthCheckNodePort. Values a type change makes pointless
    are dropped when the update did not change them (NodePort → ClusterIP releases the node
    ports; → ExternalName releases the cluster IP)."""
    spec, old_spec = new.setdefault("spec", {}), spec_of(old)
    if not isinstance(spec, dict):
        return
    if needs_cluster_ip(old) and needs_cluster_ip(new):
        if not spec.get("clusterIP") and old_spec.get("clusterIP"):
            spec["clusterIP"] = old_spec["clusterIP"]
        if not spec.get("clusterIPs") and old_spec.get("clusterIPs"):
            spec["clusterIPs"] = list(old_spec["clusterIPs"])
        for member in ("ipFamilyPolicy", "ipFamilies"):
            if not spec.get(member) and old_spec.get(member):
                spec[member] = old_spec[member]
    if needs_node_ports(old) and needs_node_ports(new):
        used = {_int(p.get("nodePort")) for p in ports_of(new)} & {
            _int(p.get("nodePort")) for p in ports_of(old)
        }
        by_name = {str(p.get("name") or ""): _int(p.get("nodePort")) for p in ports_of(old)}
        for port in ports_of(new):
            if not _int(port.get("nodePort")):
                value = by_name.get(str(port.get("name") or ""), 0)
                if value and value not in used:
                    port["nodePort"] = value
    keep_hc = needs_health_check_port(old) and needs_health_check_port(new)
    if keep_hc and not spec.get("healthCheckNodePort") and old_spec.get("healthCheckNodePort"):
        spec["healthCheckNodePort"] = old_spec["healthCheckNodePort"]
    _normalize_cluster_ips(old_spec, spec)
    _drop_type_dependent(old, new, old_spec, spec)


def _normalize_cluster_ips(old_spec: Obj, spec: Obj) -> None:
    if not old_spec.get("clusterIPs"):
        return
    same_list = (spec.get("clusterIPs") or []) == (old_spec.get("clusterIPs") or [])
    if spec.get("clusterIP") != old_spec.get("clusterIP") and same_list:
        if not spec.get("clusterIP"):
            spec.pop("clusterIPs", None)
        else:
            spec["clusterIPs"] = [spec["clusterIP"], *list(old_spec["clusterIPs"])[1:]]


def _drop_type_dependent(old: Obj, new: Obj, old_spec: Obj, spec: Obj) -> None:
    if needs_cluster_ip(old) and not needs_cluster_ip(new):
        if spec.get("clusterIP") == old_spec.get("clusterIP") and spec.get("clusterIPs") == old_spec.get(
            "clusterIPs"
        ):
            for member in ("clusterIP", "clusterIPs"):
                spec.pop(member, None)
        for member in ("ipFamilies", "ipFamilyPolicy", "internalTrafficPolicy"):
            if spec.get(member) == old_spec.get(member):
                spec.pop(member, None)
    if needs_node_ports(old) and not needs_node_ports(new):
        if [_int(p.get("nodePort")) for p in ports_of(new)] == [
            _int(p.get("nodePort")) for p in ports_of(old)
        ]:
            for port in ports_of(new):
                port.pop("nodePort", None)
        if spec.get("externalTrafficPolicy") == old_spec.get("externalTrafficPolicy"):
            spec.pop("externalTrafficPolicy", None)
    same_hc = spec.get("healthCheckNodePort") == old_spec.get("healthCheckNodePort")
    if needs_health_check_port(old) and not needs_health_check_port(new) and same_hc:
        spec.pop("healthCheckNodePort", None)
    if service_type(old) == LOAD_BALANCER and service_type(new) != LOAD_BALANCER:
        for member in ("allocateLoadBalancerNodePorts", "loadBalancerClass"):
            if spec.get(member) == old_spec.get(member):
                spec.pop(member, None)


def check_update(old: Obj, new: Obj) -> list[Cause]:
    """Cluster IPs are immutable once set (except to or from ExternalName)."""
    if not needs_cluster_ip(old) or not needs_cluster_ip(new):
        return []
    old_ips = list(spec_of(old).get("clusterIPs") or [])
    ips = list(spec_of(new).get("clusterIPs") or [])
    if not old_ips or (old_ips == [NONE] and ips == [NONE]):
        return []
    if not ips:
        return [invalid("spec.clusterIPs[0]", ips, "primary clusterIP can not be unset")]
    for i, ip in enumerate(old_ips[: len(ips)]):
        if ips[i] != ip:
            return [invalid(f"spec.clusterIPs[{i}]", ips, "may not change once set")]
    return []
