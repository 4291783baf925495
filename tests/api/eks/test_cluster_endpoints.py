"""Each EKS cluster's endpoint is a TLS listener of its own, with the cluster's own CA, as on EKS:
two clusters' CAs differ and neither verifies the other's endpoint (Python's ``ssl`` with the
``certificateAuthority.data`` of DescribeCluster); the ``/eks/<id>`` path on the Kubernetes
listener still serves the cluster with the listener's CA (compatibility); a full port range is
EKS's ResourceLimitExceededException and a deleted cluster's port is free again; records from
before per-cluster ports get a port and a CA at the next start; an ACTIVE cluster whose port is
taken at start keeps its endpoint and is served once the port is free."""

from __future__ import annotations

import base64
import json
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from stowage.resources import eks as keys
from stowage.resources.eks_ports import port_key
from tests.api.eks.support import FAST, ROLE, VPC, EksEnv, create_cluster, unique
from tests.support.inproc_control_plane import InProcessControlPlane
from tests.support.server import ACCOUNT_ID, REGION, free_port


def _ca(cluster: dict[str, Any]) -> bytes:
    return base64.b64decode(cluster["certificateAuthority"]["data"])


def _host_port(endpoint: str) -> tuple[str, int]:
    host, _, port = endpoint.removeprefix("https://").partition("/")[0].rpartition(":")
    return host, int(port)


