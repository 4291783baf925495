"""awsvpc from the agent's side: the bridge network task addresses come from, and how a task's
"ENI" is reported (the ``ElasticNetworkInterface`` attachment and each container's
``networkInterfaces``), in the fields DescribeTasks shows on AWS.

The namespace itself (pause container) is the runtime's `stowage.runtime.awsvpc`. The control
plane matches an attachment by the id it put in the task spec, so without one nothing is sent.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from stowage.agent import labels as lbl
from stowage.agent.config import AgentConfig
from stowage.agent.translate import task_id
from stowage.model.agent_tasks import TaskSpec
from stowage.runtime.base import NetworkSpec

JSON = dict[str, Any]


def awsvpc_network(config: AgentConfig) -> NetworkSpec:
    """One bridge network per subnet, shared by every agent on the engine that uses it."""
    name = "stowage-awsvpc-" + config.awsvpc_subnet.replace("/", "-").replace(".", "-")
    return NetworkSpec(name=name, subnet=config.awsvpc_subnet, labels={lbl.MANAGED: "1"})


def network_interfaces(spec: TaskSpec, ipv4: str | None) -> list[JSON] | None:
    if spec.network.mode != "awsvpc" or ipv4 is None:
        return None
    interface: JSON = {"privateIpv4Address": ipv4}
    if spec.network.attachment_id:
        interface["attachmentId"] = spec.network.attachment_id
    return [interface]


def eni_attachments(
    spec: TaskSpec, ipv4: str | None, region: str, *, stopped: bool, mac: str | None = None
) -> list[JSON]:
    """The task's ElasticNetworkInterface attachment: ``subnetId``, ``networkInterfaceId``,
    ``macAddress`` (the pause container's endpoint's, as the engine reports it), the private
    DNS name and ``privateIPv4Address``."""
    if spec.network.mode != "awsvpc" or ipv4 is None or not spec.network.attachment_id:
        return []
    tid = task_id(spec.task_arn)
    domain = "ec2.internal" if region == "us-east-1" else f"{region}.compute.internal"
    if not mac:
        # An engine that does not report it (older Podman): Docker's classic scheme for bridge
        # endpoints, 02:42 + the IPv4 address.
        mac = "02:42:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(ipv4).packed)
    details = [
        {"name": "subnetId", "value": (spec.network.subnets or ["subnet-stowage"])[0]},
        {"name": "networkInterfaceId", "value": f"eni-{tid[:17]}"},
        {"name": "macAddress", "value": mac},
        {"name": "privateDnsName", "value": f"ip-{ipv4.replace('.', '-')}.{domain}"},
        {"name": "privateIPv4Address", "value": ipv4},
    ]
    return [
        {
            "id": spec.network.attachment_id,
            "type": "ElasticNetworkInterface",
            "status": "DELETED" if stopped else "ATTACHED",
            "details": details,
        }
    ]
