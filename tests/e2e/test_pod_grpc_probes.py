"""gRPC probes for real: pods whose container serves gRPC's health protocol, probed by a real
agent on Docker through the pod's IP. Marked `docker`.

No registry and no image with a gRPC server: the container is the busybox test image running
this machine's Python (with grpcio and grpcio-health-checking), mounted read-only through
hostPath volumes at the same paths."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_pod_restarts import _events, _status
from tests.e2e.test_pods import Kube, kube  # noqa: F401  (the fixture)
from tests.support.images import TEST_IMAGE

pytestmark = pytest.mark.docker

# "" SERVING, shop.Cart NOT_SERVING, anything else unknown (NotFound).
SERVER = """
import asyncio, grpc
from grpc_health.v1 import health, health_pb2 as pb, health_pb2_grpc
async def main():
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()
    await servicer.set('', pb.HealthCheckResponse.SERVING)
    await servicer.set('shop.Cart', pb.HealthCheckResponse.NOT_SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    server.add_insecure_port('0.0.0.0:9000')
    await server.start()
    print('serving', flush=True)
    await server.wait_for_termination()
asyncio.run(main())
"""


def _host_python() -> list[str]:
    """The directories this interpreter and its packages live in, and the system libraries."""
    dirs = {
        sys.base_prefix,
        sys.prefix,
        *(d for d in ("/lib", "/lib64", "/usr/lib", "/usr/lib64") if Path(d).is_dir()),
    }
    return sorted(dirs)


def _pod(name: str, **probes: Any) -> str:
    dirs = _host_python()
    mounts = [{"name": f"h{i}", "mountPath": d, "readOnly": True} for i, d in enumerate(dirs)]
    return json.dumps({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "volumes": [{"name": f"h{i}", "hostPath": {"path": d}} for i, d in enumerate(dirs)],
            "containers": [{
                "name": "rpc", "image": TEST_IMAGE, "command": [sys.executable, "-c", SERVER],
                "volumeMounts": mounts,
                **probes,
            }],
        },
    })  # fmt: skip


def test_grpc_probes_gate_readiness_and_kill_an_unhealthy_service(kube: Kube) -> None:  # noqa: F811
    kube.stack.start_agent()
    ready = {"grpc": {"port": 9000}, "periodSeconds": 1}
    kube.kubectl("apply", "-f", "-", input=_pod("rpc-ready", readinessProbe=ready))
    live = {"grpc": {"port": 9000, "service": "shop.Cart"}, "periodSeconds": 1, "failureThreshold": 2}
    kube.kubectl("apply", "-f", "-", input=_pod("rpc-live", livenessProbe=live))
    unknown = {"grpc": {"port": 9000, "service": "shop.Nope"}, "periodSeconds": 1}
    kube.kubectl("apply", "-f", "-", input=_pod("rpc-unknown", readinessProbe=unknown))

    # SERVING: the readiness probe passes, the pod is Ready
    kube.kubectl("wait", "--for=condition=Ready", "pod/rpc-ready", "--timeout=60s")
    assert _status(kube, "rpc-ready")["ready"] is True
    assert kube.get("pod", "rpc-ready")["spec"]["containers"][0]["readinessProbe"]["grpc"] == {
        "port": 9000,
        "service": "",
    }

    # NOT_SERVING: liveness fails, the container is killed and restarted
    def announced(pod: str, reason: str, message: str) -> bool:
        return any(r == reason and m.startswith(message) for r, m in _events(kube, pod))

    not_serving = 'Liveness probe failed: service unhealthy (responded with "NOT_SERVING")'
    kube.stack.until(lambda: announced("rpc-live", "Unhealthy", not_serving), "NOT_SERVING", within=90)
    killing = "Container rpc failed liveness probe, will be restarted"
    kube.stack.until(lambda: announced("rpc-live", "Killing", killing), "the liveness kill")
    kube.stack.until(lambda: _status(kube, "rpc-live").get("restartCount", 0) >= 1, "restarted")

    # an unknown service: NotFound, never ready, never killed (a readiness probe)
    not_found = "Readiness probe failed: error: health rpc probe failed: rpc error: code = NotFound"
    kube.stack.until(lambda: announced("rpc-unknown", "Unhealthy", not_found), "NotFound")
    s = _status(kube, "rpc-unknown")
    assert s["ready"] is False and s["restartCount"] == 0 and "running" in s["state"]
    kube.kubectl("delete", "pod", "rpc-ready", "rpc-live", "rpc-unknown", "--timeout=60s")