def _handshake(endpoint: str, ca: bytes) -> dict[str, Any]:
    """A TLS handshake with ``endpoint`` trusting only ``ca``: the peer certificate, or
    ``ssl.SSLCertVerificationError``."""
    host, port = _host_port(endpoint)
    context = ssl.create_default_context(cadata=ca.decode())
    with (
        socket.create_connection((host, port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        cert = tls.getpeercert()
    assert cert is not None
    return dict(cert)


def _get(url: str, token: str, ca: bytes) -> tuple[int, dict[str, Any]]:
    context = ssl.create_default_context(cadata=ca.decode())
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _token(env: EksEnv, name: str) -> str:
    token: str = json.loads(env.aws("eks", "get-token", "--cluster-name", name).stdout)["status"]["token"]
    return token


def test_each_cluster_has_its_own_port_and_ca(env: EksEnv, eks: Any) -> None:
    a, b = unique("ca-a"), unique("ca-b")
    one, two = create_cluster(eks, a), create_cluster(eks, b)
    ca_a, ca_b = _ca(one), _ca(two)
    listener_ca = (env.plane.config.data_dir / "k8s" / "ca.crt").read_bytes()
    assert len({ca_a, ca_b, listener_ca}) == 3
    assert _host_port(one["endpoint"])[1] != _host_port(two["endpoint"])[1]

    # each CA verifies its own cluster's endpoint, and neither the other's nor the listener's
    # certificate for its own endpoint
    assert _handshake(one["endpoint"], ca_a)["subject"] == ((("commonName", "kube-apiserver"),),)
    _handshake(two["endpoint"], ca_b)
    for endpoint, wrong in ((one["endpoint"], ca_b), (two["endpoint"], ca_a)):
        with pytest.raises(ssl.SSLCertVerificationError):
            _handshake(endpoint, wrong)
        with pytest.raises(ssl.SSLCertVerificationError):
            _handshake(endpoint, listener_ca)

    # the API at the root of its own endpoint, with the cluster's token
    token_a = _token(env, a)
    status, body = _get(one["endpoint"] + "/api/v1/namespaces", token_a, ca_a)
    assert status == 200 and body["kind"] == "NamespaceList"
    # and, kept for compatibility, under /eks/<id> on the Kubernetes listener with its CA
    cluster_id = one["identity"]["oidc"]["issuer"].rsplit("/", 1)[1]
    prefixed = f"https://127.0.0.1:{env.plane.config.k8s_port}/eks/{cluster_id}/api/v1/namespaces"
    status, body = _get(prefixed, token_a, listener_ca)
    assert status == 200 and body["kind"] == "NamespaceList"
    with pytest.raises(urllib.error.URLError):  # that path is not verified by the cluster's CA
        _get(prefixed, token_a, ca_a)
    # another cluster's token is refused at this cluster's own endpoint
    assert _get(one["endpoint"] + "/api/v1/namespaces", _token(env, b), ca_a)[0] == 401

    for name in (a, b):
        eks.delete_cluster(name=name)
    for name in (a, b):
        eks.get_waiter("cluster_deleted").wait(name=name, WaiterConfig=FAST)
    with pytest.raises(OSError):  # the listener is closed with the cluster
        _handshake(one["endpoint"], ca_a)


@pytest.fixture
def one_port_plane(tmp_path: Path) -> Iterator[InProcessControlPlane]:
    port = free_port()
    plane = InProcessControlPlane(tmp_path / "plane", k8s_port=free_port(), eks_port_range=(port, port))
    plane.start()
    try:
        yield plane
    finally:
        plane.stop()


def test_a_full_port_range_is_resource_limit_exceeded(
    one_port_plane: InProcessControlPlane, tmp_path: Path
) -> None:
    env = EksEnv(one_port_plane, tmp_path)
    eks = env.client("eks")
    first = create_cluster(eks, "first")
    port = one_port_plane.config.eks_port_range[0]
    assert _host_port(first["endpoint"]) == ("127.0.0.1", port)
    with pytest.raises(ClientError) as exc:
        eks.create_cluster(name="second", roleArn=ROLE, resourcesVpcConfig=VPC)
    response = exc.value.response
    assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == (
        "ResourceLimitExceededException",
        400,
    )
    assert f"{port}-{port}" in response["Error"]["Message"] and response["clusterName"] == "second"
    assert "second" not in eks.list_clusters()["clusters"]
    # a deleted cluster's port is free again
    eks.delete_cluster(name="first")
    eks.get_waiter("cluster_deleted").wait(name="first", WaiterConfig=FAST)
    second = create_cluster(eks, "second")
    assert _host_port(second["endpoint"]) == ("127.0.0.1", port)
    assert _ca(second) != _ca(first)
    _handshake(second["endpoint"], _ca(second))
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(second["endpoint"], _ca(first))


def _plane(data_dir: Path, k8s_port: int, ports: tuple[int, int]) -> InProcessControlPlane:
    return InProcessControlPlane(data_dir, k8s_port=k8s_port, eks_port_range=ports).start()


def _eventually(check: Any, timeout: float = 45.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except (AssertionError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_a_record_from_before_per_cluster_ports_gets_one_at_start(tmp_path: Path) -> None:
    data_dir, k8s_port = tmp_path / "plane", free_port()
    first = free_port()
    ports = (first, first)
    plane = _plane(data_dir, k8s_port, ports)
    try:
        env = EksEnv(plane, tmp_path)
        eks = env.client("eks")
        create_cluster(eks, "old")
        key = keys.cluster_key(ACCOUNT_ID, REGION, "old")

        async def as_before() -> None:  # the record as it was stored before: no port, no CA
            assert plane.app.store is not None
            await plane.records.update(
                key, lambda d: {k: v for k, v in d.items() if k not in ("_port", "_ca")}
            )
            await plane.app.store.delete(port_key(first))

        plane.call(as_before())
        legacy = eks.describe_cluster(name="old")["cluster"]
        listener_ca = (data_dir / "k8s" / "ca.crt").read_bytes()
        assert legacy["endpoint"].startswith(f"https://127.0.0.1:{k8s_port}/eks/")
        assert _ca(legacy) == listener_ca
    finally:
        plane.stop()

    plane = _plane(data_dir, k8s_port, ports)
    try:
        env = EksEnv(plane, tmp_path)
        eks = env.client("eks")
        cluster = _eventually(lambda: _served(eks, "old", k8s_port))
        assert _host_port(cluster["endpoint"]) == ("127.0.0.1", first)
        assert _ca(cluster) != listener_ca
        _handshake(cluster["endpoint"], _ca(cluster))
        # the old endpoint still answers, for the kubeconfigs that name it
        status, body = _get(legacy["endpoint"] + "/api/v1/namespaces", _token(env, "old"), listener_ca)
        assert status == 200 and body["kind"] == "NamespaceList"
    finally:
        plane.stop()


def _served(eks: Any, name: str, k8s_port: int) -> dict[str, Any]:
    cluster: dict[str, Any] = eks.describe_cluster(name=name)["cluster"]
    assert f":{k8s_port}/" not in cluster["endpoint"]
    _handshake(cluster["endpoint"], _ca(cluster))
    return cluster


def test_an_active_cluster_keeps_its_port_while_another_program_holds_it(tmp_path: Path) -> None:
    data_dir, k8s_port = tmp_path / "plane", free_port()
    first = free_port()
    plane = _plane(data_dir, k8s_port, (first, first))
    try:
        eks = EksEnv(plane, tmp_path).client("eks")
        made = create_cluster(eks, "kept")
    finally:
        plane.stop()

    squatter = socket.socket()
    squatter.bind(("127.0.0.1", first))
    squatter.listen(1)
    plane = _plane(data_dir, k8s_port, (first, first))
    try:
        eks = EksEnv(plane, tmp_path).client("eks")
        cluster = eks.describe_cluster(name="kept")["cluster"]
        assert (cluster["status"], cluster["endpoint"], _ca(cluster)) == (
            "ACTIVE",
            made["endpoint"],
            _ca(made),
        )
        squatter.close()
        _eventually(lambda: _handshake(made["endpoint"], _ca(made)))
    finally:
        squatter.close()
        plane.stop()
