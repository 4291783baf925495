"""``stowage server`` and ``stowage up``: turn arguments into a ServerConfig and run it."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.panel import Panel

from stowage.server import ServerConfig, serve


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    return ServerConfig(
        data_dir=args.data_dir.resolve(),
        host=args.host,
        port=args.port,
        store=args.store,
        etcd_endpoints=[e.strip() for e in args.etcd_endpoints.split(",") if e.strip()],
        etcd_prefix=args.etcd_prefix,
        access_key_id=args.access_key_id,
        secret_access_key=args.secret_access_key,
        account_id=args.account_id,
        region=args.region,
    )


def run_server(args: argparse.Namespace, *, banner: bool) -> int:
    config = config_from_args(args)
    config.default_cluster = banner  # `stowage up` starts with the default cluster
    if banner:
        _print_banner(config)
    serve(config)
    return 0


def _print_banner(config: ServerConfig) -> None:
    host = "127.0.0.1" if config.host in ("0.0.0.0", "::") else config.host
    endpoint = f"http://{host}:{config.port}"
    text = (
        f"[bold]stowage[/bold] control plane on [cyan]{endpoint}[/cyan]  "
        f"(state: {config.store}, data dir: {config.data_dir})\n\n"
        "In another shell:\n"
        f'  [green]eval "$(stowage env --data-dir {config.data_dir})"[/green]\n'
        "  [green]aws ecs create-cluster --cluster-name demo[/green]\n"
        "  [green]aws ecs list-clusters[/green]\n\n"
        "boto3 reads the same variables: [green]boto3.client('ecs')[/green] needs no other argument."
    )
    Console(stderr=True).print(Panel(text, title="stowage up", expand=False))
