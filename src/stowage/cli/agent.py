"""`stowage agent`: run the host agent on this machine's container engine.

    stowage agent --endpoint http://127.0.0.1:8080 --cluster default \\
        [--docker-host unix:///var/run/docker.sock] [--attributes k=v,...] [--state-dir DIR]
    stowage agent --endpoint ... --eks-cluster demo [--nodegroup workers]   # an EKS node

Credentials come from --access-key-id/--secret-access-key or the standard AWS environment
variables; the region from AWS_DEFAULT_REGION. SIGTERM/SIGINT stop the agent and leave the
containers running (a restarted agent adopts them).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from pathlib import Path
from typing import Any

from stowage.agent.config import DEFAULT_AWSVPC_SUBNET, DEFAULT_PAUSE_IMAGE, AgentConfig
from stowage.model.eks.clusters import backing_cluster
from stowage.model.eks.nodegroups import LABEL as NODEGROUP_LABEL
from stowage.model.fargate import POOL_CLUSTER

log = logging.getLogger("stowage.agent")


def _attributes(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise argparse.ArgumentTypeError(f"attribute {item!r} is not name=value")
        out[name.strip()] = value.strip()
    return out


def add_agent_parser(sub: Any) -> None:
    p = sub.add_parser("agent", help="run the host agent: register this machine and run its tasks")
    _add_agent_options(p)


def agent_parser() -> argparse.ArgumentParser:
    """The agent's options on their own (``stowage up`` builds its local agent's from them)."""
    p = argparse.ArgumentParser(prog="stowage agent")
    _add_agent_options(p)
    return p


def _add_agent_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--endpoint", default=os.environ.get("STOWAGE_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL")
    )
    p.add_argument("--cluster", default="default")
    p.add_argument(
        "--fargate",
        action="store_true",
        help="join the Fargate pool (serverless capacity for every cluster) instead of --cluster",
    )
    p.add_argument(
        "--docker-host", default=os.environ.get("DOCKER_HOST"), help="engine URL (default: DOCKER_HOST)"
    )
    p.add_argument("--attributes", type=_attributes, default={}, help="custom attributes: k=v,k2=v2")
    p.add_argument("--eks-cluster", default=None, help="be a node of this EKS cluster (instead of --cluster)")
    p.add_argument("--nodegroup", default=None, help="with --eks-cluster: a node of this managed node group")
    p.add_argument("--availability-zone", default="", help="ecs.availability-zone (default <region>a)")
    p.add_argument("--instance-type", default="", help="ecs.instance-type to advertise")
    p.add_argument("--memory-reserve-mib", type=int, default=0, help="memory kept for the host")
    p.add_argument("--cpu-units", type=int, default=None, help="override the registered CPU")
    p.add_argument("--memory-mib", type=int, default=None, help="override the host memory")
    p.add_argument("--allow-privileged", action="store_true", help="allow privileged containers")
    p.add_argument("--awsvpc-subnet", default=DEFAULT_AWSVPC_SUBNET, help="where awsvpc tasks get addresses")
    p.add_argument("--pause-image", default=DEFAULT_PAUSE_IMAGE, help="awsvpc pause image (built in)")
    p.add_argument("--env-files-dir", type=Path, default=None, help="local copies of S3 env files")
    p.add_argument(
        "--state-dir", type=Path, default=Path(os.environ.get("STOWAGE_AGENT_DIR") or ".stowage-agent")
    )
    p.add_argument("--stats-interval", type=float, default=10.0, help="seconds between usage samples")
    p.add_argument("--stop-timeout", type=float, default=30.0, help="default SIGTERM->SIGKILL grace")
    p.add_argument("--task-cleanup-wait", type=float, default=3 * 3600.0, help="seconds before removal")
    p.add_argument("--poll-wait", type=int, default=20, help="long-poll seconds (max 60)")
    p.add_argument(
        "--no-channel",
        action="store_true",
        help="make every call an HTTP request instead of keeping a WebSocket to the control plane "
        "(for proxies that do not pass WebSockets)",
    )
    p.add_argument("--access-key-id", default=None)
    p.add_argument("--secret-access-key", default=None)
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])


def run_agent(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not args.endpoint:
        log.error("no control plane: pass --endpoint URL (or set STOWAGE_ENDPOINT)")
        return 2
    if args.nodegroup and not args.eks_cluster:
        log.error("--nodegroup needs --eks-cluster")
        return 2
    if args.eks_cluster:
        # an EKS cluster's nodes are the instances of its ECS cluster; a managed node group's
        # carry its name as an attribute (docs/eks.md)
        args.cluster = backing_cluster(args.eks_cluster)
        if args.nodegroup:
            args.attributes = {**args.attributes, NODEGROUP_LABEL: args.nodegroup}
    try:
        return asyncio.run(_main(args))
    except KeyboardInterrupt:
        return 130


async def _main(args: argparse.Namespace, *, handle_signals: bool = True) -> int:
    """Run the agent until it stops, SIGTERM/SIGINT arrive (``handle_signals``) or the task
    running this is cancelled (``stowage up`` stops its local agent that way)."""
    from stowage.agent.agent import Agent, AgentStopped
    from stowage.agent.control import HttpControlPlane
    from stowage.client import ApiError, ControlPlaneClients, credentials_from_env, region_from_env
    from stowage.runtime.base import ContainerRuntimeError
    from stowage.runtime.docker import DockerRuntime

    try:
        credentials = credentials_from_env(args.access_key_id, args.secret_access_key)
    except ValueError as exc:
        log.error("%s", exc)
        return 2
    try:
        runtime = await DockerRuntime.connect(args.docker_host)
    except ContainerRuntimeError as exc:
        log.error(
            "no container engine at %s: %s. Start Docker (or Podman's socket) or pass --docker-host.",
            args.docker_host or "the default socket",
            exc,
        )
        return 1
    version = await runtime.engine_version()
    region = region_from_env()
    config = AgentConfig(
        cluster=POOL_CLUSTER if args.fargate else args.cluster,
        state_dir=args.state_dir,
        region=region,
        availability_zone=args.availability_zone,
        instance_type=args.instance_type,
        attributes=args.attributes,
        memory_reserve_mib=args.memory_reserve_mib,
        cpu_units=args.cpu_units,
        memory_mib=args.memory_mib,
        allow_privileged=args.allow_privileged,
        awsvpc_subnet=args.awsvpc_subnet,
        pause_image=args.pause_image,
        engine_api_version=str(version.get("ApiVersion") or "1.44"),
        engine_version=str(version.get("Version") or ""),
        env_files_dir=args.env_files_dir,
        stats_interval_s=args.stats_interval,
        stop_timeout_s=args.stop_timeout,
        cleanup_wait_s=args.task_cleanup_wait,
        poll_wait_s=max(0, min(60, args.poll_wait)),
    )
    clients = ControlPlaneClients(args.endpoint, credentials, region)
    agent = Agent(config, runtime, HttpControlPlane(clients, channel=not args.no_channel))
    main = asyncio.create_task(agent.run())
    if handle_signals:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, main.cancel)
    code = 0
    try:
        await main
    except asyncio.CancelledError:
        log.info("agent stopped; containers left running")
    except AgentStopped as exc:
        log.error("%s", exc)
        code = 1
    except ApiError as exc:  # e.g. ClusterNotFoundException at registration
        log.error("the control plane refused the agent: %s", exc)
        code = 1
    finally:
        await clients.close()
        await runtime.close()
    return code
