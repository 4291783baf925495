"""A control plane with a short Application Auto Scaling tick, and a service to scale."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.api.ecs.service_support import FakeHost
from tests.api.ecs.task_support import make_cluster, register_td, unique
from tests.support.server import ServerProcess, start_server


@pytest.fixture(scope="module")
def scaling_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = start_server(
        tmp_path_factory.mktemp("autoscaling"),
        ["--autoscaling-tick", "0.3", "--alarm-evaluation-interval", "1"],
    )
    try:
        yield proc
    finally:
        proc.stop()


@dataclass
class Svc:
    ecs: Any
    aas: Any
    cluster: str
    name: str
    host: FakeHost

    @property
    def resource_id(self) -> str:
        return f"service/{self.cluster}/{self.name}"

    def target(self, **kw: Any) -> dict[str, Any]:
        return {
            "ServiceNamespace": "ecs",
            "ResourceId": self.resource_id,
            "ScalableDimension": "ecs:service:DesiredCount",
            **kw,
        }

    def desired(self) -> int:
        svc = self.ecs.describe_services(cluster=self.cluster, services=[self.name])["services"][0]
        return int(svc["desiredCount"])


@pytest.fixture()
def svc(scaling_server: ServerProcess) -> Svc:
    ecs = scaling_server.boto3_client("ecs")
    cluster = make_cluster(ecs)
    host = FakeHost(scaling_server, ecs, cluster, cpu=8192, memory=16384)
    td = register_td(ecs)
    name = unique("web")
    ecs.create_service(
        cluster=cluster, serviceName=name, taskDefinition=td["taskDefinitionArn"], desiredCount=1
    )
    return Svc(ecs, scaling_server.boto3_client("application-autoscaling"), cluster, name, host)
