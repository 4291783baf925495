"""The metrics pipeline with injected time and hand-computed expectations: agents' samples of two
tasks of one service on two hosts → latest values, raw points, ECS's per-minute service and
cluster metrics, Container Insights task and container metrics, through the query function.
Bad queries get CloudWatch's error codes; points survive closing and reopening the store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stowage.controllers.ecs_index import EcsIndex
from stowage.controllers.metrics import Metrics, MetricsConfig
from stowage.controllers.metrics_aggregate import ServiceState
from stowage.controllers.metrics_ingest import IngestConfig
from stowage.controllers.metrics_query import MetricQuery, MetricQueryError, validate
from stowage.metricstore import StoreConfig
from stowage.resources.records import Record

ACCOUNT, REGION, CLUSTER = "123456789012", "us-east-1", "prod"
T0 = 1_764_000_000.0  # a minute (and hour) boundary
MIB = 1024 * 1024
GIB = 1024 * MIB


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def _resources(cpu: int, mem: int) -> list[dict[str, Any]]:
    return [
        {"name": "CPU", "type": "INTEGER", "integerValue": cpu},
        {"name": "MEMORY", "type": "INTEGER", "integerValue": mem},
    ]


def instance(iid: str) -> Record:
    doc = {
        "containerInstanceArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:container-instance/{CLUSTER}/{iid}",
        "ec2InstanceId": f"i-{iid}",
        "status": "ACTIVE",
        "agentConnected": True,
        "registeredResources": _resources(4096, 8192),
        "remainingResources": _resources(4096 - 512, 8192 - 1024),
    }
    return Record(f"/ecs/{ACCOUNT}/{REGION}/container-instances/{CLUSTER}/{iid}", doc, 1)


def task(tid: str, iid: str) -> Record:
    doc = {
        "taskArn": arn(tid),
        "lastStatus": "RUNNING",
        "desiredStatus": "RUNNING",
        "group": "service:web",
        "taskDefinitionArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/web:3",
        "cpu": "512",
        "memory": "1024",
        "launchType": "EC2",
        "containers": [{"name": "app", "cpu": "512", "memory": "1024"}],
        "_instance": iid,
    }
    return Record(f"/ecs/{ACCOUNT}/{REGION}/tasks/{CLUSTER}/{tid}", doc, 2)


def arn(tid: str) -> str:
    return f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/{tid}"


def open_metrics(tmp_path: Path, clock: Clock, index: EcsIndex) -> Metrics:
    config = MetricsConfig(
        store=StoreConfig(background=False),
        ingest=IngestConfig(background=False, close_after=20.0),
    )
    metrics = Metrics(tmp_path, config, clock=clock)
    metrics.start(
        index,
        services=lambda: [ServiceState(ACCOUNT, REGION, CLUSTER, "web", desired=3, deployments=1, running=2)],
    )
    return metrics


@pytest.fixture()
def index() -> EcsIndex:
    idx = EcsIndex()
    idx.reset([instance("h1"), instance("h2"), task("t1", "h1"), task("t2", "h2")], 2)
    return idx


T1_MEM = [200 + 5 * i for i in range(18)]
"""t1's memory (MiB) at each sample: varies, so percentiles have something to rank."""


def feed(metrics: Metrics, clock: Clock, samples: int = 18) -> None:
    """Every 10 s from T0+1: t1 uses 0.25 core and ``T1_MEM`` MiB, t2 0.5 core and 512 MiB."""
    assert metrics.ingestor is not None
    for i in range(samples):
        ts = T0 + 1 + 10 * i
        for tid, host, cores, mem in (("t1", "h1", 0.25, T1_MEM[i]), ("t2", "h2", 0.5, 512)):
            sample = {
                "task": arn(tid),
                "containerName": "app",
                "timestamp": ts,
                "cpuUsageNanos": int(cores * 1e9 * 10 * i),
                "memoryUsageBytes": mem * MIB,
                "memoryLimitBytes": GIB,
                "memoryRssBytes": mem * MIB,
                "networkRxBytes": 1000 * i,
                "networkTxBytes": 0,
                "blockReadBytes": 0,
                "blockWriteBytes": 4096 * i,
            }
            metrics.record(f"arn:aws:ecs:{REGION}:{ACCOUNT}:container-instance/{CLUSTER}/{host}", [sample])
        metrics.ingestor.drain()
        clock.now = ts + 1
        metrics.ingestor.close_minutes(clock.now)
    clock.now = T0 + 180 + 25  # every minute closed
    metrics.ingestor.close_minutes(clock.now)


