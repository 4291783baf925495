"""`kubectl port-forward` on real Docker: the machine's kubectl (SPDY tunnelled in a WebSocket,
its default since 1.31) forwards local ports to a busybox `httpd` in a pod, through the API and
the agent's tunnel into the pod's network namespace. Marked `docker`."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

from tests.e2e.test_pods import Kube, kube  # noqa: F401  (the fixture)
from tests.k8s.conftest import KUBECTL
from tests.support.images import TEST_IMAGE
from tests.support.server import free_port

pytestmark = pytest.mark.docker

WEB = """apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {{app: web}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {image}
    command: ["sh", "-c"]
    args: ["mkdir -p /www && echo served-from-the-pod > /www/index.html && httpd -f -p 8080 -h /www"]
    readinessProbe:
      tcpSocket: {{port: 8080}}
      periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {{app: web}}
  ports:
  - port: 80
    targetPort: 8080
"""


DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: site
spec:
  replicas: 1
  selector:
    matchLabels: {{app: site}}
  template:
    metadata:
      labels: {{app: site}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: {image}
        command: ["sh", "-c"]
        args: ["mkdir -p /www && echo served-by-the-deployment >/www/index.html && httpd -f -p 8080 -h /www"]
        readinessProbe:
          tcpSocket: {{port: 8080}}
          periodSeconds: 1
"""


@dataclass
class Forward:
    proc: subprocess.Popen[str]
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)

    def read(self) -> None:
        def lines(stream: object, into: list[str]) -> None:
            for line in iter(stream.readline, ""):  # type: ignore[attr-defined]
                into.append(line)
                if line.startswith("Forwarding from"):
                    self.ready.set()

        threading.Thread(target=lines, args=(self.proc.stdout, self.out), daemon=True).start()
        threading.Thread(target=lines, args=(self.proc.stderr, self.err), daemon=True).start()


@contextmanager
def port_forward(kube: Kube, *args: str) -> Iterator[Forward]:  # noqa: F811
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}  # no KUBECTL_* switches
    env["HOME"] = str(kube.k8s.server.data_dir)
    proc = subprocess.Popen(
        [KUBECTL, "--kubeconfig", str(kube.k8s.kubeconfig), "port-forward", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    forward = Forward(proc)
    forward.read()
    try:
        assert forward.ready.wait(30), "kubectl port-forward did not start:\n" + "".join(forward.err)
        yield forward
    finally:
        proc.terminate()
        proc.wait(10)


def http_get(port: int) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=20) as conn:
        conn.sendall(b"GET /index.html HTTP/1.0\r\nHost: pod\r\n\r\n")
        return _read_all(conn)


def _read_all(conn: socket.socket) -> str:
    chunks = []
    while chunk := conn.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks).decode()


def test_kubectl_port_forward_reaches_the_pods_port(kube: Kube) -> None:  # noqa: F811
    kube.stack.start_agent()
    kube.kubectl("apply", "-f", "-", input=WEB.format(image=TEST_IMAGE))
    kube.kubectl("wait", "--for=condition=Ready", "pod/web", "--timeout=60s")

    local, other = free_port(), free_port()
    with port_forward(kube, "pod/web", f"{local}:8080", f"{other}:8080") as forward:
        assert f"Forwarding from 127.0.0.1:{local} -> 8080" in "".join(forward.out)
        answer = http_get(local)
        assert answer.startswith("HTTP/1.") and " 200 " in answer.splitlines()[0]
        assert answer.endswith("served-from-the-pod\n")
        # two connections open at once, on one port, answered out of order; and a second port
        first = socket.create_connection(("127.0.0.1", local), timeout=20)
        second = socket.create_connection(("127.0.0.1", local), timeout=20)
        with first, second:
            first.sendall(b"GET /index.html HTTP/1.0\r\n")  # not finished yet: the pod waits
            second.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
            assert _read_all(second).endswith("served-from-the-pod\n")
            first.sendall(b"\r\n")
            assert _read_all(first).endswith("served-from-the-pod\n")
        assert http_get(other).endswith("served-from-the-pod\n")
        assert sum("Handling connection for" in line for line in forward.out) == 4

    # a service and a deployment are resolved to a pod by kubectl itself
    svc_port = free_port()
    with port_forward(kube, "svc/web", f"{svc_port}:80") as forward:
        assert f"127.0.0.1:{svc_port} -> 8080" in "".join(forward.out)
        assert http_get(svc_port).endswith("served-from-the-pod\n")
    kube.kubectl("apply", "-f", "-", input=DEPLOYMENT.format(image=TEST_IMAGE))
    kube.kubectl("rollout", "status", "deployment/site", "--timeout=60s")
    deploy_port = free_port()
    with port_forward(kube, "deploy/site", f"{deploy_port}:8080"):
        assert http_get(deploy_port).endswith("served-by-the-deployment\n")


def test_port_forward_to_a_closed_port_reports_the_kubelets_error(kube: Kube) -> None:  # noqa: F811
    kube.stack.start_agent()
    kube.kubectl("apply", "-f", "-", input=WEB.format(image=TEST_IMAGE))
    kube.kubectl("wait", "--for=condition=Ready", "pod/web", "--timeout=60s")
    local = free_port()
    with port_forward(kube, "web", f"{local}:9999") as forward:
        with socket.create_connection(("127.0.0.1", local), timeout=20) as conn:
            conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
            assert _read_all(conn) == ""  # closed without an answer
        # kubectl prints the error stream's message, then gives up the whole forward
        assert forward.proc.wait(20) != 0
        err = "".join(forward.err)
        assert "error forwarding port 9999 to pod" in err
        assert "failed to connect to localhost:9999 inside namespace" in err
        assert "dial tcp4 127.0.0.1:9999: connect: connection refused" in err

    # a pod that does not exist: kubectl's own lookup says so
    missing = kube.kubectl("port-forward", "pod/nope", f"{free_port()}:80", check=False)
    assert missing.returncode != 0 and 'pods "nope" not found' in missing.stderr
