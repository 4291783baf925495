"""The pure Service rules: ranges and picking, defaults, what an update keeps, Endpoints
subsets and slices, and the table cells kubectl prints."""

from __future__ import annotations

import random
from typing import Any

import pytest

from stowage.api.k8s.core_services import ports_text
from stowage.model.k8s import endpoints as em
from stowage.model.k8s import services as sv
from stowage.model.k8s.defaults import default_object
from stowage.model.k8s.service_ranges import IpRange, PortRange, pick_offset


def test_ranges_parse_and_bands() -> None:
    default = IpRange.parse("10.96.0.0/12")
    assert (default.size, default.static_band) == (2**20 - 2, 256)
    assert default.at(0) == "10.96.0.1" and default.offset("10.96.0.1") == 0
    assert default.offset("10.96.0.0") is None and default.offset("10.111.255.255") is None
    assert default.offset("10.112.0.1") is None and default.offset("nonsense") is None
    assert IpRange.parse("10.0.0.0/28").static_band == 0  # 14 addresses: no band
    with pytest.raises(ValueError, match="only IPv4"):
        IpRange.parse("fd00::/108")
    with pytest.raises(ValueError, match="not a CIDR"):
        IpRange.parse("10.0.0.0/33")
    ports = PortRange.parse("30000-32767")
    assert (ports.size, ports.static_band, str(ports)) == (2768, 86, "30000-32767")
    assert PortRange.parse("30000+10") == PortRange(30000, 30010)
    with pytest.raises(ValueError):
        PortRange.parse("32767-30000")


def test_picks_prefer_the_dynamic_part_then_fill_the_band() -> None:
    rng = random.Random(7)
    picks = {pick_offset(100, 20, set(), rng) for _ in range(200)}
    assert picks and all(p is not None and p >= 20 for p in picks)
    # the dynamic part full: the static band is used; everything full: None
    assert pick_offset(100, 20, set(range(20, 100)), rng) in set(range(20))
    assert pick_offset(100, 20, set(range(100)), rng) is None
    # a single free value is found whatever the probes hit
    assert pick_offset(100, 20, set(range(100)) - {63}, rng) == 63
    small = PortRange(30000, 30001)
    assert small.pick({30000}, rng) == 30001 and small.pick({30000, 30001}, rng) is None


def _svc(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "default"}, "spec": spec}


def test_defaults() -> None:
    s = _svc(ports=[{"port": 80}, {"port": 53, "protocol": "UDP", "targetPort": "dns"}], type="NodePort")
    default_object("v1", "Service", s)
    sv.prepare_service(s)
    spec = s["spec"]
    assert spec["ports"] == [
        {"port": 80, "protocol": "TCP", "targetPort": 80},
        {"port": 53, "protocol": "UDP", "targetPort": "dns"},
    ]
    assert (spec["sessionAffinity"], spec["externalTrafficPolicy"], spec["internalTrafficPolicy"]) == (
        "None", "Cluster", "Cluster",
    )  # fmt: skip
    assert (spec["ipFamilies"], spec["ipFamilyPolicy"]) == (["IPv4"], "SingleStack")
    headless = _svc(clusterIP="None")
    default_object("v1", "Service", headless)
    sv.prepare_service(headless)
    # as upstream: headless without a selector defaults to dual-stack families
    assert headless["spec"]["ipFamilyPolicy"] == "RequireDualStack"
    assert headless["spec"]["ipFamilies"] == ["IPv4", "IPv6"] and sv.validate_service(headless) == []
    ext = _svc(type="ExternalName", externalName="example.com.")
    default_object("v1", "Service", ext)
    sv.prepare_service(ext)
    assert "ipFamilies" not in ext["spec"] and sv.validate_service(ext) == []


def test_carry_keeps_unset_values_and_type_changes_drop_them() -> None:
    old = _svc(
        type="NodePort", clusterIP="10.96.1.1", clusterIPs=["10.96.1.1"], ipFamilies=["IPv4"],
        ipFamilyPolicy="SingleStack", externalTrafficPolicy="Cluster",
        ports=[{"name": "a", "port": 80, "nodePort": 30001}, {"name": "b", "port": 81, "nodePort": 30002}],
    )  # fmt: skip
    # a PUT without the allocated values keeps them (by port name)
    new = _svc(type="NodePort", ports=[{"name": "b", "port": 81}, {"name": "a", "port": 80}])
    sv.carry_allocated(old, new)
    assert new["spec"]["clusterIP"] == "10.96.1.1" and new["spec"]["clusterIPs"] == ["10.96.1.1"]
    assert [p["nodePort"] for p in new["spec"]["ports"]] == [30002, 30001]
    # a node port another port already uses in the update is not handed out twice
    taken = _svc(
        type="NodePort", ports=[{"name": "a", "port": 80}, {"name": "c", "port": 82, "nodePort": 30001}]
    )
    sv.carry_allocated(old, taken)
    assert "nodePort" not in taken["spec"]["ports"][0]
    # NodePort -> ClusterIP with the node ports unchanged: they go, and so does the policy
    to_cip = _svc(**{**old["spec"], "type": "ClusterIP"})
    sv.carry_allocated(old, to_cip)
    assert all("nodePort" not in p for p in to_cip["spec"]["ports"])
    assert "externalTrafficPolicy" not in to_cip["spec"] and to_cip["spec"]["clusterIP"] == "10.96.1.1"
    # -> ExternalName: the cluster IP and families go
    to_ext = _svc(**{**old["spec"], "type": "ExternalName", "externalName": "x.example"})
    sv.carry_allocated(old, to_ext)
    assert not {"clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"} & set(to_ext["spec"])
    # changing clusterIP alone follows into clusterIPs, and is refused
    moved = _svc(**{**old["spec"], "clusterIP": "10.96.9.9"})
    sv.carry_allocated(old, moved)
    assert moved["spec"]["clusterIPs"] == ["10.96.9.9"]
    assert [c.message for c in sv.check_update(old, moved)] == [
        'Invalid value: []string{"10.96.9.9"}: may not change once set'
    ]


