"""The Kubernetes listener: builds the API over a store, and runs it under its own
``uvicorn.Server`` (HTTPS) in the control plane's event loop, beside the AWS listener.

The socket is bound before the server starts, so a port in use fails start-up with a clear
error, and port 0 (an ephemeral port, for tests) works: the kubeconfig gets the real port.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

from stowage.api.k8s.app import K8sApp
from stowage.api.k8s.apps import APPS
from stowage.api.k8s.auth import Authenticator, Authorizer
from stowage.api.k8s.autoscaling import AUTOSCALING
from stowage.api.k8s.batch import BATCH
from stowage.api.k8s.builtin import BUILTIN
from stowage.api.k8s.context import ApiContext, PodLogSource
from stowage.api.k8s.controllers import BuiltinControllers
from stowage.api.k8s.core_services import NETWORKING
from stowage.api.k8s.http import Receive, Scope, Send
from stowage.api.k8s.metrics import METRICS, PodMetricsSource
from stowage.api.k8s.objects import ObjectService
from stowage.api.k8s.openapi import OpenApi, load_schemas
from stowage.api.k8s.pki import ensure_credentials, write_kubeconfig
from stowage.api.k8s.pod_exec import PodExecSource
from stowage.api.k8s.policy import POLICY
from stowage.api.k8s.registry import Registry
from stowage.api.k8s.service_alloc import ServiceAllocator, ServiceNetwork, ensure_kubernetes_service
from stowage.api.k8s.workloads import WORKLOADS
from stowage.api.k8s.ws_protocol import K8sWebSocketProtocol
from stowage.model.k8s.schema import Schemas
from stowage.resources.k8s_objects import CLUSTER_LOCAL, K8sObjects
from stowage.store.base import Store

log = logging.getLogger(__name__)

DEFAULT_K8S_PORT = 6443


@dataclass
class K8sListenerConfig:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = DEFAULT_K8S_PORT
    network: ServiceNetwork = field(default_factory=ServiceNetwork)
    """Service cluster IP and node port ranges."""


def build_api(
    store: Store,
    auth: str | Authenticator,
    pod_logs: PodLogSource | None = None,
    network: ServiceNetwork | None = None,
    *,
    space: str = CLUSTER_LOCAL,
    authorizer: Authorizer | None = None,
    objects: K8sObjects | None = None,
) -> tuple[K8sApp, BuiltinControllers]:
    """The app and its controllers over the object space ``space`` of ``store`` (no listener:
    tests can mount it anywhere; each EKS cluster is one more such app, ``api/eks/kube``).
    ``auth`` is the admin token or an authenticator; ``objects``: how objects are written
    (an EKS cluster's pass pod creates through its Fargate admission)."""
    registry, schemas, openapi = _shared()
    objects = objects or K8sObjects(store)
    allocator = ServiceAllocator(store, space, network or ServiceNetwork())
    service = ObjectService(objects, space, allocations={("", "services"): allocator})
    ctx = ApiContext(service, registry, schemas, openapi, pod_logs=pod_logs)
    return K8sApp(ctx, auth, authorizer), BuiltinControllers(service, registry)


@functools.cache
def _shared() -> tuple[Registry, Schemas, OpenApi]:
    """The served kinds, their schemas and OpenAPI documents: built once per process and shared
    by every API (stowage's own and each EKS cluster's serve the same kinds)."""
    registry = Registry((*BUILTIN, *WORKLOADS, *APPS, *BATCH, *AUTOSCALING, *NETWORKING, *METRICS, *POLICY))
    schemas = load_schemas()
    return registry, schemas, OpenApi(registry, schemas)


class QuietServer(uvicorn.Server):
    """A second uvicorn server leaves signals to the first (which stops us on shutdown)."""

    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[no-untyped-def]
        yield


def listen_socket(host: str, port: int) -> socket.socket:
    """A listening, non-blocking TCP socket on ``host:port`` (port 0: an ephemeral one).
    Raises ``OSError`` when the address is in use."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def tls_config(
    app: Callable[[Scope, Receive, Send], Awaitable[None]], certfile: str, keyfile: str
) -> uvicorn.Config:
    """How every Kubernetes HTTPS listener runs under uvicorn (on the caller's event loop)."""
    return uvicorn.Config(
        app,
        loop="none",
        http="httptools",
        ws=K8sWebSocketProtocol,  # kubectl port-forward's subprotocol is not an RFC 7230 token
        lifespan="off",
        access_log=False,
        log_level="warning",
        server_header=False,
        timeout_keep_alive=75,
        timeout_graceful_shutdown=2,
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
    )


async def serve_started(server: uvicorn.Server, sock: socket.socket) -> asyncio.Task[None]:
    """Run ``server`` on ``sock`` in a task, returned once it accepts connections."""
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(1000):  # uvicorn flags readiness with a bool, not an event
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    if task.done():
        task.result()
        raise RuntimeError("the Kubernetes listener stopped at start-up")
    return task


Front = Callable[[K8sApp], Callable[[Scope, Receive, Send], Awaitable[None]]]
"""Wraps the local API with what else the listener serves (the EKS clusters' path prefixes)."""


class K8sListener:
    def __init__(
        self,
        config: K8sListenerConfig,
        store: Store,
        pod_logs: PodLogSource | None = None,
        front: Front | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.pod_logs = pod_logs
        self.front = front
        self.port = config.port
        self.url = ""
        """``https://host:port`` once started."""
        self.ca_cert: Path | None = None
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._controllers: BuiltinControllers | None = None
        self._app: K8sApp | None = None

    def serve_metrics(self, source: PodMetricsSource) -> None:
        """Let ``metrics.k8s.io`` (``kubectl top``) read the pods' samples."""
        assert self._app is not None
        self._app.ctx.pod_metrics = source

    def serve_exec(self, source: PodExecSource) -> None:
        """Let ``pods/exec`` reach the pods' hosts (once the listener has started)."""
        assert self._app is not None
        self._app.ctx.pod_exec = source

    async def start(self) -> None:
        cfg = self.config
        creds = ensure_credentials(cfg.data_dir, cfg.host)
        app, controllers = build_api(self.store, creds.token, self.pod_logs, cfg.network)
        self._app = app
        try:
            sock = listen_socket(cfg.host, cfg.port)
        except OSError as e:
            raise RuntimeError(f"cannot listen for the Kubernetes API on {cfg.host}:{cfg.port}: {e}") from e
        self.port = int(sock.getsockname()[1])
        host = "127.0.0.1" if cfg.host in ("0.0.0.0", "::", "") else cfg.host
        url_host = f"[{host}]" if ":" in host else host
        self.url = f"https://{url_host}:{self.port}"
        self.ca_cert = creds.ca_cert
        write_kubeconfig(cfg.data_dir, creds, self.url)
        await controllers.start()
        self._controllers = controllers
        types = {t.plural: t for t in NETWORKING}
        await ensure_kubernetes_service(app.ctx.service, types, cfg.network, host, self.port)
        uv = tls_config(
            app if self.front is None else self.front(app), str(creds.server_cert), str(creds.server_key)
        )
        self._server = QuietServer(uv)
        self._task = await serve_started(self._server, sock)
        log.info("Kubernetes API on https://%s:%s (kubeconfig in %s)", host, self.port, cfg.data_dir)

    def begin_shutdown(self) -> None:
        """End watches now: they would otherwise hold the shutdown for their whole timeout."""
        if self._app is not None:
            self._app.ctx.closing.set()
        if self._server is not None:
            self._server.should_exit = True

    async def stop(self) -> None:
        self.begin_shutdown()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, timeout=5)
        if self._controllers is not None:
            await self._controllers.stop()
