"""File volumes on the host (``TaskSpec.volume_files``): written before the containers, bound
read-only (whole or by ``subPath``), removed when the task stops or by the cleanup pass."""

from __future__ import annotations

import base64
import stat
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from stowage.agent import projected_files as pf
from stowage.agent.config import AgentConfig
from stowage.agent.translate import TaskSetupError, plan_task
from stowage.runtime.base import Mount
from tests.agent.harness import Harness, container, run, until
from tests.agent.test_translate import INSTANCE, spec


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


FILES = {
    "config": [
        {"path": "app.conf", "mode": 0o644, "data": b64(b"colour=blue\n")},
        {"path": "conf.d/extra.conf", "mode": 0o400, "data": b64(b"x")},
    ],
    "creds": [{"path": "password", "mode": 0o600, "data": b64(b"s3cret")}],
}


def _spec(files: dict[str, list[dict[str, Any]]], *mounts: dict[str, Any]) -> Any:
    s = spec(
        container("app", "sleep", "100", mountPoints=list(mounts)),
        volumes=[
            {"name": "config", "host": {}},
            {"name": "creds", "host": {}},
            {"name": "scratch", "host": {}},
        ],
    )
    return replace(s, volume_files=files)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_files_are_written_with_their_modes_and_bound_read_only(tmp_path: Path) -> None:
    config = AgentConfig(state_dir=tmp_path / "state")
    s = _spec(
        FILES,
        {"sourceVolume": "config", "containerPath": "/etc/config", "readOnly": True},
        {
            "sourceVolume": "creds",
            "containerPath": "/etc/app/password",
            "readOnly": True,
            "subPath": "password",
        },
        {"sourceVolume": "scratch", "containerPath": "/tmp/s"},
    )
    [plan] = plan_task(s, config=config, instance_arn=INSTANCE)
    root = pf.volume_dir(config.state_dir, s.task_arn, "config")
    assert root.is_absolute() and root.parent.parent == (tmp_path / "state").resolve() / "volumes"
    assert (root / "app.conf").read_bytes() == b"colour=blue\n" and mode(root / "app.conf") == 0o644
    assert (root / "conf.d" / "extra.conf").read_bytes() == b"x" and mode(
        root / "conf.d" / "extra.conf"
    ) == 0o400
    assert mode(root) == 0o755  # what the container sees at its mount path
    assert mode(root.parent) == 0o700 and mode(root.parent.parent) == 0o700  # only the agent walks here
    creds = pf.volume_dir(config.state_dir, s.task_arn, "creds")
    assert (creds / "password").read_bytes() == b"s3cret" and mode(creds / "password") == 0o600
    mounts = plan.spec.mounts
    assert mounts[0] == Mount(type="bind", target="/etc/config", source=str(root), read_only=True)
    assert mounts[1] == Mount(
        type="bind", target="/etc/app/password", source=str(creds / "password"), read_only=True
    )
    assert mounts[2].type == "volume"  # an ordinary scratch volume stays a Docker volume
    assert not any(p.name.endswith(".tmp") for p in root.rglob("*"))


def test_a_missing_sub_path_becomes_a_directory_and_an_escaping_one_is_refused(tmp_path: Path) -> None:
    config = AgentConfig(state_dir=tmp_path / "state")
    s = _spec(FILES, {"sourceVolume": "config", "containerPath": "/x", "subPath": "not-there"})
    [plan] = plan_task(s, config=config, instance_arn=INSTANCE)
    assert Path(plan.spec.mounts[0].source).is_dir()
    bad = _spec(FILES, {"sourceVolume": "config", "containerPath": "/x", "subPath": "../creds"})
    with pytest.raises(TaskSetupError) as exc:
        plan_task(bad, config=config, instance_arn=INSTANCE)
    assert "must be relative and stay inside the volume" in exc.value.reason
    scratch = _spec(FILES, {"sourceVolume": "scratch", "containerPath": "/x", "subPath": "a"})
    with pytest.raises(TaskSetupError) as exc:
        plan_task(scratch, config=config, instance_arn=INSTANCE)
    assert "only host directories can be mounted in part" in exc.value.reason


def test_a_path_leaving_the_volume_is_refused(tmp_path: Path) -> None:
    config = AgentConfig(state_dir=tmp_path / "state")
    s = _spec({"config": [{"path": "../../escape", "mode": 0o644, "data": b64(b"x")}]})
    with pytest.raises(TaskSetupError) as exc:
        plan_task(s, config=config, instance_arn=INSTANCE)
    assert exc.value.reason.startswith("CannotCreateContainerError: failed to write the files of a volume")
    assert not (tmp_path / "state" / "escape").exists() and not (tmp_path / "escape").exists()


def test_remove_and_sweep(tmp_path: Path) -> None:
    state = tmp_path / "state"
    keep = "arn:aws:ecs:us-east-1:1:task/c/" + "a" * 32
    gone = "arn:aws:ecs:us-east-1:1:task/c/" + "b" * 32
    for arn in (keep, gone):
        pf.write_task_files(state, arn, FILES)
    assert pf.sweep(state, [keep]) == ["b" * 32]
    assert pf.task_dir(state, keep).is_dir() and not pf.task_dir(state, gone).exists()
    pf.remove_task_files(state, keep)
    pf.remove_task_files(state, keep)  # nothing left: no error
    assert not pf.task_dir(state, keep).exists()


def test_the_agent_writes_the_files_before_the_task_runs_and_removes_them_when_it_stops(
    tmp_path: Path,
) -> None:
    async def body() -> None:
        h = Harness(tmp_path)
        agent = await h.start()
        td = h.control.task_definition(
            container("app", mountPoints=[{"sourceVolume": "config", "containerPath": "/etc/config",
                                           "readOnly": True}]),
            volumes=[{"name": "config", "host": {}}],
        )  # fmt: skip
        task = await h.control.assign(agent.instance_arn, td, volume_files={"config": FILES["config"]})
        await h.reach(task, "RUNNING")
        directory = pf.volume_dir(agent.config.state_dir, task.arn, "config")
        assert (directory / "app.conf").read_bytes() == b"colour=blue\n"
        [app] = h.task_containers(task).values()
        assert h.engine.containers[app.id].spec.mounts[0].source == str(directory)
        await h.control.stop(task)
        await h.reach(task, "STOPPED")
        await until(lambda: not pf.task_dir(agent.config.state_dir, task.arn).exists(), "files removed")
        # left behind by an earlier run of the agent: the cleanup pass removes them
        stale = "arn:aws:ecs:us-east-1:1:task/c/" + "c" * 32
        pf.write_task_files(agent.config.state_dir, stale, FILES)
        await agent.collect_garbage()
        assert not pf.task_dir(agent.config.state_dir, stale).exists()
        await h.close()

    run(body())
