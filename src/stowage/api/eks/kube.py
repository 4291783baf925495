"""Each EKS cluster's Kubernetes API: built, served and torn down inside the control plane.

``EksKubernetes`` is the ``controllers/eks.ClusterRuntime``. For each cluster it runs one stack:

- an API (``api/k8s/serving.build_api``) over the cluster's own object space ``eks-<id>``, with
  EKS token authentication and access-entry authorization (``kube_auth``), its own Service
  range (``kubernetesNetworkConfig.serviceIpv4Cidr``) and ``default/kubernetes`` Service;
- the same controllers stowage's own API runs (namespaces and garbage collection, pods,
  ReplicaSets, Deployments, Jobs, Endpoints, HorizontalPodAutoscalers), its pods placed by
  the same scheduler on the container instances of the ECS cluster ``eks-<name>``
  (``model/eks/clusters``), created with the EKS cluster: node groups' agents and
  self-managed agents join it;
- ``metrics.k8s.io`` (``kubectl top``) and the HPAs' metrics: the agents' latest samples of
  that ECS cluster's tasks (when the control plane runs the metrics pipeline).

Each cluster is served on a TLS listener of its own (``listener.ClusterListener``): its port,
chosen once at CreateCluster from ``--eks-port-range`` and kept in the record with the
cluster's own CA, so that ``certificateAuthority.data`` verifies that cluster's endpoint and no
other, as on EKS. A record without them (made before per-cluster listeners) gets them at its
next provisioning; a CREATING cluster whose port another program took since CreateCluster gets
another one (its endpoint was never shown); an ACTIVE cluster whose port is taken is retried by
the controller until it is free.

``front`` wraps the Kubernetes listener's local API: ``/eks/<id>/...`` goes to that cluster's
API with the prefix stripped (the endpoint before per-cluster listeners, kept for existing
kubeconfigs; served with the listener's CA), everything else to the local API.

Node ports (``NodePortProxy``) are not opened for EKS clusters: their ranges are per cluster,
so two clusters could claim the same host port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from stowage.api.aws.context import RequestContext
from stowage.api.aws.errors import AwsError
from stowage.api.ecs.clusters import create_cluster as create_ecs_cluster
from stowage.api.ecs.container_instances import deregister_container_instance
from stowage.api.eks.kube_auth import AccessIndex, EksAuthenticator
from stowage.api.eks.listener import ClusterListener, port_free
from stowage.api.eks.tokens import TokenVerifier
from stowage.api.k8s.app import K8sApp
from stowage.api.k8s.context import PodLogSource
from stowage.api.k8s.controllers import BuiltinControllers
from stowage.api.k8s.core_services import NETWORKING
from stowage.api.k8s.http import Receive, Scope, Send, send_error
from stowage.api.k8s.metrics import PodMetricsSource
from stowage.api.k8s.pki import new_ca
from stowage.api.k8s.pod_exec import PodExecSource
from stowage.api.k8s.service_alloc import ServiceNetwork, ensure_kubernetes_service
from stowage.api.k8s.serving import build_api, listen_socket
from stowage.controllers.k8s.deployments import DeploymentController
from stowage.controllers.k8s.disruption import DisruptionController
from stowage.controllers.k8s.endpoints import EndpointsController
from stowage.controllers.k8s.fargate_admission import FargateAdmission
from stowage.controllers.k8s.fargate_pods import release_profile
from stowage.controllers.k8s.hpa import SYNC_PERIOD, HorizontalPodAutoscalerController, pod_usage_of
from stowage.controllers.k8s.jobs import JobController
from stowage.controllers.k8s.pod_tasks import Backing, pod_of
from stowage.controllers.k8s.pods import PodController
from stowage.controllers.k8s.replicasets import ReplicaSetController
from stowage.controllers.metrics import Metrics
from stowage.controllers.task_plane import TaskPlane
from stowage.logstore import LogStore
from stowage.logstore.model import Owner
from stowage.model import tasks as task_model
from stowage.model.eks import clusters as model
from stowage.model.identity import Credential
from stowage.model.k8s.errors import K8sError
from stowage.model.k8s.service_ranges import IpRange
from stowage.resources import eks as keys
from stowage.resources import eks_ports
from stowage.resources.eks_ports import EksPorts, Holder
from stowage.resources.k8s_objects import K8sObjects, cluster_prefix
from stowage.resources.k8s_ranges import NODE_PORTS, SERVICE_IPS, range_prefix
from stowage.resources.records import Doc, Records
from stowage.resources.tasks import TaskRecords
from stowage.store.base import Compare, Delete, Op, Store

log = logging.getLogger(__name__)

App = Callable[[Scope, Receive, Send], Awaitable[None]]
CredentialLookup = Callable[[str], Awaitable[Credential | None]]
DRAIN_TIMEOUT = 10.0
DEFAULT_EKS_PORTS = (6501, 6599)
"""The clusters' endpoint ports (``--eks-port-range``): near the Kubernetes listener's 6443."""
"""How long a teardown waits for its pods' tasks to be told to stop."""


