"""Services as the API server keeps them, over real HTTPS with the official client and the
machine's kubectl: cluster IP and node port allocation (requested, taken, out of range,
released, exhausted), validation with the API server's causes, what updates keep and release,
headless and ExternalName services, and ``default/kubernetes``."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stowage.api.k8s.service_alloc import ServiceNetwork
from tests.k8s.services_cluster import ServiceCluster, eventually


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceCluster]:
    c = ServiceCluster(tmp_path_factory.mktemp("svc"))
    c.start()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def core(cluster: ServiceCluster) -> Iterator[Any]:
    from kubernetes import client

    api = cluster.client()
    try:
        yield client.CoreV1Api(api)
    finally:
        api.close()


def svc(name: str, **spec: Any) -> dict[str, Any]:
    spec.setdefault("ports", [{"port": 80}])
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec}


def failure(call: Any) -> dict[str, Any]:
    from kubernetes import client

    with pytest.raises(client.ApiException) as info:
        call()
    return dict(json.loads(info.value.body))


def causes(status: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(c["reason"], c["field"], c["message"]) for c in status["details"]["causes"]]


def test_kubernetes_service_is_the_first_address_and_points_at_the_listener(cluster: ServiceCluster) -> None:
    rows = cluster.kubectl("get", "svc", "kubernetes").stdout.splitlines()
    assert rows[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert rows[1].split()[:5] == ["kubernetes", "ClusterIP", "10.96.0.1", "<none>", "443/TCP"]
    ep = cluster.get("endpoints", "kubernetes")
    assert ep["subsets"] == [
        {
            "addresses": [{"ip": "127.0.0.1"}],
            "ports": [{"name": "https", "port": cluster.port, "protocol": "TCP"}],
        }
    ]
    assert cluster.kubectl("get", "ep", "kubernetes").stdout.split()[4] == f"127.0.0.1:{cluster.port}"


def test_cluster_ips_allocated_requested_taken_and_released(core: Any) -> None:
    ns = "default"
    auto = core.create_namespaced_service(ns, svc("auto-ip"))
    ip = auto.spec.cluster_ip
    assert ipaddress.ip_address(ip) in ipaddress.ip_network("10.96.0.0/12")
    # dynamic addresses come from above the static band (the first 256 here)
    assert int(ipaddress.ip_address(ip)) - int(ipaddress.ip_address("10.96.0.0")) > 256
    assert auto.spec.cluster_ips == [ip]
    assert (auto.spec.ip_families, auto.spec.ip_family_policy) == (["IPv4"], "SingleStack")

    asked = core.create_namespaced_service(ns, svc("asked-ip", clusterIP="10.96.0.77"))
    assert (asked.spec.cluster_ip, asked.spec.cluster_ips) == ("10.96.0.77", ["10.96.0.77"])

    taken = failure(lambda: core.create_namespaced_service(ns, svc("again-ip", clusterIP="10.96.0.77")))
    assert (taken["code"], taken["reason"]) == (422, "Invalid")
    assert taken["message"] == (
        'Service "again-ip" is invalid: spec.clusterIPs: Invalid value: []string{"10.96.0.77"}: '
        "failed to allocate IP 10.96.0.77: provided IP is already allocated"
    )
    assert causes(taken) == [(
        "FieldValueInvalid", "spec.clusterIPs",
        'Invalid value: []string{"10.96.0.77"}: failed to allocate IP 10.96.0.77: '
        "provided IP is already allocated",
    )]  # fmt: skip

    outside = failure(lambda: core.create_namespaced_service(ns, svc("far-ip", clusterIP="192.168.1.1")))
    assert outside["message"].endswith(
        "failed to allocate IP 192.168.1.1: the provided IP (192.168.1.1) is not in the valid range. "
        "The range of valid IPs is 10.96.0.0/12"
    )
    bad = failure(lambda: core.create_namespaced_service(ns, svc("bad-ip", clusterIP="10.96.0.999")))
    assert causes(bad) == [(
        "FieldValueInvalid", "spec.clusterIPs[0]",
        'Invalid value: "10.96.0.999": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
    )]  # fmt: skip

    # deleting a service frees its address at once
    core.delete_namespaced_service("asked-ip", ns)
    again = core.create_namespaced_service(ns, svc("again-ip", clusterIP="10.96.0.77"))
    assert again.spec.cluster_ip == "10.96.0.77"


def test_node_ports_allocated_requested_shared_taken_and_out_of_range(core: Any) -> None:
    ns = "default"
    two = core.create_namespaced_service(ns, svc(
        "np-two", type="NodePort",
        ports=[{"name": "http", "port": 80}, {"name": "https", "port": 443, "nodePort": 30443}],
    ))  # fmt: skip
    ports = {p.name: p.node_port for p in two.spec.ports}
    assert ports["https"] == 30443
    assert 30000 <= ports["http"] <= 32767 and ports["http"] != 30443
    assert two.spec.external_traffic_policy == "Cluster"

    # one port number, two protocols: one node port, as upstream allocates it
    dns = core.create_namespaced_service(ns, svc(
        "np-dns", type="NodePort",
        ports=[{"name": "udp", "port": 53, "protocol": "UDP"},
               {"name": "tcp", "port": 53, "protocol": "TCP"}],
    ))  # fmt: skip
    assert len({p.node_port for p in dns.spec.ports}) == 1

    taken = failure(lambda: core.create_namespaced_service(
        ns, svc("np-taken", type="NodePort", ports=[{"port": 80, "nodePort": 30443}])))  # fmt: skip
    assert causes(taken) == [(
        "FieldValueInvalid", "spec.ports[0].nodePort",
        "Invalid value: 30443: provided port is already allocated",
    )]  # fmt: skip
    far = failure(lambda: core.create_namespaced_service(
        ns, svc("np-far", type="NodePort", ports=[{"port": 80, "nodePort": 8080}])))  # fmt: skip
    assert causes(far)[0][2] == (
        "Invalid value: 8080: provided port is not in the valid range. "
        "The range of valid ports is 30000-32767"
    )
    on_cluster_ip = failure(lambda: core.create_namespaced_service(
        ns, svc("np-cip", ports=[{"port": 80, "nodePort": 30999}])))  # fmt: skip
    assert causes(on_cluster_ip) == [(
        "FieldValueForbidden", "spec.ports[0].nodePort",
        "Forbidden: may not be used when `type` is 'ClusterIP'",
    )]  # fmt: skip

    # a LoadBalancer is a NodePort service with no ingress: EXTERNAL-IP stays <pending>
    lb = core.create_namespaced_service(ns, svc("np-lb", type="LoadBalancer"))
    assert lb.spec.ports[0].node_port and lb.spec.allocate_load_balancer_node_ports is True

    core.delete_namespaced_service("np-two", ns)
    reuse = core.create_namespaced_service(
        ns, svc("np-reuse", type="NodePort", ports=[{"port": 80, "nodePort": 30443}])
    )
    assert reuse.spec.ports[0].node_port == 30443


def test_validation_gives_the_api_servers_causes(core: Any) -> None:
    status = failure(lambda: core.create_namespaced_service("default", svc(
        "bad-ports", type="Sideways",
        ports=[{"port": 0, "protocol": "SCTX", "targetPort": "Web_Port"}, {"port": 81, "name": "a"},
               {"port": 81, "name": "a"}],
    )))  # fmt: skip
    assert (status["code"], status["reason"], status["details"]["kind"]) == (422, "Invalid", "Service")
    got = causes(status)
    assert ("FieldValueNotSupported", "spec.type",
            'Unsupported value: "Sideways": supported values: "ClusterIP", "ExternalName", "LoadBalancer", '
            '"NodePort"') in got  # fmt: skip
    assert ("FieldValueRequired", "spec.ports[0].name", "Required value") in got
    assert ("FieldValueInvalid", "spec.ports[0].port",
            "Invalid value: 0: must be between 1 and 65535, inclusive") in got  # fmt: skip
    assert ("FieldValueNotSupported", "spec.ports[0].protocol",
            'Unsupported value: "SCTX": supported values: "SCTP", "TCP", "UDP"') in got  # fmt: skip
    assert ("FieldValueInvalid", "spec.ports[0].targetPort",
            'Invalid value: "Web_Port": must contain only alpha-numeric characters (a-z, 0-9), '
            "and hyphens (-)") in got  # fmt: skip
    assert ("FieldValueDuplicate", "spec.ports[2].name", 'Duplicate value: "a"') in got
    assert any(f == "spec.ports[2]" and m.startswith("Duplicate value: core.ServicePort{") for _, f, m in got)

    none = failure(
        lambda: core.create_namespaced_service(
            "default", svc("headless-np", type="NodePort", clusterIP="None")
        )
    )
    assert causes(none) == [(
        "FieldValueInvalid", "spec.clusterIPs[0]",
        "Invalid value: \"None\": may not be set to 'None' for NodePort services",
    )]  # fmt: skip
    no_ports = failure(lambda: core.create_namespaced_service("default", svc("no-ports", ports=[])))
    assert causes(no_ports) == [("FieldValueRequired", "spec.ports", "Required value")]
    name = failure(lambda: core.create_namespaced_service("default", svc("1web")))
    assert causes(name)[0][:2] == ("FieldValueInvalid", "metadata.name")
    assert "a DNS-1035 label must consist of lower case alphanumeric characters" in causes(name)[0][2]
    ipv6 = failure(lambda: core.create_namespaced_service("default", svc("six", ipFamilies=["IPv6"])))
    assert causes(ipv6) == [
        ("FieldValueInvalid", "spec.ipFamilies[0]", 'Invalid value: "IPv6": not configured on this cluster')
    ]


def test_updates_keep_allocations_and_type_changes_release_them(cluster: ServiceCluster, core: Any) -> None:
    manifest: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "kept"},
        "spec": {"type": "NodePort", "selector": {"app": "kept"}, "ports": [{"name": "http", "port": 80}]},
    }  # fmt: skip
    assert "created" in cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest)).stdout
    first = core.read_namespaced_service("kept", "default")
    ip, node_port = first.spec.cluster_ip, first.spec.ports[0].node_port
    assert "unchanged" in cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest)).stdout

    # apply with one more port, then replace (PUT) without clusterIP or nodePorts: both kept
    manifest["spec"]["ports"].append({"name": "https", "port": 443})
    assert "configured" in cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest)).stdout
    cluster.kubectl("replace", "-f", "-", input=json.dumps(manifest))
    now = core.read_namespaced_service("kept", "default")
    assert now.spec.cluster_ip == ip
    assert {p.name: p.node_port for p in now.spec.ports}["http"] == node_port
    https_port = {p.name: p.node_port for p in now.spec.ports}["https"]

    moved = cluster.kubectl("patch", "svc", "kept", "-p", '{"spec":{"clusterIP":"10.96.0.55"}}', check=False)
    assert moved.returncode != 0
    assert (
        'spec.clusterIPs[0]: Invalid value: []string{"10.96.0.55"}: may not change once set' in moved.stderr
    )

    # NodePort -> ClusterIP drops (and frees) the node ports; the address stays
    cluster.kubectl("patch", "svc", "kept", "-p", '{"spec":{"type":"ClusterIP"}}')
    plain = core.read_namespaced_service("kept", "default")
    assert plain.spec.cluster_ip == ip and [p.node_port for p in plain.spec.ports] == [None, None]
    assert plain.spec.external_traffic_policy is None
    grab = core.create_namespaced_service(
        "default", svc("grab", type="NodePort", ports=[{"port": 80, "nodePort": https_port}])
    )
    assert grab.spec.ports[0].node_port == https_port

    # ClusterIP -> ExternalName releases the address too
    cluster.kubectl(
        "patch", "svc", "kept", "-p", '{"spec":{"type":"ExternalName","externalName":"example.com"}}'
    )
    ext = core.read_namespaced_service("kept", "default")
    assert (ext.spec.cluster_ip, ext.spec.ip_families) == (None, None)
    taker = core.create_namespaced_service("default", svc("taker", clusterIP=ip))
    assert taker.spec.cluster_ip == ip


def test_headless_and_external_name_rows(cluster: ServiceCluster, core: Any) -> None:
    core.create_namespaced_service("default", svc("headless", clusterIP="None", selector={"app": "h"}))
    ext = svc("alias", type="ExternalName", externalName="db.example.com")
    del ext["spec"]["ports"]
    core.create_namespaced_service("default", ext)
    rows = {
        line.split()[0]: line.split()
        for line in cluster.kubectl("get", "svc", "-o", "wide").stdout.splitlines()
    }
    assert rows["NAME"] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"]
    assert (
        rows["headless"][1:5] == ["ClusterIP", "None", "<none>", "80/TCP"] and rows["headless"][6] == "app=h"
    )
    assert rows["alias"][1:5] == ["ExternalName", "<none>", "db.example.com", "<none>"]
    assert core.read_namespaced_endpoints("headless", "default").metadata.labels == {
        "service.kubernetes.io/headless": ""
    }


def test_kubectl_create_service_sends_protobuf(cluster: ServiceCluster) -> None:
    """``kubectl create service`` posts protobuf (client-go's typed client), decoded here."""
    cluster.kubectl("create", "service", "nodeport", "pb-np", "--tcp=8080:http", "--node-port=31888")
    got = cluster.get("svc", "pb-np")
    assert got["spec"]["ports"] == [
        {"name": "8080-http", "nodePort": 31888, "port": 8080, "protocol": "TCP", "targetPort": "http"}
    ]
    assert "publishNotReadyAddresses" not in got["spec"]
    again = cluster.kubectl(
        "create", "service", "nodeport", "pb-two", "--tcp=80", "--node-port=31888", check=False
    )
    assert again.returncode != 0 and "provided port is already allocated" in again.stderr


def test_a_full_range_is_an_internal_error_and_frees_on_delete(tmp_path: Path) -> None:
    small = ServiceCluster(tmp_path, ServiceNetwork.parse("10.99.0.0/29", "30100-30101"))
    small.start()
    try:
        from kubernetes import client

        api = small.client()
        core = client.CoreV1Api(api)
        # a /29 has six addresses; default/kubernetes holds the first
        made = [core.create_namespaced_service("default", svc(f"s{i}")).spec.cluster_ip for i in range(5)]
        assert sorted(made) == [f"10.99.0.{i}" for i in range(2, 7)]
        full = failure(lambda: core.create_namespaced_service("default", svc("s5")))
        assert (full["code"], full["reason"]) == (500, "InternalError")
        assert "failed to allocate a serviceIP: range is full" in full["message"]
        core.delete_namespaced_service("s0", "default")
        assert core.create_namespaced_service("default", svc("s5")).spec.cluster_ip == made[0]

        # two node ports in the range: a service with two ports takes both
        for i in range(1, 5):
            core.delete_namespaced_service(f"s{i}", "default")
        two = svc("np", type="NodePort", ports=[{"name": "a", "port": 80}, {"name": "b", "port": 81}])
        assert sorted(p.node_port for p in core.create_namespaced_service("default", two).spec.ports) == [
            30100, 30101,
        ]  # fmt: skip
        one = failure(lambda: core.create_namespaced_service("default", svc("np2", type="NodePort")))
        assert (one["code"], one["reason"]) == (500, "InternalError")
        assert "failed to allocate a nodePort: range is full" in one["message"]
        api.close()
    finally:
        small.stop()


def test_deleting_a_namespace_frees_its_services_values(cluster: ServiceCluster, core: Any) -> None:
    from kubernetes import client

    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="doomed")))
    core.create_namespaced_service(
        "doomed",
        svc("held", type="NodePort", clusterIP="10.96.0.200", ports=[{"port": 80, "nodePort": 32000}]),
    )
    core.delete_namespace("doomed")

    def reusable() -> bool:
        try:
            core.create_namespaced_service(
                "default", svc("reuser", type="NodePort", clusterIP="10.96.0.200",
                               ports=[{"port": 80, "nodePort": 32000}]),
            )  # fmt: skip
        except client.ApiException as e:
            assert e.status == 422  # still held while the namespace empties
            return False
        return True

    eventually(reusable, what="the address and port free again")
    rows = {tuple(line.split()[:2]) for line in cluster.kubectl("api-resources").stdout.splitlines()}
    assert {("services", "svc"), ("endpoints", "ep")} <= rows
    assert any(r[0] == "endpointslices" for r in rows)