def _pod(name: str, ip: str, *, ready: bool = True, port: int = 8080, **extra: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", **extra},
        "spec": {"nodeName": "i-1",
                 "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": port}]}]},
        "status": {"phase": "Running", "podIP": ip,
                   "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }  # fmt: skip


def _ref(name: str) -> dict[str, str]:
    return {"kind": "Pod", "namespace": "default", "name": name, "uid": f"uid-{name}"}


def test_subsets_group_by_resolved_ports_and_split_readiness() -> None:
    svc = _svc(
        ports=[{"name": "web", "port": 80, "targetPort": "http", "protocol": "TCP"}], selector={"a": "b"}
    )
    pods = [
        _pod("p3", "10.0.0.30", port=9090),
        _pod("p1", "10.0.0.4"),
        _pod("p2", "10.0.0.12", ready=False),
        _pod("gone", "10.0.0.5", deletionTimestamp="2026-01-01T00:00:00Z"),
        {**_pod("ended", "10.0.0.6"), "status": {"phase": "Succeeded", "podIP": "10.0.0.6"}},
        {**_pod("no-ip", ""), "status": {"phase": "Pending"}},
    ]
    subsets = em.endpoint_subsets(svc, pods)
    assert subsets == [
        {
            "addresses": [{"ip": "10.0.0.4", "nodeName": "i-1", "targetRef": _ref("p1")}],
            "notReadyAddresses": [{"ip": "10.0.0.12", "nodeName": "i-1", "targetRef": _ref("p2")}],
            "ports": [{"name": "web", "port": 8080, "protocol": "TCP"}],
        },
        {
            "addresses": [{"ip": "10.0.0.30", "nodeName": "i-1", "targetRef": _ref("p3")}],
            "ports": [{"name": "web", "port": 9090, "protocol": "TCP"}],
        },
    ]  # fmt: skip
    # a named port a pod lacks leaves the pod out; publishNotReadyAddresses makes all ready
    lacking = _svc(ports=[{"port": 80, "targetPort": "metrics", "protocol": "TCP"}])
    assert em.endpoint_subsets(lacking, pods) == []
    publish = _svc(ports=[{"port": 80, "targetPort": 8080, "protocol": "TCP"}], publishNotReadyAddresses=True)
    (only,) = em.endpoint_subsets(publish, pods[1:3])
    assert [a["ip"] for a in only["addresses"]] == [
        "10.0.0.4",
        "10.0.0.12",
    ] and "notReadyAddresses" not in only
    # slices keep terminating pods, marked so
    slices = em.slice_groups(svc, pods)
    conditions = {e["targetRef"]["name"]: e["conditions"] for _, eps in slices for e in eps}
    assert conditions["gone"] == {"ready": False, "serving": True, "terminating": True}
    assert conditions["p2"] == {"ready": False, "serving": False, "terminating": False}
    assert [ports for ports, _ in slices] == [
        [{"name": "web", "port": 8080, "protocol": "TCP"}],
        [{"name": "web", "port": 9090, "protocol": "TCP"}],
    ]  # fmt: skip


def test_table_cells() -> None:
    ep = {"subsets": [{"addresses": [{"ip": f"10.0.0.{i}"} for i in range(1, 5)], "ports": [{"port": 80}]}]}
    assert em.format_endpoints(ep) == "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 1 more..."
    assert em.format_endpoints({}) == "<none>"
    assert em.format_endpoints({"subsets": [{"addresses": [{"ip": "10.0.0.1"}]}]}) == "10.0.0.1"
    svc = _svc(ports=[{"port": 80, "protocol": "TCP", "nodePort": 30080}, {"port": 53, "protocol": "UDP"}])
    assert ports_text(svc) == "80:30080/TCP,53/UDP"
    assert ports_text(_svc()) == "<none>"
    assert em.format_slice_ports(None) == "<unset>"
    assert (
        em.format_slice_endpoints([{"addresses": ["1.1.1.1"]}] * 4) == "1.1.1.1,1.1.1.1,1.1.1.1 + 1 more..."
    )
