"""Probes through the real API server with the official client: defaults filled in, bad probes
refused with the API server's 422 causes. (Running them is the agent's: tests/agent,
tests/e2e/test_pod_restarts.py.)"""

from __future__ import annotations

import json
from typing import Any

import pytest


def _pod(name: str, **probes: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "app", "image": "busybox", **probes}]},
    }


def test_probe_defaults_are_filled_in(core: Any, namespace: str) -> None:
    probe = {"httpGet": {"port": 8080}, "initialDelaySeconds": 5}
    core.create_namespaced_pod(
        namespace, _pod("probed", livenessProbe=probe, readinessProbe={"exec": {"command": ["true"]}})
    )
    got = core.read_namespaced_pod("probed", namespace).spec.containers[0]
    liveness = got.liveness_probe
    assert (liveness.initial_delay_seconds, liveness.period_seconds, liveness.timeout_seconds) == (5, 10, 1)
    assert (liveness.success_threshold, liveness.failure_threshold) == (1, 3)
    assert (liveness.http_get.path, liveness.http_get.scheme) == ("/", "HTTP")
    assert got.readiness_probe._exec.command == ["true"]


@pytest.mark.parametrize(
    ("probes", "field"),
    [
        (
            {"livenessProbe": {"exec": {"command": ["true"]}, "tcpSocket": {"port": 80}}},
            "livenessProbe.tcpSocket",
        ),
        (
            {"startupProbe": {"tcpSocket": {"port": 80}, "successThreshold": 3}},
            "startupProbe.successThreshold",
        ),
        ({"readinessProbe": {"grpc": {"port": 70000}}}, "readinessProbe.grpc.port"),
        ({"livenessProbe": {"grpc": {"service": "shop.Cart"}}}, "livenessProbe.grpc.port"),
        ({"livenessProbe": {"httpGet": {"port": 70000}}}, "livenessProbe.httpGet.port"),
    ],
)
def test_bad_probes_are_refused(core: Any, namespace: str, probes: dict[str, Any], field: str) -> None:
    from kubernetes import client

    with pytest.raises(client.ApiException) as refused:
        core.create_namespaced_pod(namespace, _pod("bad", **probes))
    assert refused.value.status == 422
    status = json.loads(refused.value.body)
    assert status["reason"] == "Invalid"
    assert f"spec.containers[0].{field}" in [c["field"] for c in status["details"]["causes"]]


def test_grpc_probes_are_accepted_with_their_service_defaulted(core: Any, namespace: str) -> None:
    probes = {
        "livenessProbe": {"grpc": {"port": 9000}},
        "readinessProbe": {"grpc": {"port": 9000, "service": "shop.Cart"}, "periodSeconds": 2},
    }
    core.create_namespaced_pod(namespace, _pod("grpc", **probes))
    got = core.read_namespaced_pod("grpc", namespace).spec.containers[0]
    assert (got.liveness_probe.grpc.port, got.liveness_probe.grpc.service) == (9000, "")
    assert (got.readiness_probe.grpc.port, got.readiness_probe.grpc.service) == (9000, "shop.Cart")
    assert (got.readiness_probe.period_seconds, got.readiness_probe.timeout_seconds) == (2, 1)


def test_a_grpc_port_out_of_range_gets_the_api_servers_message(core: Any, namespace: str) -> None:
    from kubernetes import client

    with pytest.raises(client.ApiException) as refused:
        core.create_namespaced_pod(namespace, _pod("bad", startupProbe={"grpc": {"port": 0}}))
    causes = json.loads(refused.value.body)["details"]["causes"]
    assert {
        "reason": "FieldValueInvalid",
        "message": "Invalid value: 0: must be between 1 and 65535, inclusive",
        "field": "spec.containers[0].startupProbe.grpc.port",
    } in causes
