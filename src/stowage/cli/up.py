"""``stowage up``: the all-in-one. The control plane and a local agent in one process.

The machine is split between two agents on the same engine: one in cluster ``default`` (EC2
launch type) and one in the Fargate pool (``--fargate-share``, half by default), so both
``launchType EC2`` and ``FARGATE`` tasks run out of the box and never share capacity.

The agent still talks to the control plane over HTTP on 127.0.0.1, exactly as a remote agent
would; sharing the process only saves a second command. Without a reachable container engine
the control plane runs alone and says how to get one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os

from rich.console import Console
from rich.panel import Panel

from stowage.cli.serve import config_from_args, print_banner
from stowage.server import ServerConfig, admin_credential, uvicorn_server

log = logging.getLogger("stowage.up")

NO_ENGINE_HELP = (
    "No Docker engine answers at {where}: the control plane runs, but tasks cannot start.\n"
    "On Debian, as root: [green]apt-get install -y docker.io[/green], then\n"
    "  [green]dockerd >/var/log/dockerd.log 2>&1 &[/green]\n"
    "or run [green]make up[/green], which does that for you; or point [green]--docker-host[/green] "
    "at another engine (Podman: unix:///run/podman/podman.sock)."
)


def run_up(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    config.default_cluster = True
    print_banner(config)
    return asyncio.run(_up(config, args))


async def _up(config: ServerConfig, args: argparse.Namespace) -> int:
    server = uvicorn_server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            return 1  # start-up failed; uvicorn logged why
        await asyncio.sleep(0.05)
    agent = asyncio.create_task(_local_agent(config, args))
    await serving  # returns on SIGINT/SIGTERM (uvicorn's handlers end the long-polls first)
    agent.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await agent
    return 0


async def _local_agent(config: ServerConfig, args: argparse.Namespace) -> None:
    from stowage.cli.agent import _main as agent_main
    from stowage.cli.agent import agent_parser
    from stowage.runtime.base import ContainerRuntimeError
    from stowage.runtime.docker import DockerRuntime

    try:
        runtime = await DockerRuntime.connect(args.docker_host)
        await runtime.close()
    except ContainerRuntimeError:
        where = args.docker_host or "unix:///var/run/docker.sock"
        Console(stderr=True).print(Panel(NO_ENGINE_HELP.format(where=where), title="no container engine"))
        return
    cred = admin_credential(config)
    host = "127.0.0.1" if config.host in ("0.0.0.0", "::", "") else config.host
    common = [
        "--endpoint", f"http://{host}:{config.port}",
        "--access-key-id", cred.access_key_id,
        "--secret-access-key", cred.secret_access_key,
        *(["--docker-host", args.docker_host] if args.docker_host else []),
    ]  # fmt: skip
    share = min(max(float(args.fargate_share), 0.0), 1.0)
    split = _split(share)
    ec2 = ["--cluster", "default", "--state-dir", str(config.data_dir / "agent")]
    pool = ["--fargate", "--state-dir", str(config.data_dir / "agent-fargate")]
    agents = []
    if split is None:
        agents.append(agent_parser().parse_args([*common, *ec2]))
    else:
        (ec2_cpu, ec2_mem), (pool_cpu, pool_mem) = split
        for own, cpu, mem in ((ec2, ec2_cpu, ec2_mem), (pool, pool_cpu, pool_mem)):
            if cpu > 0 and mem > 0:
                sizes = ["--cpu-units", str(cpu), "--memory-mib", str(mem)]
                agents.append(agent_parser().parse_args([*common, *own, *sizes]))
    await asyncio.gather(*(agent_main(a, handle_signals=False) for a in agents))


def _split(share: float) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """(cpu units, MiB) of the local EC2 agent and of the local Fargate pool host, splitting
    this machine by ``share``; None when the pool is off (the EC2 agent takes it all)."""
    from stowage.agent.host import host_memory_mib

    if share <= 0:
        return None
    cpu = (os.cpu_count() or 1) * 1024
    memory = host_memory_mib()
    pool = (int(cpu * share), int(memory * share))
    return (cpu - pool[0], memory - pool[1]), pool