def q(
    metric: str, dims: dict[str, str], stat: str, *, namespace: str = "AWS/ECS", period: int = 60
) -> MetricQuery:
    return MetricQuery(
        ACCOUNT, REGION, namespace, metric, {"ClusterName": CLUSTER, **dims}, T0, T0 + 180, period, stat
    )


@pytest.fixture()
def metrics(tmp_path: Path, index: EcsIndex) -> Iterator[tuple[Metrics, Clock]]:
    clock = Clock()
    m = open_metrics(tmp_path, clock, index)
    feed(m, clock)
    yield m, clock
    m.store.close()


def values(m: Metrics, query: MetricQuery) -> list[float]:
    return [round(v, 6) for v in m.queries.run(query).values]


def test_service_utilization_as_ecs_computes_it(metrics: tuple[Metrics, Clock]) -> None:
    m, _ = metrics
    svc = {"ServiceName": "web"}
    # per minute: 100 * (256 + 512 used) / (512 + 512 reserved); the extremes are the tasks
    assert values(m, q("CPUUtilization", svc, "Average")) == [75.0, 75.0, 75.0]
    assert values(m, q("CPUUtilization", svc, "Minimum")) == [50.0, 50.0, 50.0]
    assert values(m, q("CPUUtilization", svc, "Maximum")) == [100.0, 100.0, 100.0]
    assert values(m, q("CPUUtilization", svc, "SampleCount")) == [2.0, 2.0, 2.0]
    # a 3-minute period combines the minutes' statistic sets
    assert values(m, q("CPUUtilization", svc, "Average", period=180)) == [75.0]
    assert values(m, q("CPUUtilization", svc, "Sum", period=180)) == [450.0]
    # memory: what is in use at the minute's last sample (t1's sixth, at T0+51), plus t2's 512,
    # against 2 x 1024 MiB reserved
    expected = [round(100 * (T1_MEM[i] + 512) / 2048, 6) for i in (5, 11, 17)]
    assert values(m, q("MemoryUtilization", svc, "Average")) == pytest.approx(expected)
    series = m.queries.run(q("CPUUtilization", svc, "Average"))
    assert series.timestamps == [T0, T0 + 60, T0 + 120] and series.unit == "Percent"


def test_cluster_utilization_and_reservation(metrics: tuple[Metrics, Clock]) -> None:
    m, _ = metrics
    # 768 units used over 2 x 4096 registered; per instance 256/4096 and 512/4096
    assert values(m, q("CPUUtilization", {}, "Average")) == [9.375] * 3
    assert values(m, q("CPUUtilization", {}, "Minimum")) == [6.25] * 3
    assert values(m, q("CPUUtilization", {}, "Maximum")) == [12.5] * 3
    assert values(m, q("CPUReservation", {}, "Average")) == [12.5] * 3
    assert values(m, q("MemoryReservation", {}, "Maximum")) == [12.5] * 3
    # AWS/ECS has no task-count metric per cluster and no reservation per service
    assert values(m, q("RunningTaskCount", {}, "Average")) == []
    assert values(m, q("CPUReservation", {"ServiceName": "web"}, "Average")) == []


def test_container_insights_per_cluster_service_and_family(metrics: tuple[Metrics, Clock]) -> None:
    m, _ = metrics
    ci = "ECS/ContainerInsights"
    assert values(m, q("CpuUtilized", {"ServiceName": "web"}, "Average", namespace=ci)) == [768.0] * 3
    assert values(m, q("CpuReserved", {"ServiceName": "web"}, "Average", namespace=ci)) == [1024.0] * 3
    assert values(m, q("RunningTaskCount", {"ServiceName": "web"}, "Maximum", namespace=ci)) == [2.0] * 3
    assert values(m, q("DesiredTaskCount", {"ServiceName": "web"}, "Maximum", namespace=ci)) == [3.0] * 3
    assert values(m, q("ContainerInstanceCount", {}, "Maximum", namespace=ci)) == [2.0] * 3
    assert (
        values(m, q("CpuUtilized", {"TaskDefinitionFamily": "web"}, "Average", namespace=ci)) == [768.0] * 3
    )
    rx = values(m, q("NetworkRxBytes", {"ServiceName": "web"}, "Average", namespace=ci))
    assert rx == [200.0] * 3  # two tasks at 1000 bytes per 10 s each
    assert m.queries.run(q("MemoryUtilized", {}, "Average", namespace=ci)).unit == "Megabytes"


