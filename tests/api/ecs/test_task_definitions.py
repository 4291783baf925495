"""Task definitions over real HTTP with boto3 and the AWS CLI: register, describe, list,
deregister, delete, every validation error ECS gives at registration, and revision numbering
under concurrent registrations."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.server import ACCOUNT_ID, REGION, ServerProcess

ARN_PREFIX = f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:task-definition/"


def unique(prefix: str = "td") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def container(**kw: Any) -> dict[str, Any]:
    return {"name": "app", "image": "nginx:1.27", "memory": 128, **kw}


def register(ecs: Any, family: str, *containers: dict[str, Any], **kw: Any) -> dict[str, Any]:
    td: dict[str, Any] = ecs.register_task_definition(
        family=family, containerDefinitions=list(containers) or [container()], **kw
    )["taskDefinition"]
    return td


def error_of(call: Any, **kw: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call(**kw)
    err = info.value.response["Error"]
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return err["Code"], err["Message"]


# -- register and describe ---------------------------------------------------------------------


def test_register_echoes_everything_and_adds_what_ecs_adds(ecs: Any) -> None:
    family = unique("full")
    full = container(
        cpu=128, memoryReservation=64, essential=True, entryPoint=["sh", "-c"], command=["sleep 1"],
        environment=[{"name": "A", "value": "1"}], workingDirectory="/srv", user="1000",
        portMappings=[{"containerPort": 8080, "protocol": "tcp", "name": "http", "appProtocol": "http"}],
        dockerLabels={"team": "web"}, readonlyRootFilesystem=True, stopTimeout=30,
        healthCheck={"command": ["CMD-SHELL", "curl -f localhost:8080"], "interval": 10, "retries": 2},
        logConfiguration={"logDriver": "awslogs", "options": {"awslogs-group": "g"}},
        ulimits=[{"name": "nofile", "softLimit": 1024, "hardLimit": 2048}],
        mountPoints=[{"sourceVolume": "scratch", "containerPath": "/scratch", "readOnly": False}],
        secrets=[{"name": "DB", "valueFrom": f"arn:aws:ssm:{REGION}:{ACCOUNT_ID}:parameter/db"}],
        linuxParameters={"initProcessEnabled": True, "capabilities": {"drop": ["NET_RAW"]}},
    )  # fmt: skip
    td = register(
        ecs, family, full,
        taskRoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/app",
        executionRoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/exec",
        networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="1 vCPU", memory="2 GB",
        volumes=[{"name": "scratch"}], ephemeralStorage={"sizeInGiB": 30},
        runtimePlatform={"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
    )  # fmt: skip
    assert td["taskDefinitionArn"] == f"{ARN_PREFIX}{family}:1"
    assert (td["family"], td["revision"], td["status"]) == (family, 1, "ACTIVE")
    assert (td["cpu"], td["memory"]) == ("1024", "2048")
    assert td["registeredBy"] == f"arn:aws:iam::{ACCOUNT_ID}:root"
    assert isinstance(td["registeredAt"], datetime.datetime)
    assert abs((datetime.datetime.now(datetime.UTC) - td["registeredAt"]).total_seconds()) < 3600
    assert td["compatibilities"] == ["EC2", "FARGATE"]
    assert td["ephemeralStorage"] == {"sizeInGiB": 30}
    assert td["volumes"] == [{"name": "scratch", "host": {}}]
    names = {a["name"] for a in td["requiresAttributes"]}
    assert {
        "ecs.capability.task-eni",
        "com.amazonaws.ecs.capability.task-iam-role",
        "com.amazonaws.ecs.capability.logging-driver.awslogs",
        "ecs.capability.execution-role-awslogs",
        "ecs.capability.container-health-check",
        "ecs.capability.container-ordering",
    } <= names
    c = td["containerDefinitions"][0]
    for key, value in full.items():
        if key not in ("portMappings", "healthCheck"):
            assert c[key] == value, key
    assert c["portMappings"] == [{**full["portMappings"][0], "hostPort": 8080}]
    assert c["healthCheck"] == {**full["healthCheck"], "timeout": 5}
    assert c["volumesFrom"] == []


def test_describe_by_family_revision_and_arn(ecs: Any) -> None:
    family = unique()
    first = register(ecs, family)
    second = register(ecs, family, container(image="nginx:2"))
    assert second["revision"] == first["revision"] + 1
    for ref in (family, f"{family}:2", second["taskDefinitionArn"]):
        assert ecs.describe_task_definition(taskDefinition=ref)["taskDefinition"] == second
    assert ecs.describe_task_definition(taskDefinition=f"{family}:1")["taskDefinition"] == first


def test_tags_on_register_and_describe(ecs: Any) -> None:
    family = unique()
    tags = [{"key": "team", "value": "web"}, {"key": "env", "value": ""}]
    resp = ecs.register_task_definition(family=family, containerDefinitions=[container()], tags=tags)
    assert resp["tags"] == tags
    described = ecs.describe_task_definition(taskDefinition=family, include=["TAGS"])
    assert described["tags"] == tags
    assert "tags" not in ecs.describe_task_definition(taskDefinition=family)
    assert "tags" not in described["taskDefinition"]


@pytest.mark.parametrize(
    "ref",
    ["never-registered", "never-registered:1", f"{ARN_PREFIX}never-registered:1", "bad name",
     f"arn:aws:ecs:{REGION}:999999999999:task-definition/x:1", "x:0"],
)  # fmt: skip
def test_describe_unknown(ecs: Any, ref: str) -> None:
    assert error_of(ecs.describe_task_definition, taskDefinition=ref) == (
        "ClientException",
        "Unable to describe task definition.",
    )


def test_register_with_the_aws_cli(server: ServerProcess, tmp_path: Path) -> None:
    family = unique("cli")
    spec = {
        "family": family,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [{"name": "web", "image": "nginx", "portMappings": [{"containerPort": 80}]}],
    }
    path = tmp_path / "td.json"
    path.write_text(json.dumps(spec))
    aws = Path(sys.executable).parent / "aws"
    out = subprocess.run(
        [str(aws), "ecs", "register-task-definition", "--cli-input-json", f"file://{path}",
         "--output", "json"],
        env=server.env(), capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    td = json.loads(out.stdout)["taskDefinition"]
    assert td["taskDefinitionArn"] == f"{ARN_PREFIX}{family}:1"
    assert td["containerDefinitions"][0]["portMappings"] == [
        {"containerPort": 80, "hostPort": 80, "protocol": "tcp"}
    ]
    bad = subprocess.run(
        [str(aws), "ecs", "register-task-definition", "--family", family,
         "--requires-compatibilities", "FARGATE", "--network-mode", "awsvpc",
         "--cpu", "512", "--memory", "512",
         "--container-definitions", json.dumps(spec["containerDefinitions"])],
        env=server.env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert bad.returncode != 0
    assert "(ClientException)" in bad.stderr
    assert "No Fargate configuration exists for given values: 512 CPU, 512 memory" in bad.stderr


# -- validation --------------------------------------------------------------------------------------

FARGATE = {"requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc", "cpu": "256", "memory": "512"}
NOMEM = {"name": "app", "image": "nginx"}
PORTS_80_81 = [{"containerPort": 80, "hostPort": 81}]
NOFILE = {"name": "nofile", "softLimit": 1, "hardLimit": 1}


def cds(*containers: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return {"containerDefinitions": list(containers), **kw}


def health(**kw: Any) -> dict[str, Any]:
    return cds(container(healthCheck={"command": ["CMD", "x"], **kw}))


def restart(**kw: Any) -> dict[str, Any]:
    return cds(container(restartPolicy={"enabled": True, **kw}))


def dep(condition: str) -> dict[str, Any]:
    return container(dependsOn=[{"containerName": "db", "condition": condition}])


NEEDS_MEMORY = "At least one of 'memory' or 'memoryReservation' must be specified."
PORTS_MUST_MATCH = "the host ports and container ports in port mappings must match."
RESTART_PERIOD = "'restartAttemptPeriod' must be between 60 and 1800"

INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("family", {"family": "bad name"}, "Family contains invalid characters."),
    ("family-long", {"family": "f" * 256}, "Family contains invalid characters."),
    ("no-containers", cds(), "Container list cannot be empty."),
    ("name", cds(container(name="a b")), "Container.name contains invalid characters."),
    ("dup", cds(container(), container()), "Duplicate container name 'app'"),
    ("image", cds(container(image="")), "Container.image should not be null or empty."),
    ("essential", cds(container(essential=False)), "essential container"),
    ("no-memory", cds(NOMEM), f"Invalid setting for container 'app'. {NEEDS_MEMORY}"),
    ("tiny-memory", cds(container(memory=4)), "Invalid 'memory' setting for container 'app'"),
    (
        "reservation",
        cds(container(memory=64, memoryReservation=65)),
        "greater than or equal to 'memoryReservation'",
    ),
    (
        "over-task",
        cds(container(memory=1024), memory="512"),
        "The 'memory' setting for container 'app' is greater",
    ),
    ("task-cpu", {"cpu": "a lot"}, "Invalid 'cpu' setting for task."),
    ("task-memory", {"memory": "2 TB"}, "Invalid 'memory' setting for task."),
    (
        "fargate-network",
        {**FARGATE, "networkMode": "bridge"},
        "Fargate only supports network mode \u2018awsvpc\u2019.",
    ),
    ("fargate-cpu", {**FARGATE, "cpu": None}, "Fargate requires that 'cpu' be defined at the task level."),
    (
        "fargate-memory",
        {**FARGATE, "memory": None},
        "Fargate requires that 'memory' be defined at the task level.",
    ),
    ("fargate-pair", {**FARGATE, "cpu": "1024", "memory": "1024"}, "given values: 1024 CPU, 1024 memory."),
    (
        "fargate-pair-gb",
        {**FARGATE, "cpu": "8 vCPU", "memory": "18 GB"},
        "given values: 8192 CPU, 18432 memory.",
    ),
    ("fargate-privileged", {**FARGATE, **cds(container(privileged=True))}, "privileged"),
    ("fargate-ipc", {**FARGATE, "ipcMode": "task"}, "Fargate launch type do not support ipcMode."),
    (
        "fargate-host-volume",
        {**FARGATE, "volumes": [{"name": "v", "host": {"sourcePath": "/s"}}]},
        "sourcePath",
    ),
    (
        "fargate-awslogs",
        {**FARGATE, **cds(container(logConfiguration={"logDriver": "awslogs"}))},
        "Fargate requires task definition to have execution role ARN to support log driver awslogs.",
    ),
    ("awsvpc-ports", cds(container(portMappings=PORTS_80_81), networkMode="awsvpc"), PORTS_MUST_MATCH),
    ("host-ports", cds(container(portMappings=PORTS_80_81), networkMode="host"), PORTS_MUST_MATCH),
    (
        "links",
        cds(container(links=["db"]), container(name="db"), networkMode="awsvpc"),
        "Links are not supported when networkMode=awsvpc",
    ),
    ("link-target", cds(container(links=["db"])), "Unknown container 'db'"),
    (
        "mount",
        cds(container(mountPoints=[{"sourceVolume": "v", "containerPath": "/v"}])),
        "Unknown volume 'v'",
    ),
    ("depends", cds(dep("START")), "Cannot depend on container 'db' because it does not exist"),
    ("healthy", cds(dep("HEALTHY"), container(name="db")), "HEALTHY condition must have a health check"),
    ("interval", health(interval=301), "'interval' must be between 5 and 300"),
    ("timeout", health(timeout=1), "'timeout' must be between 2 and 60"),
    ("retries", health(retries=11), "'retries' must be between 1 and 10"),
    ("start-period", health(startPeriod=301), "'startPeriod' must be between 0 and 300"),
    ("restart-short", restart(restartAttemptPeriod=59), RESTART_PERIOD),
    ("restart-long", restart(restartAttemptPeriod=1801), RESTART_PERIOD),
    ("restart-codes", restart(ignoredExitCodes=list(range(51))), "'ignoredExitCodes' can contain at most 50"),
    ("ulimit", cds(container(ulimits=[NOFILE, NOFILE])), "Duplicate ulimit 'nofile'"),
    ("ephemeral", {**FARGATE, "ephemeralStorage": {"sizeInGiB": 20}}, "between 21 and 200"),
    (
        "hostname",
        cds(container(hostname="h"), networkMode="awsvpc"),
        "hostname is not supported on container when networkMode=awsvpc.",
    ),
]


@pytest.mark.parametrize(("case", "changes", "message"), INVALID, ids=[c[0] for c in INVALID])
def test_register_rejects(ecs: Any, case: str, changes: dict[str, Any], message: str) -> None:
    params: dict[str, Any] = {"family": unique(case), "containerDefinitions": [container()], **changes}
    params = {k: v for k, v in params.items() if v is not None}
    code, text = error_of(ecs.register_task_definition, **params)
    assert code == "ClientException"
    assert message in text
    # A rejected registration takes no revision number and creates no family.
    assert (
        params["family"]
        not in ecs.list_task_definition_families(familyPrefix=params["family"][:255])["families"]
    )


def test_container_restart_policy_is_kept_as_given(ecs: Any) -> None:
    policy = {"enabled": True, "ignoredExitCodes": [0, 143], "restartAttemptPeriod": 60}
    td = register(ecs, unique("restart"), container(restartPolicy=policy))
    assert td["containerDefinitions"][0]["restartPolicy"] == policy
    described = ecs.describe_task_definition(taskDefinition=td["taskDefinitionArn"])["taskDefinition"]
    assert described["containerDefinitions"][0]["restartPolicy"] == policy


def test_reserved_tag_keys_are_invalid_parameters(ecs: Any) -> None:
    code, text = error_of(
        ecs.register_task_definition, family=unique(), containerDefinitions=[container()],
        tags=[{"key": "aws:owner", "value": "me"}],
    )  # fmt: skip
    assert code == "InvalidParameterException"
    assert "aws:" in text


def test_fargate_memory_in_gb_and_vcpu_strings(ecs: Any) -> None:
    td = register(
        ecs, unique(), {"name": "app", "image": "nginx"}, **{**FARGATE, "cpu": "4 vCPU", "memory": "30GB"}
    )
    assert (td["cpu"], td["memory"]) == ("4096", "30720")


def test_rejected_registration_does_not_consume_a_revision(ecs: Any) -> None:
    family = unique()
    assert register(ecs, family)["revision"] == 1
    error_of(ecs.register_task_definition, family=family, containerDefinitions=[NOMEM])
    assert register(ecs, family)["revision"] == 2


# -- revisions under concurrency ---------------------------------------------------------------------


def test_concurrent_registrations_get_distinct_consecutive_revisions(server: ServerProcess) -> None:
    family = unique("race")
    clients = [server.boto3_client("ecs") for _ in range(8)]

    def one(i: int) -> int:
        return int(register(clients[i % len(clients)], family, container(command=[str(i)]))["revision"])

    with ThreadPoolExecutor(max_workers=16) as pool:
        revisions = list(pool.map(one, range(40)))
    assert sorted(revisions) == list(range(1, 41))
    listed = clients[0].list_task_definitions(familyPrefix=family)["taskDefinitionArns"]
    assert listed == [f"{ARN_PREFIX}{family}:{r}" for r in range(1, 41)]


# -- listing -------------------------------------------------------------------------------------------


def test_list_task_definitions_filters_sorts_and_pages(ecs: Any) -> None:
    base = unique("list")
    a, b = f"{base}-a", f"{base}-b"
    for family in (a, b, a, b, a):
        register(ecs, family)
    ecs.deregister_task_definition(taskDefinition=f"{a}:2")
    asc = [f"{ARN_PREFIX}{a}:1", f"{ARN_PREFIX}{a}:3", f"{ARN_PREFIX}{b}:1", f"{ARN_PREFIX}{b}:2"]
    assert ecs.list_task_definitions(familyPrefix=base)["taskDefinitionArns"] == asc
    desc = ecs.list_task_definitions(familyPrefix=base, sort="DESC")["taskDefinitionArns"]
    assert desc == list(reversed(asc))
    assert ecs.list_task_definitions(familyPrefix=base, status="INACTIVE")["taskDefinitionArns"] == [
        f"{ARN_PREFIX}{a}:2"
    ]
    assert ecs.list_task_definitions(familyPrefix=a)["taskDefinitionArns"] == asc[:2]

    page = ecs.list_task_definitions(familyPrefix=base, maxResults=3, sort="DESC")
    assert page["taskDefinitionArns"] == desc[:3]
    rest = ecs.list_task_definitions(
        familyPrefix=base, maxResults=3, sort="DESC", nextToken=page["nextToken"]
    )
    assert rest["taskDefinitionArns"] == desc[3:]
    assert "nextToken" not in rest

    paginator = ecs.get_paginator("list_task_definitions")
    pages = list(paginator.paginate(familyPrefix=base, PaginationConfig={"PageSize": 1}))
    assert [arn for p in pages for arn in p["taskDefinitionArns"]] == asc
    assert len(pages) == 4


def test_list_parameter_errors(ecs: Any) -> None:
    for call in (ecs.list_task_definitions, ecs.list_task_definition_families):
        assert error_of(call, maxResults=0)[0] == "InvalidParameterException"
        assert error_of(call, maxResults=101)[0] == "InvalidParameterException"
        assert error_of(call, nextToken="not-a-token")[0] == "InvalidParameterException"


def test_list_families_status_semantics(ecs: Any) -> None:
    base = unique("fam")
    live, dead, mixed = f"{base}-live", f"{base}-dead", f"{base}-mixed"
    register(ecs, live)
    register(ecs, dead)
    register(ecs, mixed)
    register(ecs, mixed)
    ecs.deregister_task_definition(taskDefinition=f"{dead}:1")
    ecs.deregister_task_definition(taskDefinition=f"{mixed}:1")

    def families(**kw: Any) -> list[str]:
        return list(ecs.list_task_definition_families(familyPrefix=base, **kw)["families"])

    assert families() == [dead, live, mixed]
    assert families(status="ALL") == [dead, live, mixed]
    assert families(status="ACTIVE") == [live, mixed]
    assert families(status="INACTIVE") == [dead]

    paginator = ecs.get_paginator("list_task_definition_families")
    pages = list(paginator.paginate(familyPrefix=base, PaginationConfig={"PageSize": 2}))
    assert [f for p in pages for f in p["families"]] == [dead, live, mixed]
    assert [len(p["families"]) for p in pages] == [2, 1]


# -- deregister and delete -----------------------------------------------------------------------------


def test_deregister(ecs: Any) -> None:
    family = unique()
    register(ecs, family)
    register(ecs, family)
    td = ecs.deregister_task_definition(taskDefinition=f"{family}:2")["taskDefinition"]
    assert td["status"] == "INACTIVE"
    assert isinstance(td["deregisteredAt"], datetime.datetime)
    # Still describable by revision; the family name now means the latest ACTIVE revision.
    assert (
        ecs.describe_task_definition(taskDefinition=f"{family}:2")["taskDefinition"]["status"] == "INACTIVE"
    )
    assert ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]["revision"] == 1
    # Deregistering again changes nothing.
    again = ecs.deregister_task_definition(taskDefinition=td["taskDefinitionArn"])["taskDefinition"]
    assert again == td
    ecs.deregister_task_definition(taskDefinition=f"{family}:1")
    assert error_of(ecs.describe_task_definition, taskDefinition=family)[0] == "ClientException"
    # Numbers keep counting after every revision is inactive.
    assert register(ecs, family)["revision"] == 3


def test_deregister_errors(ecs: Any) -> None:
    family = unique()
    register(ecs, family)
    assert error_of(ecs.deregister_task_definition, taskDefinition=f"{family}:9") == (
        "ClientException",
        "The specified task definition does not exist.",
    )
    assert error_of(ecs.deregister_task_definition, taskDefinition=family)[0] == "ClientException"


def test_delete_task_definitions(ecs: Any) -> None:
    family = unique()
    register(ecs, family)
    register(ecs, family)
    ecs.deregister_task_definition(taskDefinition=f"{family}:1")
    resp = ecs.delete_task_definitions(
        taskDefinitions=[f"{family}:1", f"{family}:2", f"{family}:7", "bad name"]
    )
    assert [td["taskDefinitionArn"] for td in resp["taskDefinitions"]] == [f"{ARN_PREFIX}{family}:1"]
    deleted = resp["taskDefinitions"][0]
    assert deleted["status"] == "DELETE_IN_PROGRESS"
    assert isinstance(deleted["deleteRequestedAt"], datetime.datetime)
    reasons = {f["arn"]: f["reason"] for f in resp["failures"]}
    assert reasons == {
        f"{ARN_PREFIX}{family}:2": "The specified task definition is still in ACTIVE status. "
        "Please deregister the target and try again.",
        f"{family}:7": "The specified task definition does not exist. "
        "Specify a valid account, family, revision and try again.",
        "bad name": "The specified task definition identifier is invalid. "
        "Specify a valid name or ARN and try again.",
    }
    listed = ecs.list_task_definitions(familyPrefix=family, status="DELETE_IN_PROGRESS")["taskDefinitionArns"]
    assert listed == [f"{ARN_PREFIX}{family}:1"]
    assert ecs.list_task_definitions(familyPrefix=family, status="INACTIVE")["taskDefinitionArns"] == []
    described = ecs.describe_task_definition(taskDefinition=f"{family}:1")["taskDefinition"]
    assert described["status"] == "DELETE_IN_PROGRESS"
    # A family whose only other revision is still active stays ACTIVE; deleting it makes it INACTIVE.
    assert family in ecs.list_task_definition_families(familyPrefix=family, status="ACTIVE")["families"]


def test_delete_at_most_ten(ecs: Any) -> None:
    code, _ = error_of(ecs.delete_task_definitions, taskDefinitions=[f"x:{i}" for i in range(1, 12)])
    assert code == "InvalidParameterException"
