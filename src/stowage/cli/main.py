"""The ``stowage`` command: parses arguments and hands off to one module per sub-command."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from stowage import __version__
from stowage.server import DEFAULT_HOST, DEFAULT_PORT

DEFAULT_DATA_DIR = ".stowage"


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


def _add_server_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    p.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})"
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=Path(_env("STOWAGE_DATA_DIR") or DEFAULT_DATA_DIR),
        help=f"state and credentials (default ./{DEFAULT_DATA_DIR}, or $STOWAGE_DATA_DIR)",
    )
    p.add_argument("--store", choices=["sqlite", "etcd", "memory"], default="sqlite")
    p.add_argument(
        "--etcd-endpoints",
        default="http://127.0.0.1:2379",
        help="comma-separated etcd client URLs (with --store etcd)",
    )
    p.add_argument("--etcd-prefix", default="/stowage", help="key prefix in etcd for this installation")
    p.add_argument("--access-key-id", default=_env("STOWAGE_ACCESS_KEY_ID"))
    p.add_argument("--secret-access-key", default=_env("STOWAGE_SECRET_ACCESS_KEY"))
    p.add_argument("--account-id", default=_env("STOWAGE_ACCOUNT_ID"))
    p.add_argument("--region", default="us-east-1", help="region written by `stowage env`")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.add_argument(
        "--k8s-port", type=int, default=6443, help="the Kubernetes API's HTTPS port (6443; 0 disables)"
    )
    p.add_argument(
        "--eks-port-range",
        type=_port_range,
        default=(6501, 6599),
        metavar="FIRST-LAST",
        help="ports of the EKS clusters' endpoints, one per cluster (default 6501-6599)",
    )
    p.add_argument(
        "--k8s-cluster",
        default="default",
        help="the ECS cluster whose instances are the Kubernetes nodes and run its pods (default)",
    )
    p.add_argument(
        "--hpa-sync-period",
        type=float,
        default=15.0,
        metavar="SECONDS",
        help="how often each HorizontalPodAutoscaler is evaluated (default 15, as kube-controller-manager)",
    )
    p.add_argument(
        "--service-cluster-ip-range",
        type=_cidr,
        default="10.96.0.0/12",
        metavar="CIDR",
        help="IPv4 range of Kubernetes Service cluster IPs (default 10.96.0.0/12)",
    )
    p.add_argument(
        "--service-node-port-range",
        type=_port_range,
        default=(30000, 32767),
        metavar="FIRST-LAST",
        help="Kubernetes NodePort range, opened on --service-listener-host (default 30000-32767)",
    )
    p.add_argument(
        "--service-listener-host",
        default="127.0.0.1",
        help="address of load-balanced services' listeners (default 127.0.0.1; 0.0.0.0: all)",
    )
    p.add_argument(
        "--service-listener-ports",
        type=_port_range,
        default=(20000, 20999),
        metavar="FIRST-LAST",
        help="port range of load-balanced services' listeners (default 20000-20999)",
    )
    p.add_argument(
        "--price-table",
        type=Path,
        default=None,
        metavar="FILE",
        help="Fargate prices (TOML or JSON, see docs/fargate.md) over the data dir's price-table.toml",
    )
    p.add_argument(
        "--agent-timeout",
        type=float,
        default=60.0,
        help="seconds without a heartbeat before an instance is disconnected (default 60)",
    )
    p.add_argument(
        "--metrics-raw-retention",
        type=_duration,
        default=86400.0,
        metavar="DURATION",
        help="how long raw (10 s) usage points are kept: 90m, 24h, 2d (default 1d)",
    )
    p.add_argument(
        "--metrics-rollup-retention",
        type=_duration,
        default=14 * 86400.0,
        metavar="DURATION",
        help="how long 1-minute rollups and derived metrics are kept (default 14d)",
    )
    p.add_argument(
        "--metrics-max-size",
        type=_size,
        default=2 * 1024**3,
        metavar="SIZE",
        help="the metrics store stays under this size, oldest points first: 500M, 2G (default 2G)",
    )
    p.add_argument(
        "--metrics-public",
        action="store_true",
        help="serve GET /metrics to any client (default: loopback clients only)",
    )
    p.add_argument(
        "--autoscaling-tick",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="seconds between Application Auto Scaling passes (default 60)",
    )
    p.add_argument(
        "--autoscaling-metric-period",
        type=int,
        default=60,
        metavar="SECONDS",
        help="period of target tracking data points; under 60 reads raw task metrics (default 60)",
    )
    p.add_argument(
        "--alarm-evaluation-interval",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="seconds between CloudWatch alarm evaluation passes (default 60, as CloudWatch)",
    )
    p.add_argument(
        "--spot-reclaim-rate",
        type=float,
        default=0.0,
        metavar="PER_TASK_HOUR",
        help="chaos: FARGATE_SPOT interruptions per running Spot task per hour (default 0)",
    )


def _cidr(text: str) -> str:
    from stowage.model.k8s.service_ranges import IpRange

    try:
        return str(IpRange.parse(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _port_range(text: str) -> tuple[int, int]:
    first, sep, last = text.partition("-")
    try:
        low, high = int(first), int(last if sep else first)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port range FIRST-LAST: {text!r}") from None
    if not 1 <= low <= high <= 65535:
        raise argparse.ArgumentTypeError(f"not a port range within 1-65535: {text!r}")
    return low, high


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def _duration(text: str) -> float:
    """Seconds of ``90s``, ``30m``, ``24h``, ``14d``, ``2w`` (a bare number is seconds)."""
    t = text.strip().lower()
    unit = t[-1:] if t[-1:] in _DURATION_UNITS else "s"
    number = t[:-1] if t[-1:] in _DURATION_UNITS else t
    try:
        value = float(number) * _DURATION_UNITS[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration (90s, 30m, 24h, 14d): {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"a duration must be positive: {text!r}")
    return value


def _size(text: str) -> int:
    """Bytes of ``500M``, ``2G``, ``64k`` (binary units; a bare number is bytes)."""
    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    unit = t[-1:] if t[-1:] in _SIZE_UNITS and t[-1:] else ""
    number = t[:-1] if unit else t
    try:
        value = int(float(number) * _SIZE_UNITS[unit])
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size (500M, 2G): {text!r}") from None
    if value < 1024 * 1024:
        raise argparse.ArgumentTypeError(f"the metrics store needs at least 1M: {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stowage",
        description="Self-hosted container orchestration serving the ECS, Fargate and EKS APIs.",
    )
    parser.add_argument("--version", action="version", version=f"stowage {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("server", help="run the control plane")
    _add_server_options(p)

    p = sub.add_parser("up", help="run everything on this machine: control plane and a local agent")
    _add_server_options(p)
    p.add_argument(
        "--docker-host", default=_env("DOCKER_HOST"), help="the local agent's engine (default: DOCKER_HOST)"
    )
    p.add_argument(
        "--fargate-share",
        type=float,
        default=0.5,
        help="share of this machine's CPU and memory given to the Fargate pool (0 disables it)",
    )

    from stowage.cli.agent import add_agent_parser

    add_agent_parser(sub)

    from stowage.cli.simulate import add_simulate_parser

    add_simulate_parser(sub)

    p = sub.add_parser("env", help="print export lines that point aws/boto3 at a stowage server")
    p.add_argument(
        "--data-dir",
        type=Path,
        default=Path(_env("STOWAGE_DATA_DIR") or DEFAULT_DATA_DIR),
        help="the server's data dir (default ./.stowage)",
    )
    from stowage.cli.kubeconfig import add_kubeconfig_parser

    add_kubeconfig_parser(sub, Path(_env("STOWAGE_DATA_DIR") or DEFAULT_DATA_DIR))
    from stowage.cli.bill import add_bill_parser

    add_bill_parser(sub, Path(_env("STOWAGE_DATA_DIR") or DEFAULT_DATA_DIR))
    from stowage.cli.top import add_top_parser

    add_top_parser(sub, Path(_env("STOWAGE_DATA_DIR") or DEFAULT_DATA_DIR))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in ("server", "up"):
        logging.basicConfig(
            level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        if args.command == "up":
            from stowage.cli.up import run_up

            return run_up(args)
        from stowage.cli.serve import run_server

        return run_server(args)
    if args.command == "agent":
        from stowage.cli.agent import run_agent

        return run_agent(args)
    if args.command == "simulate":
        from stowage.cli.simulate import run_simulate

        return run_simulate(args)
    if args.command == "env":
        from stowage.cli.env import print_env

        return print_env(args.data_dir)
    if args.command == "kubeconfig":
        from stowage.cli.kubeconfig import run_kubeconfig

        return run_kubeconfig(args)
    if args.command == "bill":
        from stowage.cli.bill import run_bill

        return run_bill(args)
    if args.command == "top":
        from stowage.cli.top import run_top

        return run_top(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