class _Service(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class _Stack:
    key: str
    doc: Doc
    app: K8sApp
    access: AccessIndex
    builtin: BuiltinControllers
    controllers: list[_Service] = field(default_factory=list)
    listener: ClusterListener | None = None

    @property
    def space(self) -> str:
        return model.space_of(self.doc)


@dataclass
class ListenerInfo:
    """Where the Kubernetes listener is: ``host`` as its URL shows it, ``bind`` the address it
    listens on (the clusters' own listeners listen there too)."""

    host: str
    port: Callable[[], int]
    bind: str = ""


class NoPort(RuntimeError):
    """No port of the range is free for a cluster's listener."""


class EksKubernetes:
    def __init__(
        self,
        store: Store,
        tasks: TaskPlane,
        logstore: LogStore,
        credentials: CredentialLookup,
        listener: ListenerInfo,
        *,
        ports: EksPorts,
        metrics: Metrics | None = None,
        hpa_sync_period: float = SYNC_PERIOD,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.hpa_sync_period = hpa_sync_period
        self.records = Records(store)
        self.tasks = tasks
        self.logstore = logstore
        self.listener = listener
        self.ports = ports
        self.verifier = TokenVerifier(credentials)
        self._stacks: dict[str, _Stack] = {}
        self._by_id: dict[str, _Stack] = {}

    # -- ClusterRuntime --------------------------------------------------------------------------
    async def provision(self, key: str, cluster: Doc) -> None:
        stack = self._stacks.get(key)
        if stack is not None and stack.doc.get("_id") == cluster.get("_id"):
            stack.doc = cluster
            stack.access.cluster = cluster
            return
        if stack is not None:  # the name now belongs to a new cluster
            await self._teardown(stack)
        stack = await self._build(key, cluster)
        self._stacks[key] = stack
        self._by_id[str(cluster["_id"])] = stack

    async def teardown(self, key: str, cluster: Doc | None = None) -> None:
        stack = self._stacks.get(key)
        if stack is not None:
            await self._teardown(stack)
        elif cluster is not None:  # not running here (a restart while DELETING): clean up anyway
            await self._stop_tasks(model.space_of(cluster))
            await self._delete_space(model.space_of(cluster))

    async def release(self, account: str, region: str, ecs_cluster: str, instance_ids: list[str]) -> None:
        """A deleted node group's nodes: force-deregistered, as EKS terminates its instances
        (their tasks stop; their agents are refused from then on)."""
        ctx = _context(account, region, "")
        for iid in instance_ids:
            params = {"cluster": ecs_cluster, "containerInstance": iid, "force": True}
            try:
                await deregister_container_instance(self.tasks, ctx, params)
            except AwsError as exc:
                log.info("releasing node %s of %s: %s", iid, ecs_cluster, exc.message)

    async def release_profile(self, account: str, region: str, cluster: str, profile: str) -> bool:
        """A deleted Fargate profile's pods are deleted, as on EKS (``controllers/k8s/
        fargate_pods.release_profile``); False when it must be called again."""
        stack = self._stacks.get(keys.cluster_key(account, region, cluster))
        if stack is None:
            return True  # not served (being deleted): its objects go with it
        return await release_profile(K8sObjects(self.store), stack.space, profile, time.time())

    async def stop(self) -> None:
        """Control-plane shutdown: stop serving, keep every cluster's objects."""
        for stack in list(self._stacks.values()):
            await self._stop_stack(stack)
        self._stacks.clear()
        self._by_id.clear()

    def begin_shutdown(self) -> None:
        for stack in self._stacks.values():
            stack.app.ctx.closing.set()
            if stack.listener is not None:
                stack.listener.begin_shutdown()

    # -- serving ---------------------------------------------------------------------------------
    def front(self, local: App) -> App:
        """The listener's app: ``/eks/<id>/...`` to that cluster, the rest to ``local``."""

        async def serve(scope: Scope, receive: Receive, send: Send) -> None:
            path: str = scope.get("path", "")
            if scope["type"] not in ("http", "websocket") or not path.startswith(model.ENDPOINT_PREFIX):
                await local(scope, receive, send)
                return
            rest = path[len(model.ENDPOINT_PREFIX) :]
            cluster_id, _, tail = rest.partition("/")
            stack = self._by_id.get(cluster_id)
            if stack is None:
                if scope["type"] == "websocket":  # no body before the upgrade: refuse the handshake
                    await receive()
                    await send({"type": "websocket.close", "code": 1008})
                    return
                not_found = K8sError(404, "NotFound", "the server could not find the requested resource")
                await send_error(send, not_found)
                return
            prefix = f"{model.ENDPOINT_PREFIX}{cluster_id}"
            raw: bytes = scope.get("raw_path") or path.encode()
            inner = dict(scope)
            inner["path"] = "/" + tail
            inner["raw_path"] = raw[len(prefix) :] or b"/"
            inner["root_path"] = scope.get("root_path", "") + prefix
            await stack.app(inner, receive, send)

        return serve

    # -- a stack's life ----------------------------------------------------------------------------
    async def _build(self, key: str, cluster: Doc) -> _Stack:
        account, region, _family, name, _ = keys.parse(key) or ("", "", "", "", "")
        space = model.space_of(cluster)
        await self._backing_cluster(account, region, name, cluster)
        access = AccessIndex(self.records, account, region, cluster)
        await access.start()
        network = ServiceNetwork(
            cluster_ips=IpRange.parse(cluster["kubernetesNetworkConfig"]["serviceIpv4Cidr"])
        )
        # every pod create of this cluster (API or controller) passes EKS's Fargate webhook
        objects = FargateAdmission(self.store, space, account, region, name)
        app, builtin = build_api(
            self.store,
            EksAuthenticator(self.verifier, name, access),
            PodLogSource(self.logstore, Owner(account, region), space),
            network,
            space=space,
            authorizer=access,
            objects=objects,
        )
        stack = _Stack(key, cluster, app, access, builtin)
        backing = Backing(account, region, model.backing_cluster(name), space)
        app.ctx.pod_exec = PodExecSource(self.tasks.index, self.tasks.exec, account, region, backing.cluster)
        source = (
            None if self.metrics is None else PodMetricsSource(self.metrics, account, region, backing.cluster)
        )
        app.ctx.pod_metrics = source
        stack.controllers = [
            PodController(objects, self.tasks, backing, fargate_cluster=name),
            ReplicaSetController(objects, space),
            DeploymentController(objects, space),
            JobController(objects, space),
            EndpointsController(objects, space),
            DisruptionController(objects, space),
            HorizontalPodAutoscalerController(
                objects,
                space,
                lambda: {} if source is None else pod_usage_of(source.pods()),
                sync_period=self.hpa_sync_period,
            ),
        ]
        try:
            # the port first: a port in use is found before anything else of the cluster starts
            listener = stack.listener = await self._bind(stack)
            await builtin.start()
            types = {t.plural: t for t in NETWORKING}
            await ensure_kubernetes_service(
                app.ctx.service, types, network, self.listener.host, listener.port
            )
            for controller in stack.controllers:
                await controller.start()
            await listener.start()
        except BaseException:
            await self._stop_stack(stack)  # nothing half-started is left running; the sync retries
            raise
        log.info(
            "EKS cluster %s serves its Kubernetes API at %s (and %s on the Kubernetes listener)",
            cluster.get("arn"),
            model.endpoint_url(stack.doc, self.listener.host),
            model.endpoint_path(cluster),
        )
        return stack

    # -- the cluster's own listener ----------------------------------------------------------------
    @property
    def _bind_host(self) -> str:
        return self.listener.bind or self.listener.host

    async def _bind(self, stack: _Stack) -> ClusterListener:
        """The cluster's listener, its socket bound to the record's port; a record without a
        port or CA gets them, and so does a CREATING cluster whose port is taken."""
        port, ca = model.port_of(stack.doc), model.ca_of(stack.doc)
        if port is not None and ca is not None:
            try:
                return ClusterListener(stack.app, listen_socket(self._bind_host, port), ca, self._bind_host)
            except OSError as exc:
                if stack.doc.get("status") != model.CREATING:
                    # its endpoint is known to its users: keep it, and retry until it is free
                    raise RuntimeError(
                        f"EKS cluster {stack.doc.get('arn')} cannot listen on its port {port}: {exc}"
                    ) from exc
                log.warning(
                    "EKS cluster %s: port %s taken since CreateCluster, choosing another", stack.key, port
                )
        stack.doc = await self._assign(stack.key, stack.doc)
        stack.access.cluster = stack.doc
        port, ca = model.port_of(stack.doc), model.ca_of(stack.doc)
        assert port is not None and ca is not None
        return ClusterListener(stack.app, listen_socket(self._bind_host, port), ca, self._bind_host)

    async def _assign(self, key: str, cluster: Doc) -> Doc:
        """Give the cluster's record a free port of the range (its old one released) and a CA
        if it has none, in one transaction with the port's claim."""
        for _ in range(8):
            rec = await self.records.get(key)
            if rec is None or rec.doc.get("_id") != cluster.get("_id"):
                raise RuntimeError(f"EKS cluster {key} changed while it was being provisioned")
            port = await self.ports.pick(lambda p: port_free(self._bind_host, p))
            if port is None:
                raise NoPort(f"no free port in the EKS port range {self.ports} for {cluster.get('arn')}")
            ca = None if model.ca_of(rec.doc) is not None else new_ca("kubernetes")
            doc = model.with_endpoint(rec.doc, port, ca)
            claim, put = eks_ports.claim(port, Holder(key, str(doc["_id"])))
            extra: list[Op] = [put]
            old = model.port_of(rec.doc)
            if old is not None:
                extra.append(eks_ports.release(old))
            compares = [Compare.mod_revision(key, rec.mod_revision), claim]
            if (await self.records.commit(compares, [(key, doc)], extra)).succeeded:
                log.info("EKS cluster %s gets the port %s for its endpoint", cluster.get("arn"), port)
                return doc
        raise RuntimeError(f"EKS cluster {key}: could not claim a port (too much contention)")

    async def _backing_cluster(self, account: str, region: str, name: str, cluster: Doc) -> None:
        """The ECS cluster whose instances are the nodes (idempotent, as CreateCluster is)."""
        ctx = _context(account, region, str(cluster.get("_creator") or ""))
        params: dict[str, Any] = {
            "clusterName": model.backing_cluster(name),
            "tags": [{"key": "eks:cluster-name", "value": name}],
        }
        await create_ecs_cluster(self.records, ctx, params)

    async def _stop_stack(self, stack: _Stack) -> None:
        stack.app.ctx.closing.set()
        if stack.listener is not None:
            await stack.listener.stop()
        for controller in reversed(stack.controllers):
            await controller.stop()
            if isinstance(controller, PodController):
                # it subscribed to the task index at start; a stopped one must stop listening
                self.tasks.index.unsubscribe(controller)
        await stack.builtin.stop()
        await stack.access.stop()

    async def _teardown(self, stack: _Stack) -> None:
        self._stacks.pop(stack.key, None)
        self._by_id.pop(str(stack.doc.get("_id")), None)
        await self._stop_stack(stack)
        await self._stop_tasks(stack.space)
        await self._delete_space(stack.space)
        log.info("EKS cluster %s: Kubernetes API removed", stack.doc.get("arn"))

    async def _stop_tasks(self, space: str) -> None:
        """Stop the tasks of the space's pods (the agents stop their containers)."""
        prefix = cluster_prefix(space)
        records = TaskRecords(self.tasks.records)
        now = time.time()
        deadline = time.monotonic() + DRAIN_TIMEOUT
        for rec in list(self.tasks.index.tasks()):
            pod = pod_of(rec.doc)
            if pod is None or not str(pod.get("key", "")).startswith(prefix):
                continue
            if rec.doc.get("desiredStatus") == task_model.STOPPED or time.monotonic() > deadline:
                continue
            with contextlib.suppress(Exception):
                await records.change(
                    rec.key, lambda d: task_model.stop_requested(d, "EKS cluster deleted", now)
                )

    async def _delete_space(self, space: str) -> None:
        for prefix in (
            cluster_prefix(space),
            range_prefix(space, SERVICE_IPS),
            range_prefix(space, NODE_PORTS),
        ):
            while True:
                found = await self.store.range(prefix, limit=256)
                if not found.kvs:
                    break
                await self.store.txn([], [Delete(kv.key) for kv in found.kvs])
                await asyncio.sleep(0)


def _context(account: str, region: str, principal: str) -> RequestContext:
    """The control plane acting on the account's behalf (as ``stowage up`` makes its cluster)."""
    return RequestContext(
        account_id=account,
        region=region,
        request_id="eks",
        access_key_id="",
        principal_arn=principal,
        now=time.time(),
    )
