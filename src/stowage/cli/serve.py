"""``stowage server`` and ``stowage up``: turn arguments into a ServerConfig and run it."""

from __future__ import annotations

import argparse
import os
import shlex
import sys

from rich.console import Console
from rich.panel import Panel

from stowage.metricstore import StoreConfig
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
        k8s_port=args.k8s_port,
        eks_port_range=args.eks_port_range,
        k8s_cluster=args.k8s_cluster,
        hpa_sync_period=max(0.1, args.hpa_sync_period),
        agent_timeout=max(1.0, args.agent_timeout),
        spot_reclaim_rate=max(0.0, args.spot_reclaim_rate),
        service_listener_host=args.service_listener_host,
        service_listener_ports=args.service_listener_ports,
        service_cluster_ip_range=args.service_cluster_ip_range,
        service_node_port_range=args.service_node_port_range,
        price_table=args.price_table.resolve() if args.price_table else None,
        metrics=StoreConfig(
            raw_retention=args.metrics_raw_retention,
            rollup_retention=max(args.metrics_rollup_retention, args.metrics_raw_retention),
            max_bytes=args.metrics_max_size,
        ),
        metrics_public=args.metrics_public,
        autoscaling_tick=max(0.1, args.autoscaling_tick),
        autoscaling_metric_period=max(1, args.autoscaling_metric_period),
        alarm_evaluation_interval=max(0.1, args.alarm_evaluation_interval),
    )


def run_server(args: argparse.Namespace) -> int:
    serve(config_from_args(args))
    return 0


def _own_command() -> str:
    """How the user can call this same stowage again (a venv's script is not always on PATH)."""
    argv0 = sys.argv[0] if sys.argv else ""
    return shlex.quote(os.path.abspath(argv0)) if os.path.basename(argv0) == "stowage" else "stowage"


def print_banner(config: ServerConfig) -> None:
    host = "127.0.0.1" if config.host in ("0.0.0.0", "::") else config.host
    endpoint = f"http://{host}:{config.port}"
    td = '\'[{"name":"hello","image":"busybox","command":["echo","hello"],"memory":64}]\''
    text = (
        f"[bold]stowage[/bold] on [cyan]{endpoint}[/cyan]  "
        f"(state: {config.store}, data dir: {config.data_dir}; cluster [bold]default[/bold])\n\n"
        "In another shell:\n"
        f'  [green]eval "$({_own_command()} env --data-dir {shlex.quote(str(config.data_dir))})"[/green]\n'
        f"  [green]aws ecs register-task-definition --family hello --container-definitions {td}[/green]\n"
        "  [green]aws ecs run-task --task-definition hello[/green]\n"
        "  [green]aws ecs list-tasks[/green]\n\n"
        "boto3 reads the same variables: [green]boto3.client('ecs')[/green] needs no other argument."
    )
    Console(stderr=True).print(Panel(text, title="stowage up", expand=False))
