"""The composition root: the one place that picks implementations and wires the control plane.

``ControlPlane`` opens the store, makes sure the admin key exists, builds the AWS API from the
service handlers and runs it under uvicorn. Everything else receives what it needs from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

from stowage.api.agent.exec_ws import PREFIX as EXEC_PREFIX
from stowage.api.agent.exec_ws import serve_agent_exec
from stowage.api.agent.service import SERVICE_NAME as AGENT_SERVICE
from stowage.api.agent.service import agent_service
from stowage.api.autoscaling.service import autoscaling_service
from stowage.api.aws.app import AwsApi
from stowage.api.aws.channel import JsonChannel
from stowage.api.aws.context import RequestContext
from stowage.api.cloudwatch.service import cloudwatch_service
from stowage.api.ecs.clusters import create_cluster
from stowage.api.ecs.service import ecs_service
from stowage.api.ecs.service_launch import ServiceLauncher
from stowage.api.eks.common import EksPlane, KubeEndpoint
from stowage.api.eks.kube import DEFAULT_EKS_PORTS, EksKubernetes, ListenerInfo
from stowage.api.eks.service import eks_service
from stowage.api.k8s.context import PodLogSource
from stowage.api.k8s.metrics import PodMetricsSource
from stowage.api.k8s.pod_exec import PodExecSource
from stowage.api.k8s.service_alloc import ServiceNetwork
from stowage.api.k8s.serving import DEFAULT_K8S_PORT, K8sListener, K8sListenerConfig
from stowage.api.logs.service import logs_service
from stowage.api.metrics.instrument import Instrumented
from stowage.api.metrics.prometheus import Sources, serve_metrics
from stowage.api.usage.service import usage_service
from stowage.controllers.alarms import AlarmEvaluator
from stowage.controllers.autoscaling import AutoscalingController
from stowage.controllers.autoscaling_metrics import ServicePoints
from stowage.controllers.eks import EksController
from stowage.controllers.eks_nodegroups import EksChildren
from stowage.controllers.k8s.deployments import DeploymentController
from stowage.controllers.k8s.disruption import DisruptionController
from stowage.controllers.k8s.endpoints import EndpointsController
from stowage.controllers.k8s.hpa import HorizontalPodAutoscalerController, pod_usage_of
from stowage.controllers.k8s.jobs import JobController
from stowage.controllers.k8s.nodeports import NodePortProxy
from stowage.controllers.k8s.pod_tasks import Backing
from stowage.controllers.k8s.pods import PodController
from stowage.controllers.k8s.replicasets import Reconciler, ReplicaSetController
from stowage.controllers.leader import LeaderElection
from stowage.controllers.metering import Metering
from stowage.controllers.metrics import Metrics, MetricsConfig, service_states
from stowage.controllers.service_lb import ListenerConfig, ServiceListeners
from stowage.controllers.services.controller import ServiceController
from stowage.controllers.task_plane import TaskPlane, TaskPlaneConfig
from stowage.controllers.telemetry import RequestStats
from stowage.gc_pacing import GcPacer
from stowage.logstore import LogStore, RetentionEnforcer
from stowage.logstore.model import Owner
from stowage.metricstore import StoreConfig
from stowage.model.alarm_actions import AUTOSCALING_ARN_PREFIX
from stowage.model.aws_models import AGENT_CHANNEL_PATH
from stowage.model.identity import DEFAULT_ACCOUNT_ID, DEFAULT_REGION, Credential
from stowage.model.k8s.service_ranges import DEFAULT_NODE_PORTS, DEFAULT_SERVICE_CIDR, IpRange, PortRange
from stowage.model.pricing import DEFAULT_PRICES, PriceTable, parse_price_table
from stowage.resources.alarms import AlarmRecords
from stowage.resources.credentials import CredentialStore, new_credential
from stowage.resources.eks_ports import EksPorts
from stowage.resources.k8s_objects import K8sObjects
from stowage.resources.records import Records
from stowage.store.base import Store
from stowage.store.compactor import Compactor
from stowage.store.factory import open_store

log = logging.getLogger("stowage.server")

DEFAULT_PORT = 8686
DEFAULT_HOST = "127.0.0.1"
CREDENTIALS_FILE = "credentials.json"
ENDPOINT_FILE = "endpoint.json"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@dataclass
class ServerConfig:
    data_dir: Path
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    store: str = "sqlite"
    etcd_endpoints: list[str] = field(default_factory=lambda: ["http://127.0.0.1:2379"])
    etcd_prefix: str = "/stowage"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    account_id: str | None = None
    region: str = DEFAULT_REGION
    history_retention_revisions: int = 100_000
    agent_timeout: float = 60.0
    """Seconds without a PollAssignments before an instance shows ``agentConnected: false``."""
    stopped_task_retention: float = 3600.0
    spot_reclaim_rate: float = 0.0
    """Chaos: FARGATE_SPOT interruptions per RUNNING Spot task per hour (``controllers/spot``)."""
    """Seconds a STOPPED task stays describable."""
    default_cluster: bool = False
    """Create the ``default`` cluster at start-up (``stowage up``)."""
    k8s_port: int = DEFAULT_K8S_PORT
    """The Kubernetes API's HTTPS port (on ``host``); 0 disables it."""
    eks_port_range: tuple[int, int] = DEFAULT_EKS_PORTS
    """Each EKS cluster's endpoint gets a port of this range (on ``host``), kept while it lives."""
    service_listener_host: str = "127.0.0.1"
    """Where load-balanced services get their stable listener (``controllers/service_lb``)."""
    service_listener_ports: tuple[int, int] = (20000, 20999)
    k8s_cluster: str = "default"
    """The ECS cluster (of the admin key's account) whose instances are the Kubernetes API's
    nodes and run its pods."""
    hpa_sync_period: float = 15.0
    """Seconds between evaluations of each HorizontalPodAutoscaler (``controllers/k8s/hpa``)."""
    service_cluster_ip_range: str = DEFAULT_SERVICE_CIDR
    """Kubernetes Service cluster IPs come from this IPv4 CIDR."""
    service_node_port_range: tuple[int, int] = DEFAULT_NODE_PORTS
    """Kubernetes NodePort services get ports from this range, opened on
    ``service_listener_host``."""
    price_table: Path | None = None
    """A Fargate price file (TOML/JSON, ``model/pricing.py``) applied over the data dir's
    ``price-table.toml``/``.json`` (if any), itself over AWS us-east-1 prices."""
    metrics: StoreConfig = field(default_factory=StoreConfig)
    """Retention and size bound of the metrics store (``metrics.db``, docs/metrics.md)."""
    metrics_public: bool = False
    """Serve ``GET /metrics`` to any client (default: loopback clients only)."""
    autoscaling_tick: float = 60.0
    """Seconds between Application Auto Scaling passes (target tracking, scheduled actions)."""
    autoscaling_metric_period: int = 60
    """Period (seconds) of target tracking data points; under 60 reads the raw task series
    (docs/autoscaling.md)."""
    alarm_evaluation_interval: float = 60.0
    """Seconds between CloudWatch alarm evaluation passes (each alarm is evaluated once per
    period, at the first pass after its period ends; docs/metrics.md)."""


