"""``stowage bill``: Fargate usage and cost as a table, from the ``stowage`` service's GetUsage.

    stowage bill [--cluster C] [--service S] [--since T] [--until T]
                 [--by task|service|cluster|day] [--endpoint URL] [--output table|json]

``--since``/``--until`` take an ISO date or time (``2026-11-01``, ``2026-11-01T12:00``; UTC
unless an offset is given) or a duration back from now (``90s``, ``30m``, ``24h``, ``7d``,
``2w``). The endpoint and key come from the flags, else the AWS environment variables (as
``stowage env`` exports them), else the data dir of a local ``stowage up``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from stowage.client.errors import ClientError
from stowage.client.json_client import RetryPolicy
from stowage.client.session import ControlPlaneClients, credentials_from_env, region_from_env
from stowage.server import DEFAULT_HOST, DEFAULT_PORT, read_client_settings

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
GROUPINGS = ("task", "service", "cluster", "day")


def parse_time(text: str, now: float) -> float:
    """Epoch seconds of an ISO date/time (naive means UTC) or of ``now`` minus a duration."""
    m = _DURATION.match(text)
    if m:
        return now - float(m[1]) * _UNIT_SECONDS[m[2].lower()]
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither an ISO date/time (2026-11-01, 2026-11-01T12:00Z) "
            "nor a duration (90s, 30m, 24h, 7d, 2w)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def add_bill_parser(sub: Any, default_data_dir: Path) -> None:
    p = sub.add_parser("bill", help="Fargate usage and cost per task, service, cluster or day")
    p.add_argument("--cluster", default=None, help="only this cluster (name or ARN)")
    p.add_argument("--service", default=None, help="only this service (name or ARN)")
    p.add_argument("--since", default=None, help="ISO date/time or a duration back from now (24h, 7d)")
    p.add_argument("--until", default=None, help="ISO date/time or a duration back from now")
    p.add_argument("--by", choices=GROUPINGS, default="cluster", help="one row per ... (default cluster)")
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


def _request(args: argparse.Namespace, now: float) -> dict[str, Any]:
    params: dict[str, Any] = {"groupBy": args.by.upper()}
    if args.cluster:
        params["cluster"] = args.cluster
    if args.service:
        params["service"] = args.service
    if args.since:
        params["since"] = parse_time(args.since, now)
    if args.until:
        params["until"] = parse_time(args.until, now)
    return params


async def _call(args: argparse.Namespace, params: dict[str, Any]) -> dict[str, Any]:
    saved = read_client_settings(args.data_dir) or {}
    key, secret = args.access_key_id, args.secret_access_key
    if not (key and secret) and not os.environ.get("AWS_ACCESS_KEY_ID") and saved:
        key, secret = saved["AWS_ACCESS_KEY_ID"], saved["AWS_SECRET_ACCESS_KEY"]
    credentials = credentials_from_env(key, secret)
    endpoint = args.endpoint or saved.get("AWS_ENDPOINT_URL") or f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
    region = region_from_env(args.region or saved.get("AWS_DEFAULT_REGION"))
    async with ControlPlaneClients(endpoint, credentials, region, retry=RetryPolicy(max_attempts=2)) as c:
        return await c.stowage.call("GetUsage", params)


def _money(value: str, currency: str) -> str:
    amount = Decimal(value).quantize(Decimal("0.0001"))
    return f"${amount}" if currency == "USD" else f"{amount} {currency}"


def _hours(value: str) -> str:
    return f"{Decimal(value).quantize(Decimal('0.0001'))}"


def _label_columns(by: str) -> list[str]:
    return {
        "task": ["Task", "Cluster", "Service", "Capacity"],
        "service": ["Cluster", "Service"],
        "day": ["Day (UTC)"],
    }.get(by, ["Cluster"])


def _labels(by: str, row: dict[str, Any]) -> list[str]:
    if by == "task":
        task_id = str(row.get("taskArn", "")).rpartition("/")[2]
        running = " (running)" if row.get("runningTasks") else ""
        kinds = ", ".join(f"{ln['capacityProvider']} {ln['architecture']}" for ln in row.get("lines") or [])
        return [task_id + running, row.get("cluster", ""), row.get("service", ""), kinds]
    if by == "service":
        return [row.get("cluster", ""), row.get("service", "")]
    if by == "day":
        return [row.get("day", "")]
    return [row.get("cluster", "")]


def render(answer: dict[str, Any], by: str) -> Table:
    """The bill as a rich table: one row per group, a total in the footer."""
    prices = answer.get("prices") or {}
    currency = str(prices.get("currency") or "USD")
    labels = _label_columns(by)
    rates = ", ".join(
        f"{r['architecture']} {r['vcpuHour']}/vCPU-h {r['gbHour']}/GB-h" for r in prices.get("rates") or []
    )
    spot = Decimal(str(prices.get("spotDiscount") or 0)) * 100
    table = Table(
        title="Fargate usage",
        caption=f"prices ({currency}): {rates}; storage {prices.get('storageGbHour')}/GB-h over 20 GiB; "
        f"Spot {spot.normalize():f}% off vCPU and memory",
        show_footer=True,
    )
    total = answer.get("total") or {}
    for i, name in enumerate(labels):
        table.add_column(name, footer="Total" if i == 0 else "")
    for name, member, fmt in (
        ("Tasks", "tasks", str),
        ("vCPU-hours", "vcpuHours", _hours),
        ("GB-hours", "gbHours", _hours),
        ("Storage GB-hours", "storageGbHours", _hours),
    ):
        table.add_column(name, justify="right", footer=fmt(total.get(member, "0")))
    table.add_column("Cost", justify="right", footer=_money(str(total.get("cost", "0")), currency))
    for row in answer.get("rows") or []:
        table.add_row(
            *_labels(by, row),
            str(row.get("tasks", 0)),
            _hours(row["vcpuHours"]),
            _hours(row["gbHours"]),
            _hours(row["storageGbHours"]),
            _money(row["cost"], currency),
        )
    return table


def run_bill(args: argparse.Namespace) -> int:
    try:
        params = _request(args, time.time())
        answer = asyncio.run(_call(args, params))
    except (argparse.ArgumentTypeError, ValueError, ClientError) as exc:
        print(f"stowage bill: {exc}", file=sys.stderr)
        return 1
    if args.output == "json":
        print(json.dumps(answer, indent=2, sort_keys=True))
        return 0
    # Piped or captured output has no terminal width: give the table room instead of
    # truncating task ids and amounts to 80 columns.
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)
    console.print(render(answer, args.by))
    return 0
