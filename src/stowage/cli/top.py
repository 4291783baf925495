"""``stowage top``: a live table of what tasks, services or hosts use, like ``docker stats``.

    stowage top [--cluster C] [--service S] [--sort cpu|memory|name] [--services | --hosts]
                [--interval 2] [--once] [--limit N] [--output table|json] [--endpoint URL]

Each refresh calls the ``stowage`` service's GetTaskMetrics (the agents' latest samples). CPU
is shown in CPU units (1,024 per core) and as a percentage of the reservation (tasks, services)
or of what the host registered (hosts); memory as bytes in use against the reservation, with
the hard limit beside it. ``--once`` prints one table and exits (scripts, tests); otherwise the
table refreshes every ``--interval`` seconds until Ctrl-C. Endpoint and key come from the flags,
else the AWS environment variables, else the data dir of a local ``stowage up``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from stowage.client.errors import ClientError
from stowage.client.json_client import RetryPolicy
from stowage.client.session import ControlPlaneClients, credentials_from_env, region_from_env
from stowage.server import DEFAULT_HOST, DEFAULT_PORT, read_client_settings

SORTS = ("cpu", "memory", "name")


def add_top_parser(sub: Any, default_data_dir: Path) -> None:
    p = sub.add_parser("top", help="live CPU and memory use of tasks, services or hosts")
    p.add_argument("--cluster", default=None, help="only this cluster (name or ARN)")
    p.add_argument("--service", default=None, help="only this service's tasks (name or ARN)")
    p.add_argument("--sort", choices=SORTS, default="cpu", help="highest CPU or memory first, or by name")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--services", action="store_true", help="one row per service")
    group.add_argument("--hosts", action="store_true", help="one row per container instance")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between refreshes (default 2)")
    p.add_argument("--once", action="store_true", help="print one table and exit")
    p.add_argument("--limit", type=int, default=200, help="at most this many rows (default 200)")
    p.add_argument("--output", choices=("table", "json"), default="table")
    p.add_argument(
        "--endpoint",
        default=os.environ.get("STOWAGE_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL"),
        help="the control plane (default: $AWS_ENDPOINT_URL, else the data dir's server)",
    )
    p.add_argument("--data-dir", type=Path, default=default_data_dir, help="a local server's data dir")
    p.add_argument("--access-key-id", default=None)
    p.add_argument("--secret-access-key", default=None)
    p.add_argument("--region", default=None)


def _grouping(args: argparse.Namespace) -> str:
    return "HOST" if args.hosts else "SERVICE" if args.services else "TASK"


def _request(args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {
        "groupBy": _grouping(args),
        "sortBy": args.sort.upper(),
        "maxResults": max(1, min(args.limit, 10_000)),
    }
    if args.cluster:
        params["cluster"] = args.cluster
    if args.service:
        params["service"] = args.service
    return params


def _clients(args: argparse.Namespace) -> ControlPlaneClients:
    saved = read_client_settings(args.data_dir) or {}
    key, secret = args.access_key_id, args.secret_access_key
    if not (key and secret) and not os.environ.get("AWS_ACCESS_KEY_ID") and saved:
        key, secret = saved["AWS_ACCESS_KEY_ID"], saved["AWS_SECRET_ACCESS_KEY"]
    credentials = credentials_from_env(key, secret)
    endpoint = args.endpoint or saved.get("AWS_ENDPOINT_URL") or f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
    region = region_from_env(args.region or saved.get("AWS_DEFAULT_REGION"))
    return ControlPlaneClients(endpoint, credentials, region, retry=RetryPolicy(max_attempts=2))


# -- rendering -----------------------------------------------------------------------------------
def _bytes(value: Any) -> str:
    if value is None:
        return "-"
    n = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024
    return f"{n:.1f}TiB"


def _rate(value: Any) -> str:
    return "-" if value is None else f"{_bytes(value)}/s"


def _pct(value: Any) -> str:
    return "-" if value is None else f"{float(value):.1f}%"


def _units(value: Any) -> str:
    return "-" if value is None else f"{float(value):.1f}"


def _age(ts: Any, now: float) -> str:
    return "-" if ts is None else f"{max(0.0, now - float(ts)):.0f}s"


def _task_name(row: dict[str, Any]) -> str:
    task_id = str(row.get("taskArn", "")).rpartition("/")[2]
    return f"{row['podName']} ({task_id[:12]})" if row.get("podName") else task_id


def render(answer: dict[str, Any], now: float) -> Table:
    by = answer.get("groupBy", "TASK")
    rows = answer.get("rows") or []
    title = {"TASK": "tasks", "SERVICE": "services", "HOST": "hosts"}[by]
    caption = "CPU in CPU units (1,024 = 1 core); % of the reservation" + (
        "; hosts: % of what they registered" if by == "HOST" else ""
    )
    if answer.get("truncated"):
        caption += f"; first {len(rows)} rows shown"
    table = Table(title=f"stowage top: {len(rows)} {title}", caption=caption)
    first = {"TASK": ["Cluster", "Service", "Task"], "SERVICE": ["Cluster", "Service", "Tasks"]}.get(
        by, ["Cluster", "Host", "Tasks"]
    )
    for name in first:
        table.add_column(name, overflow="fold")
    for name in ("CPU %", "CPU", "CPU reserved" if by != "HOST" else "CPU registered"):
        table.add_column(name, justify="right")
    for name in ("Mem %", "Memory", "Mem reserved" if by != "HOST" else "Mem registered", "Mem limit"):
        table.add_column(name, justify="right")
    for name in ("Net rx", "Net tx", "Disk read", "Disk write", "Sample age"):
        table.add_column(name, justify="right")
    for row in rows:
        if by == "TASK":
            lead = [row.get("cluster", ""), row.get("service", ""), _task_name(row)]
        elif by == "SERVICE":
            lead = [row.get("cluster", ""), row.get("service", ""), str(row.get("tasks", 0))]
        else:
            connected = "" if row.get("agentConnected") else " (disconnected)"
            lead = [
                row.get("cluster", ""),
                f"{row.get('ec2InstanceId', '')}{connected}",
                str(row.get("tasks", 0)),
            ]
        host = by == "HOST"
        table.add_row(
            *lead,
            _pct(row.get("cpuUtilization")),
            _units(row.get("cpuUsedUnits")),
            _units(row.get("cpuRegisteredUnits" if host else "cpuReservedUnits")),
            _pct(row.get("memoryUtilization")),
            _bytes(row.get("memoryUsedBytes")),
            _bytes(row.get("memoryRegisteredBytes" if host else "memoryReservedBytes")),
            _bytes(row.get("memoryLimitBytes")),
            _rate(row.get("networkRxBytesPerSecond")),
            _rate(row.get("networkTxBytesPerSecond")),
            _rate(row.get("blockReadBytesPerSecond")),
            _rate(row.get("blockWriteBytesPerSecond")),
            _age(row.get("lastSampleAt"), now),
        )
    return table


# -- running -------------------------------------------------------------------------------------
async def _once(args: argparse.Namespace) -> dict[str, Any]:
    async with _clients(args) as c:
        return await c.stowage.call("GetTaskMetrics", _request(args))


async def _live(args: argparse.Namespace, console: Console) -> None:
    params = _request(args)
    async with _clients(args) as c:
        answer = await c.stowage.call("GetTaskMetrics", params)
        with Live(render(answer, time.time()), console=console, auto_refresh=False) as live:
            while True:
                await asyncio.sleep(max(0.2, args.interval))
                answer = await c.stowage.call("GetTaskMetrics", params)
                live.update(render(answer, time.time()), refresh=True)


def run_top(args: argparse.Namespace) -> int:
    console = Console()
    if not console.is_terminal:
        console = Console(width=220)  # captured output: room for ids instead of 80 columns
    try:
        if args.once or args.output == "json":
            answer = asyncio.run(_once(args))
            if args.output == "json":
                print(json.dumps(answer, indent=2, sort_keys=True))
            else:
                console.print(render(answer, time.time()))
            return 0
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_live(args, console))
        return 0
    except (ValueError, ClientError) as exc:
        print(f"stowage top: {exc}", file=sys.stderr)
        return 1
