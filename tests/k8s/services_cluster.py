"""An in-process Kubernetes API with the Service machinery, for fast tests with the real kubectl
and the official client: the HTTPS listener (which also keeps ``default/kubernetes``), the
ReplicaSet and Deployment controllers, the Endpoints controller and the NodePort proxy on
127.0.0.1, over a memory store.

No Docker: a stand-in kubelet (as kwok does) makes every pod Running with an IP, Ready unless
it carries the label ``ready=no`` (so a test flips readiness with ``kubectl label``). A pod's
IP is its ``test.stowage.io/ip`` annotation when it has one (tests point pods at 127.0.0.1 and
serve their "containers" from the test process), else a distinct 10.244.0.x address.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stowage.api.k8s.service_alloc import ServiceNetwork
from stowage.api.k8s.serving import K8sListener, K8sListenerConfig
from stowage.controllers.k8s.deployments import DeploymentController
from stowage.controllers.k8s.endpoints import EndpointsController
from stowage.controllers.k8s.nodeports import NodePortProxy
from stowage.controllers.k8s.replicasets import ReplicaSetController
from stowage.model.k8s.meta import rfc3339
from stowage.resources.k8s_objects import CLUSTER_LOCAL, K8sObjects, resource_prefix
from stowage.store.memory import MemoryStore
from tests.k8s.conftest import KUBECTL

IP_ANNOTATION = "test.stowage.io/ip"


async def kubelet(objects: K8sObjects) -> None:
    prefix = resource_prefix(CLUSTER_LOCAL, "", "pods")
    addresses = itertools.count(10)
    while True:
        page, _more, _rev = await objects.list(prefix)
        for stored in page:
            pod = stored.obj
            meta = pod["metadata"]
            if meta.get("deletionTimestamp"):
                continue
            status = pod.get("status") or {}
            ip = (meta.get("annotations") or {}).get(IP_ANNOTATION) or status.get("podIP")
            ip = ip or f"10.244.0.{next(addresses)}"
            ready = "False" if (meta.get("labels") or {}).get("ready") == "no" else "True"
            current = {c["type"]: c["status"] for c in status.get("conditions") or []}
            if (
                status.get("phase") == "Running"
                and status.get("podIP") == ip
                and current.get("Ready") == ready
            ):
                continue
            now = rfc3339(time.time())
            containers = (pod.get("spec") or {}).get("containers") or []
            pod["status"] = {
                "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "startTime": now,
                "conditions": [
                    {"type": t, "status": ready if t in ("Ready", "ContainersReady") else "True",
                     "lastTransitionTime": now}
                    for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
                ],
                "containerStatuses": [
                    {"name": c["name"], "image": c.get("image", ""), "ready": ready == "True",
                     "restartCount": 0, "started": True, "state": {"running": {"startedAt": now}}}
                    for c in containers
                ],
            }  # fmt: skip
            await objects.replace(stored.key, pod, stored.revision)
        await asyncio.sleep(0.05)


class ServiceCluster:
    def __init__(self, data_dir: Path, network: ServiceNetwork | None = None) -> None:
        self.data_dir = data_dir
        self.network = network or ServiceNetwork()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.store = MemoryStore()
        self.listener: K8sListener | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        objects = K8sObjects(self.store)
        self.listener = K8sListener(
            K8sListenerConfig(self.data_dir, "127.0.0.1", 0, self.network), self.store
        )
        await self.listener.start()
        controllers = [
            ReplicaSetController(objects, CLUSTER_LOCAL),
            DeploymentController(objects, CLUSTER_LOCAL),
            EndpointsController(objects, CLUSTER_LOCAL),
            NodePortProxy(objects, CLUSTER_LOCAL, host="127.0.0.1"),
        ]
        for c in controllers:
            await c.start()
        fake_kubelet = asyncio.create_task(kubelet(objects))
        self._stop = asyncio.Event()
        self.ready.set()
        try:
            await self._stop.wait()
        finally:
            fake_kubelet.cancel()
            for c in controllers:
                await c.stop()
            await self.listener.stop()

    def start(self) -> None:
        self._thread.start()
        assert self.ready.wait(30), "the in-process Kubernetes API did not start"

    def stop(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=15)

    @property
    def port(self) -> int:
        assert self.listener is not None
        return self.listener.port

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> Any:
        if not Path(KUBECTL).exists():
            pytest.fail(f"kubectl is not at {KUBECTL}", pytrace=False)
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
        env["HOME"] = str(self.data_dir)
        proc = subprocess.run(
            [KUBECTL, "--kubeconfig", str(self.data_dir / "kubeconfig"), *args],
            capture_output=True, text=True, input=input, timeout=90, env=env,
        )  # fmt: skip
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    def get(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def client(self) -> Any:
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.data_dir / "kubeconfig"))


def eventually(check: Callable[[], bool], timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} not reached"
        time.sleep(0.1)
