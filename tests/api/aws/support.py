"""Test fixtures' machinery: a small dict-backed ECS service, a uvicorn thread, raw signed HTTP.

The service uses the real ECS model and the real protocol layer; only the handlers are small.
Raw requests are signed with botocore's own SigV4 pieces, at a chosen time when a test needs
clock skew, so the server's verifier is checked against the client library users run.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import uvicorn
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from stowage.api.aws.app import AwsApi
from stowage.api.aws.context import RequestContext
from stowage.api.aws.errors import AwsError
from stowage.api.aws.service import AwsService, Handler
from stowage.model.identity import Credential
from stowage.resources.records import ContentionError
from tests.support.server import free_port

ACCESS_KEY_ID = "AKIAPROTOCOLTEST0001"
SECRET = "protocol-test-secret-0000000000000000000"
ACCOUNT_ID = "111122223333"
USER_KEY_ID = "AKIAPROTOCOLUSER0002"
USER_SECRET = "protocol-user-secret-000000000000000000"
USER_ARN = "arn:aws:iam::111122223333:user/alice"
ECS_PREFIX = "AmazonEC2ContainerServiceV20141113"
ECS_CTYPE = "application/x-amz-json-1.1"

CREDENTIALS = {
    ACCESS_KEY_ID: Credential(ACCESS_KEY_ID, SECRET, ACCOUNT_ID, f"arn:aws:iam::{ACCOUNT_ID}:root"),
    USER_KEY_ID: Credential(USER_KEY_ID, USER_SECRET, ACCOUNT_ID, USER_ARN),
}


async def lookup(access_key_id: str) -> Credential | None:
    return CREDENTIALS.get(access_key_id)


@dataclass
class ClusterBook:
    """The test service's whole state: clusters by ARN, plus the last context seen."""

    clusters: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_context: RequestContext | None = None

    def handlers(self) -> dict[str, Handler]:
        return {
            "CreateCluster": self.create_cluster,
            "DescribeClusters": self.describe_clusters,
            "ListClusters": self.list_clusters,
            "DeleteCluster": self.delete_cluster,
            "DescribeTaskDefinition": self.describe_task_definition,
        }

    def _arn(self, ctx: RequestContext, name: str) -> str:
        return f"arn:aws:ecs:{ctx.region}:{ctx.account_id}:cluster/{name}"

    async def create_cluster(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.last_context = ctx
        name = params.get("clusterName", "default")
        cluster = {
            "clusterArn": self._arn(ctx, name),
            "clusterName": name,
            "status": "ACTIVE",
            "registeredContainerInstancesCount": 0,
            "runningTasksCount": 0,
            "pendingTasksCount": 0,
            "activeServicesCount": 0,
            "tags": params.get("tags"),
            "settings": None,  # None members are dropped, not sent as null
        }
        self.clusters[cluster["clusterArn"]] = cluster
        return {"cluster": cluster}

    async def describe_clusters(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        found, failures = [], []
        for ref in params.get("clusters") or ["default"]:
            arn = ref if ref.startswith("arn:") else self._arn(ctx, ref)
            if arn in self.clusters:
                found.append(self.clusters[arn])
            else:
                failures.append({"arn": arn, "reason": "MISSING"})
        return {"clusters": found, "failures": failures}

    async def list_clusters(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"clusterArns": sorted(self.clusters)}

    async def delete_cluster(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params["cluster"]
        if name == "explode":
            raise RuntimeError("handler bug: secret internal detail")
        if name == "contended":
            raise ContentionError("too much contention on /some/key")
        if name == "bad-output":
            return {"cluster": {"clusterName": name, "notAModelMember": 1}}
        arn = name if name.startswith("arn:") else self._arn(ctx, name)
        if arn not in self.clusters:
            raise AwsError("ClusterNotFoundException", "Cluster not found.")
        return {"cluster": {**self.clusters.pop(arn), "status": "INACTIVE"}}

    async def describe_task_definition(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "taskDefinition": {
                "family": params["taskDefinition"],
                "revision": 1,
                "containerDefinitions": [{"name": "web", "image": "nginx", "cpu": 0}],
                "registeredAt": datetime(2024, 5, 6, 7, 8, 9, 500000, tzinfo=UTC),
                "deregisteredAt": 1714979289.25,
            }
        }


def catch_all_service() -> AwsService:
    """Every ECS operation, each answering ``{}``: lets the fuzz test reach every input shape."""
    from botocore.loaders import Loader
    from botocore.model import ServiceModel

    model = ServiceModel(Loader().load_service_model("ecs", "service-2"), "ecs")

    async def ok(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return {}

    return AwsService("ecs", {name: ok for name in model.operation_names})


@contextmanager
def serve(app: AwsApi) -> Iterator[str]:
    """Serve ``app`` with uvicorn (httptools + uvloop) on a free port in a thread; yield host:port."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, loop="uvloop", http="httptools", lifespan="on", log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def sign(
    host: str,
    target: str,
    body: bytes,
    *,
    key: str = ACCESS_KEY_ID,
    secret: str = SECRET,
    region: str = "us-east-1",
    service: str = "ecs",
    when: datetime | None = None,
    content_type: str = ECS_CTYPE,
    path: str = "/",
) -> dict[str, str]:
    """Headers for a request signed by botocore's SigV4Auth, optionally at a chosen time."""
    headers = (
        {"X-Amz-Target": target, "Content-Type": content_type} if target else {"Content-Type": content_type}
    )
    request = AWSRequest(method="POST", url=f"http://{host}{path}", data=body, headers=headers)
    auth = SigV4Auth(Credentials(key, secret), service, region)
    request.context["timestamp"] = (when or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    auth._modify_request_before_signing(request)
    canonical = auth.canonical_request(request)
    signature = auth.signature(auth.string_to_sign(request, canonical), request)
    auth._inject_signature_to_request(request, signature)
    return dict(request.headers.items())


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


class RawClient:
    """One keep-alive HTTP/1.1 connection for hand-made requests."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.conn = http.client.HTTPConnection(host, timeout=10)

    def request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> Response:
        try:
            self.conn.request(method, path, body=body, headers=headers)
            resp = self.conn.getresponse()
        except (http.client.HTTPException, ConnectionError):
            # The server may close after an error it did not read the body for; retry once fresh.
            self.conn.close()
            self.conn = http.client.HTTPConnection(self.host, timeout=10)
            self.conn.request(method, path, body=body, headers=headers)
            resp = self.conn.getresponse()
        data = resp.read()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)

    def call(
        self, operation: str, payload: Any = None, *, raw: bytes | None = None, **sign_kw: Any
    ) -> Response:
        """A correctly signed POST / for ``operation`` (a bare name gets the ECS prefix)."""
        body = raw if raw is not None else orjson.dumps(payload if payload is not None else {})
        target = operation if "." in operation or not operation else f"{ECS_PREFIX}.{operation}"
        return self.request("POST", sign_kw.get("path", "/"), body, sign(self.host, target, body, **sign_kw))

    def close(self) -> None:
        self.conn.close()