def test_task_and_container_metrics_come_from_raw_points(metrics: tuple[Metrics, Clock]) -> None:
    m, _ = metrics
    ci = "ECS/ContainerInsights"
    t1 = {"TaskId": "t1"}
    assert values(m, q("CpuUtilized", t1, "Average", namespace=ci)) == [256.0] * 3
    assert values(m, q("CpuReserved", t1, "Maximum", namespace=ci)) == [512.0] * 3
    mem = values(m, q("MemoryUtilized", t1, "Maximum", namespace=ci, period=180))
    assert mem == [float(max(T1_MEM[1:]))]
    # raw points are samples: percentiles are exact (nearest rank)
    ranked = sorted(T1_MEM[1:])
    p90 = ranked[int(-(-0.9 * len(ranked) // 1)) - 1]
    assert values(m, q("MemoryUtilized", t1, "p90", namespace=ci, period=180)) == [float(p90)]
    assert values(m, q("MemoryUtilized", t1, "SampleCount", namespace=ci, period=180)) == [17.0]
    # 10-second periods: one sample each
    assert len(values(m, q("CpuUtilized", t1, "Average", namespace=ci, period=10))) == 17
    one = {"TaskId": "t2", "ContainerName": "app"}
    assert values(m, q("ContainerMemoryUtilized", one, "Average", namespace=ci)) == [512.0] * 3
    # optional dimensions must match the task's own labels
    assert values(m, q("CpuUtilized", {"TaskId": "t1", "ServiceName": "web"}, "Average", namespace=ci))
    assert values(m, q("CpuUtilized", {"TaskId": "t1", "ServiceName": "api"}, "Average", namespace=ci)) == []
    assert values(m, q("CpuUtilized", {"TaskId": "nope"}, "Average", namespace=ci)) == []


def test_latest_views(metrics: tuple[Metrics, Clock]) -> None:
    m, _ = metrics
    views = {v.meta.task_id: v for v in m.task_views(ACCOUNT, REGION, cluster=CLUSTER)}
    assert set(views) == {"t1", "t2"}
    assert views["t2"].cores == pytest.approx(0.5)
    assert views["t2"].memory_bytes == 512 * MIB
    assert views["t1"].memory_limit_bytes == GIB
    hosts = {h.instance.ec2_instance_id: h for h in m.host_views(ACCOUNT, REGION)}
    assert [v.meta.task_id for v in hosts["i-h1"].tasks] == ["t1"]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"stat": "Median"}, "InvalidParameterValue"),
        ({"stat": "p101"}, "InvalidParameterValue"),
        ({"period": 7}, "InvalidParameterValue"),
        ({"period": 0}, "InvalidParameterValue"),
        ({"period": 90}, "InvalidParameterValue"),
        ({"start": T0 + 180}, "InvalidParameterValue"),
        ({"period": 1, "max_points": 100}, "InvalidParameterCombination"),
    ],
)
def test_bad_queries_get_cloudwatch_errors(change: dict[str, Any], code: str) -> None:
    base = {
        "account": ACCOUNT, "region": REGION, "namespace": "AWS/ECS", "metric": "CPUUtilization",
        "dimensions": {"ClusterName": CLUSTER}, "start": T0, "end": T0 + 180, "period": 60, "stat": "Average",
    }  # fmt: skip
    with pytest.raises(MetricQueryError) as err:
        validate(MetricQuery(**{**base, **change}))
    assert err.value.code == code


def test_points_survive_a_restart(tmp_path: Path, index: EcsIndex) -> None:
    clock = Clock()
    m = open_metrics(tmp_path, clock, index)
    feed(m, clock)
    before = values(m, q("CPUUtilization", {"ServiceName": "web"}, "Average"))
    raw_before = values(
        m, q("MemoryUtilized", {"TaskId": "t1"}, "Average", namespace="ECS/ContainerInsights")
    )
    m.store.close()
    again = open_metrics(tmp_path, clock, index)
    assert values(again, q("CPUUtilization", {"ServiceName": "web"}, "Average")) == before == [75.0] * 3
    ci = "ECS/ContainerInsights"
    assert values(again, q("MemoryUtilized", {"TaskId": "t1"}, "Average", namespace=ci)) == raw_before
    again.store.close()
