"""Port mappings answer on 127.0.0.1; awsvpc tasks get their own address and share localhost."""

from __future__ import annotations

import ipaddress
import urllib.request

import pytest

from tests.e2e.stack import Stack
from tests.e2e.test_task_lifecycle import awslogs, busybox
from tests.support.server import free_port

pytestmark = pytest.mark.docker


def fetch(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
        return str(resp.read().decode())


def answers(port: int) -> bool:
    try:
        return fetch(port) == "stowage\n"
    except OSError:
        return False


def test_fixed_and_dynamic_host_ports_answer_on_localhost(stack: Stack) -> None:
    stack.start_agent()
    fixed = free_port()
    httpd = ["httpd", "-f", "-p", "8080", "-h", "/www"]
    init = {"linuxParameters": {"initProcessEnabled": True}}  # so SIGTERM reaches httpd (not PID 1)
    td = stack.register(
        "web",
        busybox("fixed", *httpd, portMappings=[{"containerPort": 8080, "hostPort": fixed}], **init),
        busybox("dynamic", *httpd, portMappings=[{"containerPort": 8080, "hostPort": 0}], **init),
    )
    arn = stack.run_task(td)
    task = stack.wait_status(arn, "RUNNING")
    by_name = {c["name"]: c for c in task["containers"]}
    fixed_binding = [b for b in by_name["fixed"]["networkBindings"] if b["bindIP"] == "0.0.0.0"]
    assert [(b["containerPort"], b["hostPort"], b["protocol"]) for b in fixed_binding] == [
        (8080, fixed, "tcp")
    ]
    dynamic = [b["hostPort"] for b in by_name["dynamic"]["networkBindings"] if b["bindIP"] == "0.0.0.0"]
    assert len(dynamic) == 1 and dynamic[0] not in (0, fixed)
    stack.until(lambda: answers(fixed), "httpd on the fixed port")
    stack.until(lambda: answers(dynamic[0]), "httpd on the dynamic port")
    stack.ecs.stop_task(cluster=stack.cluster, task=arn)
    stopped = stack.wait_status(arn, "STOPPED")
    # With initProcessEnabled, SIGTERM reaches httpd through the init process: a clean exit.
    assert {c["name"]: c["exitCode"] for c in stopped["containers"]} == {"fixed": 143, "dynamic": 143}


def test_awsvpc_task_has_its_own_address_and_shared_localhost(stack: Stack) -> None:
    stack.start_agent()
    group = f"/ecs/{stack.cluster}/vpc"
    client = "until wget -q -O- http://localhost:8080/; do sleep 0.2; done; ip -4 addr show eth0; sleep 1000"
    td = stack.register(
        "vpc",
        busybox("web", "httpd", "-f", "-p", "8080", "-h", "/www", stopTimeout=1),
        busybox(
            "client", "sh", "-c", client, essential=False, stopTimeout=1, logConfiguration=awslogs(group)
        ),
        networkMode="awsvpc",
    )
    answer = stack.ecs.run_task(
        cluster=stack.cluster,
        taskDefinition=td,
        networkConfiguration={"awsvpcConfiguration": {"subnets": ["subnet-e2e"]}},
    )
    assert not answer["failures"], answer["failures"]
    arn = answer["tasks"][0]["taskArn"]
    task = stack.wait_status(arn, "RUNNING")
    details = {d["name"]: d["value"] for d in task["attachments"][0]["details"]}
    ip = details["privateIPv4Address"]
    assert ipaddress.ip_address(ip) in ipaddress.ip_network(stack.subnet)
    assert all(c["networkInterfaces"][0]["privateIpv4Address"] == ip for c in task["containers"])
    stream = f"ecs/client/{arn.rsplit('/', 1)[-1]}"
    # The client reached the web container on localhost, and sees the task's address as its own.
    stack.until(lambda: "stowage" in stack.log_messages(group, stream), "the client's fetch over localhost")
    stack.until(lambda: any(f"inet {ip}/" in m for m in stack.log_messages(group, stream)), "the task IP")
    stack.ecs.stop_task(cluster=stack.cluster, task=arn)
    stack.wait_status(arn, "STOPPED")
