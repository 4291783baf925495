"""RegisterTaskDefinition's ECS semantics, checked without a server: normalization, every
validation rule, compatibilities, requiresAttributes and identifier parsing."""

from __future__ import annotations

from typing import Any

import pytest

from stowage.model.task_definition_capabilities import compatibilities, requires_attributes
from stowage.model.task_definition_errors import TaskDefinitionInvalid
from stowage.model.task_definitions import TaskDefinitionRef, normalize_registration, parse_identifier


def container(**kw: Any) -> dict[str, Any]:
    return {"name": "app", "image": "nginx:1.27", "memory": 128, **kw}


def request(*containers: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return {"family": "web", "containerDefinitions": list(containers) or [container()], **kw}


def fargate(*containers: dict[str, Any], **kw: Any) -> dict[str, Any]:
    base = {"requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc", "cpu": "256", "memory": "512"}
    return request(*(containers or [{"name": "app", "image": "nginx"}]), **{**base, **kw})


def rejects(params: dict[str, Any], message: str, code: str = "ClientException") -> None:
    with pytest.raises(TaskDefinitionInvalid) as info:
        normalize_registration(params)
    assert info.value.code == code
    assert message in info.value.message, info.value.message


# -- normalization -------------------------------------------------------------------------------


def test_defaults_are_filled_as_ecs_returns_them() -> None:
    td = normalize_registration(request(container(portMappings=[{"containerPort": 80}]))).definition
    c = td["containerDefinitions"][0]
    assert c["essential"] is True
    assert c["cpu"] == 0
    assert c["portMappings"] == [{"containerPort": 80, "hostPort": 0, "protocol": "tcp"}]
    for key in ("environment", "mountPoints", "volumesFrom", "systemControls"):
        assert c[key] == []
    assert td["volumes"] == [] and td["placementConstraints"] == []
    assert "networkMode" not in td
    assert td["compatibilities"] == ["EXTERNAL", "EC2"]


def test_every_container_field_is_kept() -> None:
    full = container(
        cpu=128, memoryReservation=64, links=[], essential=True, entryPoint=["sh"], command=["-c", "x"],
        environment=[{"name": "A", "value": "1"}], workingDirectory="/srv", user="app",
        dockerLabels={"k": "v"}, readonlyRootFilesystem=True, interactive=False, pseudoTerminal=False,
        secrets=[{"name": "S", "valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/s"}],
        logConfiguration={"logDriver": "json-file", "options": {"max-size": "1m"}},
        linuxParameters={"initProcessEnabled": True}, stopTimeout=30, startTimeout=30,
        versionConsistency="disabled", restartPolicy={"enabled": True, "ignoredExitCodes": [0]},
    )  # fmt: skip
    c = normalize_registration(request(full)).definition["containerDefinitions"][0]
    for key, value in full.items():
        assert c[key] == value


def test_task_size_strings_are_normalized() -> None:
    td = normalize_registration(fargate(cpu="1 vCPU", memory="2 GB")).definition
    assert (td["cpu"], td["memory"]) == ("1024", "2048")
    td = normalize_registration(fargate(cpu="0.25 vcpu", memory="1GB")).definition
    assert (td["cpu"], td["memory"]) == ("256", "1024")


def test_awsvpc_and_host_fill_host_port() -> None:
    for mode in ("awsvpc", "host"):
        td = normalize_registration(
            request(container(portMappings=[{"containerPort": 8080}]), networkMode=mode)
        )
        assert td.definition["containerDefinitions"][0]["portMappings"][0]["hostPort"] == 8080


def test_health_check_defaults() -> None:
    td = normalize_registration(request(container(healthCheck={"command": ["CMD", "true"]})))
    hc = td.definition["containerDefinitions"][0]["healthCheck"]
    assert hc == {"command": ["CMD", "true"], "interval": 30, "timeout": 5, "retries": 3}


def test_tags_are_returned_separately() -> None:
    reg = normalize_registration(request(tags=[{"key": "team", "value": "web"}]))
    assert reg.tags == [{"key": "team", "value": "web"}]
    assert "tags" not in reg.definition


# -- family and containers ----------------------------------------------------------------------


@pytest.mark.parametrize("family", ["bad name", "web/1", "a" * 256, "web:1", "héllo"])
def test_family_pattern(family: str) -> None:
    rejects(request(family=family), "Family contains invalid characters.")


def test_blank_family() -> None:
    rejects(request(family=""), "Family can not be blank.")


def test_family_of_255_allowed_characters() -> None:
    assert normalize_registration(request(family="A-z_0" * 51)).family == "A-z_0" * 51


def test_container_rules() -> None:
    rejects(request(family="web", containerDefinitions=[]), "Container list cannot be empty.")
    rejects(request(*[container(name=f"c{i}") for i in range(11)]), "at most 10")
    rejects(request(container(name="")), "Container.name should not be null or empty.")
    rejects(request(container(name="my app")), "Container.name contains invalid characters.")
    rejects(request(container(image="")), "Container.image should not be null or empty.")
    rejects(request(container(), container()), "Duplicate container name 'app'")
    rejects(request(container(essential=False)), "does not have any essential container")
    rejects(request(container(cpu=-1)), "Invalid 'cpu' setting for container 'app'.")


def test_memory_rules() -> None:
    rejects(
        request({"name": "app", "image": "x"}),
        "Invalid setting for container 'app'. "
        "At least one of 'memory' or 'memoryReservation' must be specified.",
    )
    rejects(request(container(memory=5)), "Invalid 'memory' setting for container 'app'")
    rejects(request(container(memory=None, memoryReservation=4)), "Invalid 'memoryReservation' setting")
    rejects(request(container(memory=64, memoryReservation=128)), "'memory' must be greater than or equal")
    rejects(
        request(container(memory=1024), memory="512"), "The 'memory' setting for container 'app' is greater"
    )
    rejects(
        request(
            container(memoryReservation=300, memory=None),
            container(name="b", memoryReservation=300, memory=None),
            memory="512",
        ),
        "The sum of all container 'memoryReservation' values cannot be greater",
    )  # fmt: skip
    rejects(request(container(cpu=300), memory="512", cpu="256"), "The sum of all container 'cpu' values")
    # Task memory alone satisfies the EC2 rule; equal memory and reservation is fine.
    normalize_registration(request({"name": "app", "image": "x"}, memory="512"))
    normalize_registration(request(container(memory=64, memoryReservation=64)))


@pytest.mark.parametrize("key", ["cpu", "memory"])
def test_unparseable_task_size(key: str) -> None:
    rejects(request(**{key: "lots"}), f"Invalid '{key}' setting for task.")


# -- networking ----------------------------------------------------------------------------------


def test_port_mapping_rules() -> None:
    pm = [{"containerPort": 80, "hostPort": 8080}]
    for mode in ("awsvpc", "host"):
        rejects(
            request(container(portMappings=pm), networkMode=mode),
            f"When networkMode={mode}, the host ports and container ports in port mappings must match.",
        )
    normalize_registration(request(container(portMappings=pm), networkMode="bridge"))
    rejects(request(container(portMappings=[{"containerPort": 80}]), networkMode="none"), "networkMode=none")
    rejects(request(container(portMappings=[{"containerPort": 70000}])), "Invalid 'containerPort'")
    rejects(request(container(portMappings=[{"hostPort": 80}])), "'containerPort' is required")
    rejects(request(container(portMappings=[{"containerPortRange": "90-80"}])), "Invalid containerPortRange")
    normalize_registration(request(container(portMappings=[{"containerPortRange": "8000-8010"}])))


def test_links_only_on_bridge_and_to_known_containers() -> None:
    two = (container(links=["db:database"]), container(name="db"))
    normalize_registration(request(*two))
    normalize_registration(request(*two, networkMode="bridge"))
    rejects(request(*two, networkMode="awsvpc"), "Links are not supported when networkMode=awsvpc")
    rejects(request(*two, networkMode="host"), "Links are not supported when networkMode=host")
    rejects(request(container(links=["nope"])), "Unknown container 'nope'")


def test_awsvpc_forbids_hostname() -> None:
    rejects(
        request(container(hostname="h"), networkMode="awsvpc"),
        "hostname is not supported on container when networkMode=awsvpc.",
    )


# -- volumes, dependencies, health checks, ulimits -------------------------------------------------


def test_mount_points_need_declared_volumes() -> None:
    mount = {"sourceVolume": "data", "containerPath": "/data"}
    rejects(request(container(mountPoints=[mount])), "Unknown volume 'data'")
    td = normalize_registration(
        request(container(mountPoints=[mount]), volumes=[{"name": "data"}])
    ).definition
    assert td["volumes"] == [{"name": "data", "host": {}}]
    rejects(request(volumes=[{"name": "a"}, {"name": "a"}]), "Duplicate volume name 'a'")
    rejects(request(volumes=[{"name": "bad name"}]), "Volume name contains invalid characters.")
    rejects(
        request(
            volumes=[{"name": "v", "dockerVolumeConfiguration": {"scope": "task", "autoprovision": True}}]
        ),
        "Autoprovision",
    )
    rejects(request(container(volumesFrom=[{"sourceContainer": "ghost"}])), "Unknown container 'ghost'")


def test_depends_on_rules() -> None:
    side = container(name="side", essential=False)
    normalize_registration(
        request(container(dependsOn=[{"containerName": "side", "condition": "SUCCESS"}]), side)
    )
    rejects(
        request(container(dependsOn=[{"containerName": "ghost", "condition": "START"}])),
        "Cannot depend on container 'ghost' because it does not exist",
    )
    rejects(
        request(container(dependsOn=[{"containerName": "side", "condition": "HEALTHY"}]), side),
        "HEALTHY condition must have a health check",
    )
    rejects(
        request(
            container(dependsOn=[{"containerName": "side", "condition": "COMPLETE"}]), container(name="side")
        ),
        "cannot be an essential container",
    )
    rejects(
        request(
            container(dependsOn=[{"containerName": "b", "condition": "START"}]),
            container(name="b", dependsOn=[{"containerName": "app", "condition": "START"}]),
        ),
        "cycle",
    )


@pytest.mark.parametrize(
    ("field", "bad"),
    [("interval", 4), ("interval", 301), ("timeout", 1), ("timeout", 61), ("retries", 0), ("retries", 11),
     ("startPeriod", -1), ("startPeriod", 301)],
)  # fmt: skip
def test_health_check_ranges(field: str, bad: int) -> None:
    hc = {"command": ["CMD-SHELL", "true"], field: bad}
    rejects(request(container(healthCheck=hc)), f"'{field}' must be between")


def test_health_check_edges_are_allowed() -> None:
    hc = {"command": ["CMD", "true"], "interval": 5, "timeout": 2, "retries": 10, "startPeriod": 300}
    normalize_registration(request(container(healthCheck=hc)))
    rejects(request(container(healthCheck={"command": []})), "'command' must not be empty")


def test_ulimits() -> None:
    ok = {"name": "nofile", "softLimit": 1024, "hardLimit": 4096}
    normalize_registration(request(container(ulimits=[ok])))
    rejects(request(container(ulimits=[{**ok, "name": "files"}])), "Unknown ulimit 'files'")
    rejects(request(container(ulimits=[ok, ok])), "Duplicate ulimit 'nofile'")
    rejects(request(container(ulimits=[{**ok, "softLimit": 5000}])), "softLimit")


# -- task options ------------------------------------------------------------------------------------


def test_ephemeral_storage_range() -> None:
    normalize_registration(fargate(ephemeralStorage={"sizeInGiB": 21}))
    normalize_registration(fargate(ephemeralStorage={"sizeInGiB": 200}))
    for bad in (20, 201):
        rejects(fargate(ephemeralStorage={"sizeInGiB": bad}), "between 21 and 200")


def test_placement_constraints_and_runtime_platform() -> None:
    normalize_registration(
        request(placementConstraints=[{"type": "memberOf", "expression": "attribute:x == y"}])
    )
    rejects(request(placementConstraints=[{"type": "memberOf"}]), "memberOf")
    rejects(
        request(
            runtimePlatform={"operatingSystemFamily": "WINDOWS_SERVER_2022_CORE", "cpuArchitecture": "ARM64"}
        ),
        "ARM64",
    )
    rejects(
        request(pidMode="host", runtimePlatform={"operatingSystemFamily": "WINDOWS_SERVER_2019_FULL"}),
        "Windows",
    )


def test_tag_rules() -> None:
    rejects(request(tags=[{"key": "aws:x", "value": "1"}]), "reserved", "InvalidParameterException")
    rejects(request(tags=[{"key": "a", "value": "1"}] * 2), "Duplicate tag key", "InvalidParameterException")
    rejects(
        request(tags=[{"key": f"k{i}", "value": ""} for i in range(51)]), "50", "InvalidParameterException"
    )


# -- Fargate -------------------------------------------------------------------------------------------


def test_fargate_rules() -> None:
    rejects(fargate(networkMode="bridge"), "Fargate only supports network mode \u2018awsvpc\u2019.")
    rejects(request({"name": "a", "image": "x"}, requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
                    memory="512"),
            "Fargate requires that 'cpu' be defined at the task level.")  # fmt: skip
    rejects(fargate(memory=None, containerDefinitions=[container()]),
            "Fargate requires that 'memory' be defined at the task level.")  # fmt: skip
    rejects(
        fargate(cpu="512", memory="512"),
        "No Fargate configuration exists for given values: 512 CPU, 512 memory.",
    )
    rejects(fargate(ipcMode="host"), "do not support ipcMode")
    rejects(fargate(pidMode="host"), "pidMode 'host'")
    rejects(fargate(volumes=[{"name": "v", "host": {"sourcePath": "/srv"}}]), "sourcePath")
    rejects(fargate(container(privileged=True)), "privileged")
    rejects(fargate(container(linuxParameters={"devices": [{"hostPath": "/dev/x"}]})), "devices")
    rejects(fargate(container(linuxParameters={"capabilities": {"add": ["NET_ADMIN"]}})), "SYS_PTRACE")
    rejects(
        fargate(container(logConfiguration={"logDriver": "json-file"})), "json-file is not a valid log driver"
    )
    rejects(
        fargate(container(logConfiguration={"logDriver": "awslogs", "options": {}})),
        "Fargate requires task definition to have execution role ARN to support log driver awslogs.",
    )
    rejects(fargate(container(stopTimeout=121)), "stop timeout")
    normalize_registration(fargate(container(linuxParameters={"capabilities": {"add": ["SYS_PTRACE"]}})))


@pytest.mark.parametrize(("cpu", "memory"), [("256", "2048"), ("4 vCPU", "30 GB"), ("16384", "122880")])
def test_fargate_valid_sizes_register(cpu: str, memory: str) -> None:
    td = normalize_registration(fargate(cpu=cpu, memory=memory)).definition
    assert td["compatibilities"] == ["EC2", "FARGATE"]


# -- derived fields --------------------------------------------------------------------------------------


def test_compatibilities() -> None:
    # awsvpc with a valid size qualifies for Fargate even when it was not asked for.
    td = normalize_registration(request(networkMode="awsvpc", cpu="256", memory="512")).definition
    assert compatibilities(td) == ["EC2", "FARGATE"]
    td = normalize_registration(request(networkMode="awsvpc")).definition
    assert compatibilities(td) == ["EC2"]
    td = normalize_registration(request(networkMode="host", cpu="256", memory="512")).definition
    assert compatibilities(td) == ["EXTERNAL", "EC2"]
    rejects(request(networkMode="awsvpc", requiresCompatibilities=["EXTERNAL"]), "EXTERNAL")


def test_requires_attributes() -> None:
    td = normalize_registration(
        request(
            container(
                memoryReservation=64,
                healthCheck={"command": ["CMD", "true"]},
                logConfiguration={"logDriver": "awslogs", "options": {"awslogs-group": "g"}},
                dependsOn=[{"containerName": "side", "condition": "START"}],
            ),
            container(name="side"),
            taskRoleArn="arn:aws:iam::123456789012:role/app",
            executionRoleArn="arn:aws:iam::123456789012:role/exec",
            networkMode="awsvpc",
        )
    ).definition
    names = [a["name"] for a in requires_attributes(td)]
    assert names == sorted(set(names))
    for expected in (
        "com.amazonaws.ecs.capability.task-iam-role",
        "com.amazonaws.ecs.capability.logging-driver.awslogs",
        "com.amazonaws.ecs.capability.docker-remote-api.1.19",
        "com.amazonaws.ecs.capability.docker-remote-api.1.21",
        "ecs.capability.execution-role-awslogs",
        "ecs.capability.container-health-check",
        "ecs.capability.container-ordering",
        "ecs.capability.task-eni",
    ):
        assert expected in names
    plain = normalize_registration(request()).definition
    assert requires_attributes(plain) == []


# -- identifiers -------------------------------------------------------------------------------------------


def test_parse_identifier() -> None:
    assert parse_identifier("web") == TaskDefinitionRef("web", None)
    assert parse_identifier("web:3") == TaskDefinitionRef("web", 3)
    assert parse_identifier("arn:aws:ecs:us-east-1:123456789012:task-definition/web:3") == TaskDefinitionRef(
        "web", 3, "123456789012", "us-east-1"
    )
    for bad in ("", "web:", "web:0", "web:x", "bad name", "arn:aws:ecs:us-east-1:1:cluster/web",
                "arn:aws:ecs:us-east-1:123456789012:task-definition/web", "web:1:2"):  # fmt: skip
        assert parse_identifier(bad) is None, bad
