"""An acknowledged write survives `kill -9` of the control plane (SQLite store, group commit)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from tests.support.server import start_server


def test_every_acknowledged_write_survives_kill_9_mid_load(tmp_path: Path) -> None:
    server = start_server(tmp_path / "server")
    acknowledged: list[tuple[str, str]] = []  # (kind, name)
    lock = threading.Lock()
    stop = threading.Event()

    def writer(worker: int) -> None:
        ecs = server.boto3_client("ecs")
        i = 0
        while not stop.is_set():
            name = f"crash-{worker}-{i}"
            try:
                if i % 2:
                    ecs.create_cluster(clusterName=name)
                    kind = "cluster"
                else:
                    ecs.register_task_definition(
                        family=name, containerDefinitions=[{"name": "c", "image": "busybox", "memory": 32}]
                    )
                    kind = "taskdef"
            except (BotoCoreError, ClientError):
                return  # the server died under us: this write was never acknowledged
            with lock:
                acknowledged.append((kind, name))
            i += 1

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < 300 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill9()
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert len(acknowledged) >= 300, "the load never got going"

    server.start()
    try:
        ecs = server.boto3_client("ecs")
        clusters = [n for k, n in acknowledged if k == "cluster"]
        families = [n for k, n in acknowledged if k == "taskdef"]
        found: set[str] = set()
        for i in range(0, len(clusters), 100):
            described = ecs.describe_clusters(clusters=clusters[i : i + 100])
            found.update(c["clusterName"] for c in described["clusters"] if c["status"] == "ACTIVE")
        assert sorted(set(clusters) - found) == []
        for family in families:
            td = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
            assert td["revision"] == 1 and td["status"] == "ACTIVE"
    finally:
        server.stop()
