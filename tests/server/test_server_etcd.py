"""The control plane on etcd: the same API, state kept in a real etcd server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.etcd import EtcdProcess
from tests.support.server import ServerProcess, free_port, start_server


@pytest.fixture()
def etcd_backed(
    etcd_server: EtcdProcess, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[ServerProcess]:
    prefix = f"/stowage-test-{request.node.name}"
    proc = start_server(
        tmp_path / "server",
        ["--store", "etcd", "--etcd-endpoints", etcd_server.endpoint, "--etcd-prefix", prefix],
    )
    try:
        yield proc
    finally:
        proc.stop()


def test_state_lives_in_etcd_and_survives_a_restart(etcd_backed: ServerProcess) -> None:
    ecs = etcd_backed.boto3_client("ecs")
    ecs.create_cluster(clusterName="on-etcd", tags=[{"key": "store", "value": "etcd"}])
    ecs.register_task_definition(
        family="etcd-web", containerDefinitions=[{"name": "web", "image": "busybox", "memory": 64}]
    )
    etcd_backed.restart()
    ecs = etcd_backed.boto3_client("ecs")
    described = ecs.describe_clusters(clusters=["on-etcd"], include=["TAGS"])["clusters"][0]
    assert described["status"] == "ACTIVE"
    assert described["tags"] == [{"key": "store", "value": "etcd"}]
    td = ecs.describe_task_definition(taskDefinition="etcd-web")["taskDefinition"]
    assert td["revision"] == 1


def test_two_installations_share_one_etcd_without_seeing_each_other(
    etcd_server: EtcdProcess, tmp_path: Path
) -> None:
    a = start_server(
        tmp_path / "a",
        ["--store", "etcd", "--etcd-endpoints", etcd_server.endpoint, "--etcd-prefix", "/inst-a"],
    )
    b = start_server(
        tmp_path / "b",
        ["--store", "etcd", "--etcd-endpoints", etcd_server.endpoint, "--etcd-prefix", "/inst-b"],
    )
    try:
        a.boto3_client("ecs").create_cluster(clusterName="only-in-a")
        assert b.boto3_client("ecs").list_clusters()["clusterArns"] == []
        assert len(a.boto3_client("ecs").list_clusters()["clusterArns"]) == 1
    finally:
        a.stop()
        b.stop()


def test_a_standby_control_plane_takes_over_when_the_active_one_stops(
    etcd_server: EtcdProcess, tmp_path: Path
) -> None:
    """Active/passive HA: two control planes on one etcd installation; only the leader serves
    (the standby's port stays closed, so no controller runs twice); when the leader stops,
    the standby takes the lock and serves the same state."""
    args = ["--store", "etcd", "--etcd-endpoints", etcd_server.endpoint, "--etcd-prefix", "/ha-test"]
    active = start_server(tmp_path / "a", args)
    standby = ServerProcess(tmp_path / "b", free_port(), args)
    took_over = threading.Event()

    def start_standby() -> None:
        standby.start()  # returns once its port opens, i.e. once it leads
        took_over.set()

    waiter = threading.Thread(target=start_standby, daemon=True)
    try:
        active.boto3_client("ecs").create_cluster(clusterName="ha")
        waiter.start()
        time.sleep(3)
        assert not took_over.is_set()  # still a standby: the active one holds the lock
        assert standby.proc is not None and standby.proc.poll() is None
        active.stop()  # a graceful stop gives the lock up at once
        waiter.join(timeout=30)
        assert took_over.is_set()
        names = standby.boto3_client("ecs").list_clusters()["clusterArns"]
        assert [n.rsplit("/", 1)[-1] for n in names] == ["ha"]
    finally:
        active.stop()
        standby.stop()
