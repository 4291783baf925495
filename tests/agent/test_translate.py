"""Task definition → ContainerSpec: every mapped feature, in ECS's units and precedence rules."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from stowage.agent import labels as lbl
from stowage.agent.config import AgentConfig
from stowage.agent.translate import TaskSetupError, parse_env_file, plan_task
from stowage.model.agent_tasks import TaskNetwork, TaskSpec
from stowage.runtime.base import HealthCheck, Mount, PortBinding, Ulimit

MIB = 1024 * 1024
ARN = "arn:aws:ecs:us-east-1:123456789012:task/c/0123456789abcdef0123456789abcdef"
INSTANCE = "arn:aws:ecs:us-east-1:123456789012:container-instance/c/feedface"


def spec(*containers: dict[str, Any], overrides: dict[str, Any] | None = None, **td: Any) -> TaskSpec:
    return TaskSpec(
        task_arn=ARN,
        cluster_arn="arn:aws:ecs:us-east-1:123456789012:cluster/c",
        container_instance_arn=INSTANCE,
        task_definition_arn="arn:aws:ecs:us-east-1:123456789012:task-definition/fam:3",
        family="fam",
        revision=3,
        task_definition={"family": "fam", "revision": 3, "containerDefinitions": list(containers), **td},
        overrides=overrides or {},
        launch_type="EC2",
        network=TaskNetwork(mode=str(td.get("networkMode", "bridge"))),
    )


def plan(s: TaskSpec, config: AgentConfig | None = None, files: dict[str, str] | None = None) -> list[Any]:
    def read(path: Path) -> str:
        if files is None or str(path) not in files:
            raise FileNotFoundError(2, "No such file or directory")
        return files[str(path)]

    return plan_task(s, config=config or AgentConfig(), instance_arn=INSTANCE, read=read)


def test_process_settings_and_overrides() -> None:
    c = {
        "name": "app",
        "image": "busybox",
        "command": ["echo", "td"],
        "entryPoint": ["/bin/sh", "-c"],
        "environment": [{"name": "A", "value": "td"}, {"name": "B", "value": "td"}],
        "environmentFiles": [{"type": "s3", "value": "/etc/app.env"}],
        "workingDirectory": "/srv",
        "user": "nobody",
        "dockerLabels": {"team": "x", lbl.TASK_ARN: "spoofed"},
    }
    overrides = {
        "containerOverrides": [
            {"name": "app", "command": ["echo", "ov"], "environment": [{"name": "B", "value": "ov"}]}
        ]
    }
    files = {"/etc/app.env": "# comment\nA=file\nC=file\n\nC=second\n"}
    (p,) = plan(spec(c, overrides=overrides), files=files)
    s = p.spec
    assert s.command == ("echo", "ov") and s.entrypoint == ("/bin/sh", "-c")
    assert dict(s.env) == {"A": "td", "B": "ov", "C": "file"}  # environment > files; first file line wins
    assert s.working_dir == "/srv" and s.user == "nobody"
    assert s.labels["team"] == "x" and s.labels[lbl.TASK_ARN] == ARN  # our labels cannot be spoofed
    assert s.labels[lbl.INSTANCE] == INSTANCE and s.labels[lbl.CONTAINER_NAME] == "app"
    assert s.name == "ecs-fam-3-app-0123456789abcdef0123456789abcdef"


def test_missing_env_file_fails_the_task() -> None:
    c = {"name": "app", "image": "busybox", "environmentFiles": [{"type": "s3", "value": "/nope.env"}]}
    with pytest.raises(TaskSetupError, match="ResourceInitializationError: failed to download env files"):
        plan(spec(c))


def test_resources_limits_and_security() -> None:
    c = {
        "name": "app",
        "image": "busybox",
        "cpu": 1,
        "memory": 128,
        "memoryReservation": 64,
        "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 2048}],
        "readonlyRootFilesystem": True,
        "linuxParameters": {
            "initProcessEnabled": True,
            "capabilities": {"add": ["NET_ADMIN"], "drop": ["MKNOD"]},
        },
        "healthCheck": {"command": ["CMD-SHELL", "true"], "interval": 5, "retries": 2},
        "stopTimeout": 7,
    }
    (p,) = plan(spec(c, cpu="512", memory="256"))
    s = p.spec
    assert s.cpu_shares == 2  # the kernel's minimum
    assert s.nano_cpus == 500_000_000  # task cpu 512 = half a core
    assert s.memory_bytes == 128 * MIB and s.memory_reservation_bytes == 64 * MIB
    assert s.ulimits == (Ulimit("nofile", 1024, 2048),)
    assert s.readonly_rootfs and s.init and s.cap_add == ("NET_ADMIN",) and s.cap_drop == ("MKNOD",)
    assert s.healthcheck == HealthCheck(("CMD-SHELL", "true"), interval_s=5, timeout_s=5, retries=2)
    assert p.stop_timeout_s == 7 and s.stop_timeout_s == 7


def test_task_memory_is_the_limit_of_containers_without_one() -> None:
    (p,) = plan(spec({"name": "a", "image": "x", "memoryReservation": 32}, memory="512"))
    assert p.spec.memory_bytes == 512 * MIB and p.spec.memory_reservation_bytes == 32 * MIB


def test_a_pod_containers_cpu_limit_is_a_hard_cap_and_its_request_the_shares() -> None:
    limited = {
        "name": "a",
        "image": "x",
        "cpu": 256,
        "_k8s": {"restartPolicy": "Always", "nanoCpus": 500_000_000},
    }
    tiny = {"name": "b", "image": "x", "_k8s": {"restartPolicy": "Always", "nanoCpus": 1_000_000}}
    free = {"name": "c", "image": "x", "cpu": 256, "_k8s": {"restartPolicy": "Always"}}
    a, b, c = plan(spec(limited, tiny, free, networkMode="awsvpc"))
    assert (a.spec.cpu_shares, a.spec.nano_cpus) == (256, 500_000_000)
    assert b.spec.nano_cpus == 10_000_000  # Docker's minimum
    assert (c.spec.cpu_shares, c.spec.nano_cpus) == (256, None)


def test_privileged_only_when_allowed() -> None:
    c = {"name": "app", "image": "busybox", "privileged": True}
    with pytest.raises(TaskSetupError, match="privileged"):
        plan(spec(c))
    (p,) = plan(spec(c), AgentConfig(allow_privileged=True))
    assert p.spec.privileged


def test_volumes_host_docker_scratch_and_volumes_from(tmp_path: Path) -> None:
    host = tmp_path / "data"
    volumes = [
        {"name": "host", "host": {"sourcePath": str(host)}},
        {"name": "scratch"},
        {"name": "shared", "dockerVolumeConfiguration": {"scope": "shared", "autoprovision": True}},
        {"name": "per-task", "dockerVolumeConfiguration": {"scope": "task"}},
    ]
    writer = {
        "name": "writer",
        "image": "x",
        "mountPoints": [
            {"sourceVolume": "host", "containerPath": "/host", "readOnly": True},
            {"sourceVolume": "scratch", "containerPath": "/scratch"},
            {"sourceVolume": "shared", "containerPath": "/shared"},
            {"sourceVolume": "per-task", "containerPath": "/task"},
        ],
    }
    reader = {
        "name": "reader",
        "image": "x",
        "volumesFrom": [{"sourceContainer": "writer", "readOnly": True}],
    }
    w, r = plan(spec(writer, reader, volumes=volumes))
    tid = ARN.rsplit("/", 1)[-1]
    mounts = {m.target: m for m in w.spec.mounts}
    assert mounts["/host"] == Mount("bind", "/host", str(host), read_only=True)
    assert host.is_dir()  # created, as Docker's -v (which ECS uses) does
    assert (mounts["/scratch"].type, mounts["/scratch"].source) == ("volume", f"ecs-{tid}-scratch")
    assert mounts["/shared"].source == "shared"
    assert mounts["/task"].source == f"ecs-{tid}-per-task"
    assert lbl.task_volumes_of(w.spec.labels) == [f"ecs-{tid}-scratch", f"ecs-{tid}-per-task"]
    assert r.volumes_from == (("writer", True),)


def test_network_modes_and_port_mappings() -> None:
    c = {
        "name": "web",
        "image": "x",
        "portMappings": [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 53, "protocol": "udp"}],
    }
    (bridge,) = plan(spec(c))
    assert bridge.spec.network == "bridge"
    assert bridge.spec.port_bindings == (PortBinding(80, 8080, "tcp"), PortBinding(53, None, "udp"))
    (host,) = plan(spec(c, networkMode="host"))
    assert host.spec.network == "host" and host.spec.port_bindings == ()
    assert host.host_port_mappings == ((80, "tcp"), (53, "udp"))
    (none,) = plan(spec(c, networkMode="none"))
    assert none.spec.network == "none" and none.spec.port_bindings == ()


def test_awslogs_stream_names() -> None:
    log = {"logDriver": "awslogs", "options": {"awslogs-group": "g", "awslogs-stream-prefix": "pre"}}
    (p,) = plan(spec({"name": "app", "image": "x", "logConfiguration": log}))
    assert p.awslogs is not None and p.awslogs.stream == f"pre/app/{ARN.rsplit('/', 1)[-1]}"
    assert p.awslogs.create_group is False
    assert p.spec.log.driver == "json-file"  # the agent reads the lines and ships them


def test_depends_on_and_timeouts() -> None:
    c = {
        "name": "app",
        "image": "x",
        "dependsOn": [{"containerName": "init", "condition": "success"}],
        "startTimeout": 9,
    }
    (p, _) = plan(spec(c, {"name": "init", "image": "x", "essential": False}))
    assert [(d.container, d.condition) for d in p.depends_on] == [("init", "SUCCESS")]
    assert p.start_timeout_s == 9 and p.stop_timeout_s == 30.0


def test_parse_env_file() -> None:
    assert parse_env_file("A=1\n#B=2\n\nC = x=y\nnovalue\n") == {"A": "1", "C": " x=y"}


def fargate_spec(*containers: dict[str, Any], overrides: dict[str, Any] | None = None, **td: Any) -> TaskSpec:
    doc = {"networkMode": "awsvpc", "cpu": "256", "memory": "512", **td}
    base = spec(*containers, overrides=overrides, **doc)
    return replace(base, launch_type="FARGATE", capacity_provider="FARGATE")


FARGATE_CAPS = (
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
    "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
)  # fmt: skip


def test_fargate_containers_get_fargates_capabilities_task_size_and_storage() -> None:
    plain = {"name": "plain", "image": "busybox"}
    ptrace = {
        "name": "ptrace",
        "image": "busybox",
        "linuxParameters": {"capabilities": {"add": ["SYS_PTRACE"]}},
    }
    dropped = {
        "name": "dropped",
        "image": "busybox",
        "memory": 128,
        "linuxParameters": {"capabilities": {"drop": ["NET_RAW", "cap_chown"]}},
    }
    everything = {"name": "none", "image": "busybox", "linuxParameters": {"capabilities": {"drop": ["ALL"]}}}
    by_name = {p.name: p.spec for p in plan(fargate_spec(plain, ptrace, dropped, everything))}
    # Exactly Fargate's set whatever the engine's default: drop everything, add the set back.
    assert by_name["plain"].cap_drop == ("ALL",) and by_name["plain"].cap_add == FARGATE_CAPS
    assert by_name["ptrace"].cap_add == tuple(sorted((*FARGATE_CAPS, "SYS_PTRACE")))
    assert by_name["dropped"].cap_add == tuple(c for c in FARGATE_CAPS if c not in ("NET_RAW", "CHOWN"))
    assert by_name["none"].cap_add == () and by_name["none"].cap_drop == ("ALL",)
    # Each container is capped at the task size (what it sees inside); its own limit stays.
    assert {s.nano_cpus for s in by_name.values()} == {250_000_000}
    assert by_name["plain"].memory_bytes == 512 * MIB and by_name["dropped"].memory_bytes == 128 * MIB
    assert {s.storage_size_bytes for s in by_name.values()} == {20 * 1024 * MIB}
    assert not any(s.privileged for s in by_name.values())
    # The task override's size and storage win.
    overrides = {"cpu": "1024", "memory": "4096", "ephemeralStorage": {"sizeInGiB": 100}}
    (p,) = plan(fargate_spec(plain, overrides=overrides))
    assert p.spec.nano_cpus == 1_000_000_000 and p.spec.memory_bytes == 4096 * MIB
    assert p.spec.storage_size_bytes == 100 * 1024 * MIB


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (
            {"containers": [{"privileged": True}]},
            "Fargate does not support privileged containers (container 'app')",
        ),
        ({"td": {"networkMode": "bridge"}}, "Fargate only supports network mode"),
        ({"td": {"pidMode": "host"}}, "do not support pidMode 'host'"),
        ({"td": {"ipcMode": "host"}}, "do not support ipcMode"),
        (
            {"td": {"volumes": [{"name": "h", "host": {"sourcePath": "HOST"}}]}},
            "host volumes with a 'sourcePath'",
        ),
        (
            {"td": {"volumes": [{"name": "d", "dockerVolumeConfiguration": {"scope": "shared"}}]}},
            "dockerVolumeConf",
        ),
        ({"containers": [{"linuxParameters": {"devices": [{"hostPath": "/dev/kvm"}]}}]}, "support 'devices'"),
        (
            {"containers": [{"linuxParameters": {"capabilities": {"add": ["NET_ADMIN"]}}}]},
            "only supports adding",
        ),
        ({"containers": [{"linuxParameters": {"capabilities": {"add": ["ALL"]}}}]}, "only supports adding"),
        ({"containers": [{"dockerSecurityOptions": ["seccomp=unconfined"]}]}, "'dockerSecurityOptions'"),
        ({"containers": [{"disableNetworking": True}]}, "'disableNetworking'"),
        (
            {"td": {"cpu": "256", "memory": "4096"}},
            "No Fargate configuration exists for given values: 256 CPU",
        ),
        ({"td": {"cpu": None}}, "requires that 'cpu' be defined at the task level"),
        ({"td": {"ephemeralStorage": {"sizeInGiB": 201}}}, "between 21 and 200 GiB"),
    ],
)
def test_fargate_refusals(tmp_path: Path, change: dict[str, Any], words: str) -> None:
    container: dict[str, Any] = {"name": "app", "image": "busybox"}
    for extra in change.get("containers", []):
        container.update(extra)
    td = {k: v for k, v in change.get("td", {}).items() if v is not None}
    if "volumes" in td:
        td["volumes"] = [
            {**v, "host": {"sourcePath": str(tmp_path / "made")}} if "host" in v else v for v in td["volumes"]
        ]
    s = fargate_spec(container, **td)
    if change.get("td", {}).get("cpu", "") is None:
        s = replace(s, task_definition={k: v for k, v in s.task_definition.items() if k != "cpu"})
    with pytest.raises(TaskSetupError) as raised:
        plan(s)
    assert raised.value.reason.startswith("CannotCreateContainerError: ")
    assert words in raised.value.reason
    assert not (tmp_path / "made").exists()  # refused before touching the host