async def _exit_when_lost(election: LeaderElection) -> None:
    """A leader that lost its lock stops at once (as kube-controller-manager does): two leaders
    would run every controller twice. Acknowledged writes are already in the store; a
    supervisor restarts the process as a standby."""
    await election.lost.wait()
    log.critical("leadership lost: exiting so that only one control plane acts")
    logging.shutdown()
    os._exit(3)


def store_spec(config: ServerConfig) -> str:
    """The ``store.factory`` spec for this configuration."""
    if config.store == "etcd":
        hosts = ",".join(e.split("://", 1)[-1].rstrip("/") for e in config.etcd_endpoints)
        return f"etcd://{hosts}{config.etcd_prefix}"
    return config.store


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _write_private_json(path: Path, value: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(value, f, indent=2)
    os.replace(tmp, path)


PRICE_FILES = ("price-table.toml", "price-table.json")


def price_table(config: ServerConfig) -> PriceTable:
    """Default prices, then the data dir's price file, then ``--price-table``. A file that
    cannot be read or parsed stops the start-up: a silently wrong bill is worse."""
    files = [config.data_dir / name for name in PRICE_FILES if (config.data_dir / name).exists()]
    if config.price_table is not None:
        files.append(config.price_table)
    table = DEFAULT_PRICES
    for path in files:
        try:
            table = parse_price_table(path.read_text(), path.suffix.lstrip(".").lower(), table)
        except (OSError, ValueError) as exc:
            raise ValueError(f"price table {path}: {exc}") from None
    return table


def admin_credential(config: ServerConfig) -> Credential:
    """The key given on the command line, else the one kept in the data dir, else a new one."""
    account = config.account_id
    if config.access_key_id and config.secret_access_key:
        account = account or DEFAULT_ACCOUNT_ID
        return Credential(
            config.access_key_id, config.secret_access_key, account, f"arn:aws:iam::{account}:root"
        )
    saved = _read_json(config.data_dir / CREDENTIALS_FILE)
    if saved and saved.get("accessKeyId") and saved.get("secretAccessKey"):
        account = account or str(saved.get("accountId") or DEFAULT_ACCOUNT_ID)
        return Credential(
            saved["accessKeyId"], saved["secretAccessKey"], account, f"arn:aws:iam::{account}:root"
        )
    return new_credential(account or DEFAULT_ACCOUNT_ID)


def read_client_settings(data_dir: Path) -> dict[str, str] | None:
    """What ``stowage env`` prints: the endpoint and key a server in ``data_dir`` uses."""
    cred = _read_json(data_dir / CREDENTIALS_FILE)
    endpoint = _read_json(data_dir / ENDPOINT_FILE)
    if not cred:
        return None
    return {
        "AWS_ENDPOINT_URL": str((endpoint or {}).get("url") or f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"),
        "AWS_ACCESS_KEY_ID": str(cred["accessKeyId"]),
        "AWS_SECRET_ACCESS_KEY": str(cred["secretAccessKey"]),
        "AWS_DEFAULT_REGION": str(cred.get("region") or DEFAULT_REGION),
    }


class ControlPlane:
    """The ASGI application of the control plane, with its lifespan (open store, close store)."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.store: Store | None = None
        self.logstore: LogStore | None = None
        self.tasks: TaskPlane | None = None
        self.services: ServiceController | None = None
        self.listeners: ServiceListeners | None = None
        self._api: AwsApi | None = None
        self._background: list[asyncio.Task[None]] = []
        self.k8s: K8sListener | None = None
        self.pods: PodController | None = None
        self.k8s_services: list[Reconciler] = []
        self.workloads: list[
            ReplicaSetController | DeploymentController | JobController | DisruptionController
        ] = []
        self.hpa: HorizontalPodAutoscalerController | None = None
        self.metering: Metering | None = None
        self.eks_kube: EksKubernetes | None = None
        self.eks: EksController | None = None
        self.metrics: Metrics | None = None
        self.requests = RequestStats()
        self._app: Instrumented | None = None
        self._agent_channel: JsonChannel | None = None
        self._metrics_sources = Sources(self.requests)
        self.election: LeaderElection | None = None
        self.autoscaling: AutoscalingController | None = None
        """Also the step scaling ``ActionSink`` (``step_sink``) for CloudWatch alarms."""
        self.alarms: AlarmEvaluator | None = None

    async def start(self) -> None:
        cfg = self.config
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        prices = price_table(cfg)
        self.store = open_store(store_spec(cfg), cfg.data_dir)
        if cfg.store == "etcd":
            await self._lead(self.store)
        records = Records(self.store)
        credentials = CredentialStore(records)
        admin = admin_credential(cfg)
        await credentials.put(admin)
        _write_private_json(
            cfg.data_dir / CREDENTIALS_FILE,
            {
                "accessKeyId": admin.access_key_id,
                "secretAccessKey": admin.secret_access_key,
                "accountId": admin.account_id,
                "region": cfg.region,
            },
        )
        host = "127.0.0.1" if cfg.host in ("0.0.0.0", "::", "") else cfg.host
        _write_private_json(cfg.data_dir / ENDPOINT_FILE, {"url": f"http://{host}:{cfg.port}"})
        self.logstore = await LogStore.open_in(cfg.data_dir)
        # usage metrics: agents' samples go to the pipeline (its own store, metrics.db)
        metrics = self.metrics = Metrics(cfg.data_dir, MetricsConfig(store=cfg.metrics))
        self.tasks = TaskPlane(
            records,
            TaskPlaneConfig(
                agent_timeout=cfg.agent_timeout,
                stopped_retention=cfg.stopped_task_retention,
                # a short --agent-timeout is noticed within about a third of it
                liveness_interval=min(5.0, max(0.5, cfg.agent_timeout / 3)),
                spot_reclaim_rate=cfg.spot_reclaim_rate,
            ),
            stats=self.metrics,
        )
        await self.tasks.start()
        # Fargate usage: ledger written on each stop (the reaper waits for it), reconciled now
        self.metering = Metering(records, self.tasks.index)
        await self.metering.start()
        self.tasks.reaper.hold = self.metering.hold
        self.services = ServiceController(records, self.tasks.index, ServiceLauncher(self.tasks))
        await self.services.start()
        self.metrics.start(self.tasks.index, service_states(self.services))
        self.autoscaling = AutoscalingController(
            records, ServicePoints(metrics, cfg.autoscaling_metric_period), tick=cfg.autoscaling_tick
        )
        await self.autoscaling.start()
        # CloudWatch alarms: evaluated over the same query function; action sinks by ARN prefix
        self.alarms = AlarmEvaluator(
            AlarmRecords(records),
            metrics.query,
            {AUTOSCALING_ARN_PREFIX: self.autoscaling.step_sink},
            tick=cfg.alarm_evaluation_interval,
        )
        await self.alarms.start()
        first, last = cfg.service_listener_ports
        listen = ListenerConfig(cfg.service_listener_host, first, last)
        self.listeners = ServiceListeners(self.services, listen)
        await self.listeners.start()
        if cfg.default_cluster:
            await _create_default_cluster(records, admin, cfg.region)
        eks_ports = EksPorts(self.store, *cfg.eks_port_range)
        self._api = AwsApi(
            [
                ecs_service(records, self.tasks),
                logs_service(self.logstore),
                agent_service(self.tasks),
                usage_service(self.metering, prices, self.tasks.spot, metrics, records),
                autoscaling_service(records),
                cloudwatch_service(metrics, self.alarms),
            ],
            credentials.lookup,
            # EKS (REST-JSON) needs the Kubernetes listener: its clusters are served there
            rest_services=[eks_service(EksPlane(records, self._kube_endpoint(), eks_ports))]
            if cfg.k8s_port
            else [],
        )
        self._app = Instrumented(self._api, self._api.catalog, self.requests)
        self._agent_channel = JsonChannel(self._api, AGENT_SERVICE, self.requests.observe)
        index, store = self.tasks.index, self.store
        self._metrics_sources = Sources(
            self.requests,
            metrics,
            index,
            queues={
                "services": self.services.queue.depth,
                "metrics_ingest": lambda: metrics.ingestor.queue_depth if metrics.ingestor else 0,
                "fargate_unplaced": lambda: len(index.unplaced()),
            },
            watches=lambda: int(getattr(store, "watchers", 0)),
        )
        self._background.append(asyncio.create_task(RetentionEnforcer(self.logstore).run()))
        compactor = Compactor(self.store, keep_revisions=cfg.history_retention_revisions)
        self._background.append(asyncio.create_task(compactor.run()))
        if cfg.k8s_port:
            # the Kubernetes API: its own HTTPS listener (second uvicorn server, same loop)
            backing = Backing(admin.account_id, cfg.region, cfg.k8s_cluster)
            pod_logs = PodLogSource(self.logstore, Owner(admin.account_id, cfg.region), backing.space)
            network = ServiceNetwork(
                IpRange.parse(cfg.service_cluster_ip_range), PortRange(*cfg.service_node_port_range)
            )
            # each EKS cluster: its own Kubernetes API on its own port (and /eks/<id> here)
            self.eks_kube = EksKubernetes(
                self.store,
                self.tasks,
                self.logstore,
                credentials.lookup,
                ListenerInfo(host, self._k8s_port, cfg.host),
                ports=eks_ports,
                metrics=metrics,
                hpa_sync_period=cfg.hpa_sync_period,
            )
            self.k8s = K8sListener(
                K8sListenerConfig(cfg.data_dir, cfg.host, cfg.k8s_port, network),
                self.store,
                pod_logs,
                front=self.eks_kube.front,
            )
            await self.k8s.start()
            exec_to = (backing.account, backing.region, backing.cluster)
            self.k8s.serve_exec(PodExecSource(self.tasks.index, self.tasks.exec, *exec_to))
            pod_metrics = PodMetricsSource(metrics, *exec_to)
            self.k8s.serve_metrics(pod_metrics)
            # pods run as ECS tasks of the backing cluster; its instances are the nodes
            self.pods = PodController(K8sObjects(self.store), self.tasks, backing)
            await self.pods.start()
            # Deployment -> ReplicaSet -> Pod, Job -> Pod: level-triggered controllers, same store
            k8s_objects = K8sObjects(self.store)
            self.workloads = [
                ReplicaSetController(k8s_objects, backing.space),
                DeploymentController(k8s_objects, backing.space),
                JobController(k8s_objects, backing.space),
                DisruptionController(k8s_objects, backing.space),
            ]
            for controller in self.workloads:
                await controller.start()
            # HorizontalPodAutoscalers scale them through /scale on the pods' latest samples
            self.hpa = HorizontalPodAutoscalerController(
                k8s_objects,
                backing.space,
                lambda: pod_usage_of(pod_metrics.pods()),
                sync_period=cfg.hpa_sync_period,
            )
            await self.hpa.start()
            # Services: Endpoints follow the pods; node ports open where ECS service listeners do
            self.k8s_services = [
                EndpointsController(k8s_objects, backing.space),
                NodePortProxy(k8s_objects, backing.space, host=cfg.service_listener_host),
            ]
            for service_controller in self.k8s_services:
                await service_controller.start()
        if self.eks_kube is not None:
            self.eks = EksController(
                records, self.eks_kube, EksChildren(records, self.tasks.index, self.eks_kube)
            )
            await self.eks.start()
        # Everything loaded so far (models, compiled shapes, the first index) lives as long as
        # the process: keep it out of the collector's generations.
        PACER.collect_fully()
        if PACER.installed:  # a server process (`serve`), not a control plane inside a test
            self._background.append(asyncio.create_task(_pace_collections(), name="gc-pacing"))
        log.info("control plane ready on %s:%s (store: %s)", cfg.host, cfg.port, cfg.store)

    def _kube_endpoint(self) -> KubeEndpoint:
        return KubeEndpoint(
            url=lambda: self.k8s.url if self.k8s is not None else "",
            ca_cert=lambda: self.k8s.ca_cert if self.k8s is not None else None,
            bind=self.config.host,
        )

    def _k8s_port(self) -> int:
        return self.k8s.port if self.k8s is not None else 0

    def begin_shutdown(self) -> None:
        """A shutdown is starting: end the agents' long-polls now rather than at their timeout."""
        if self.tasks is not None:
            self.tasks.index.release_waiters()
        if self.eks_kube is not None:
            self.eks_kube.begin_shutdown()
        if self.k8s is not None:
            self.k8s.begin_shutdown()

    async def _lead(self, store: Store) -> None:
        """Active/passive HA on etcd: this control plane serves (its APIs and controllers) only
        while it holds the leader lock (``controllers/leader``); a standby waits here, its
        port not yet open, and takes over when the active one stops or its lease runs out."""
        self.election = LeaderElection(store)
        campaign = asyncio.create_task(self.election.run(), name="leader-election")
        if not self.election.elected.is_set():
            log.info("standby: waiting to lead (%s)", self.election.identity)
        await self.election.elected.wait()
        self._background.append(campaign)
        self._background.append(asyncio.create_task(_exit_when_lost(self.election), name="leader-watch"))

    async def stop(self) -> None:
        if self.election is not None:
            await self.election.resign()
        if self.eks is not None:
            await self.eks.stop()
        if self.eks_kube is not None:
            await self.eks_kube.stop()
        for service_controller in self.k8s_services:
            await service_controller.stop()
        if self.hpa is not None:
            await self.hpa.stop()
        for controller in self.workloads:
            await controller.stop()
        if self.pods is not None:
            await self.pods.stop()
        if self.k8s is not None:
            await self.k8s.stop()
        for task in self._background:
            task.cancel()
        for task in self._background:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.listeners is not None:
            await self.listeners.stop()
        if self.alarms is not None:
            await self.alarms.stop()
        if self.autoscaling is not None:
            await self.autoscaling.stop()
        if self.services is not None:
            await self.services.stop()
        if self.metering is not None:
            await self.metering.stop()
        if self.tasks is not None:
            await self.tasks.stop()
        if self.metrics is not None:
            await self.metrics.stop()
        if self.logstore is not None:
            await self.logstore.close()
        if self.store is not None:
            await self.store.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            if scope["path"] == "/_stowage/healthz":
                await _plain(send, 200, b"ok")
                return
            if scope["path"] == "/metrics":
                await serve_metrics(scope, send, self._metrics_sources, public=self.config.metrics_public)
                return
            assert self._app is not None
            await self._app(scope, receive, send)
        elif kind == "websocket":
            if scope["path"] == AGENT_CHANNEL_PATH and self._agent_channel is not None:
                await self._agent_channel.serve(scope, receive, send)
            elif str(scope["path"]).startswith(EXEC_PREFIX) and self.tasks is not None:
                await serve_agent_exec(self.tasks.exec, scope, receive, send)
            else:
                await receive()
                await send({"type": "websocket.close", "code": 4404})
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.start()
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


PACER = GcPacer()
"""The process's garbage collection pacing (installed by `tune_runtime`)."""

FULL_COLLECTION_CHECK_S = 5.0


async def _pace_collections() -> None:
    """Full collections run here, between requests, when the pacer says one is due."""
    while True:
        await asyncio.sleep(FULL_COLLECTION_CHECK_S)
        if PACER.collect_if_due():
            log.info(
                "full garbage collection: %.0f ms, next at %d MiB resident",
                PACER.last_full_s * 1000,
                PACER.full_at >> 20,
            )


async def _create_default_cluster(records: Records, admin: Credential, region: str) -> None:
    """What ``stowage up`` starts with, as a new ECS account has: the ``default`` cluster
    (CreateCluster is idempotent, so a restart keeps the existing one)."""
    ctx = RequestContext(
        account_id=admin.account_id,
        region=region,
        request_id="startup",
        access_key_id=admin.access_key_id,
        principal_arn=admin.principal_arn,
        now=time.time(),
    )
    await create_cluster(records, ctx, {"clusterName": "default"})


async def _plain(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _Server(uvicorn.Server):
    """uvicorn, telling the control plane when a shutdown begins: uvicorn drains requests
    before the ASGI lifespan shutdown runs, and long-polls must end first."""

    def __init__(self, config: uvicorn.Config, app: ControlPlane) -> None:
        super().__init__(config)
        self.control_plane = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.control_plane.begin_shutdown()
        super().handle_exit(sig, frame)


def uvicorn_server(config: ServerConfig) -> uvicorn.Server:
    """The control plane under uvicorn (httptools, uvloop), not yet running."""
    app = ControlPlane(config)
    uv = uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level="warning",
        server_header=False,
        date_header=False,
        # No X-Forwarded-* rewriting: nothing reads it, and the loopback check of GET /metrics
        # must see the peer's own address.
        proxy_headers=False,
        timeout_keep_alive=75,
        # long-polling agents would otherwise hold a shutdown for their whole wait
        timeout_graceful_shutdown=3,
        backlog=4096,
    )
    return _Server(uv, app)


def tune_runtime() -> None:
    """Interpreter settings for a long-running server process (see docs/architecture.md).

    - The SQLite writer thread drops the GIL around every statement and must win it back from
      the busy event loop each time: with the default 5 ms switch interval a batch of
      transactions waits milliseconds per statement. A short interval hands it over promptly.
    - The control plane allocates many long-lived objects (records, index entries) and few
      cyclic ones: short young collections whose survivors are frozen (`gc_pacing`)."""
    sys.setswitchinterval(0.0001)
    PACER.install()


def serve(config: ServerConfig) -> None:
    """Run the control plane until SIGINT/SIGTERM."""
    tune_runtime()
    uvicorn_server(config).run()
