"""What stopping ``stowage simulate`` leaves behind: by default the instances stay registered
(as when an ECS agent stops) and the same state directory brings the same instances back;
``--deregister`` removes them."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from tests.simulate.helpers import Sim, read_summary, start_simulator


def _arns(sim: Sim, cluster: str) -> set[str]:
    answer = sim.ecs.list_container_instances(cluster=cluster)
    return set(answer["containerInstanceArns"])


def _interrupt(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    return out


def test_restart_keeps_the_instances_and_deregister_removes_them(sim: Sim, tmp_path: Path) -> None:
    cluster = "sim-restart"
    first = start_simulator(sim.server, str(tmp_path), 4, cluster=cluster)
    assert "4/4 hosts registered, 4 connected" in read_summary(first)
    registered = _arns(sim, cluster)
    assert len(registered) == 4
    assert "the instances stay registered" in _interrupt(first)
    assert _arns(sim, cluster) == registered

    again = start_simulator(sim.server, str(tmp_path), 4, "--deregister", cluster=cluster)
    assert "4/4 hosts registered, 4 connected" in read_summary(again)
    assert _arns(sim, cluster) == registered  # the same container instances, reconnected
    assert "deregistering the hosts" in _interrupt(again)
    assert _arns(sim, cluster) == set()
    gone = sim.ecs.describe_container_instances(cluster=cluster, containerInstances=sorted(registered))
    assert {i["status"] for i in gone["containerInstances"]} == {"INACTIVE"}
