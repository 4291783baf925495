"""``stowage up``: the all-in-one. The control plane and a local agent in one process.

The agent still talks to the control plane over HTTP on 127.0.0.1, exactly as a remote agent
would; sharing the process only saves a second command. Without a reachable container engine
the control plane runs alone and says how to get one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

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
    agent_args = agent_parser().parse_args(
        [
            "--endpoint", f"http://{host}:{config.port}",
            "--cluster", "default",
            "--state-dir", str(config.data_dir / "agent"),
            "--access-key-id", cred.access_key_id,
            "--secret-access-key", cred.secret_access_key,
            *(["--docker-host", args.docker_host] if args.docker_host else []),
        ]
    )  # fmt: skip
    await agent_main(agent_args, handle_signals=False)
