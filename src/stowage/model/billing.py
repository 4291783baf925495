"""A bill: metered tasks grouped by task, service, cluster or day, priced, with a total.

Input is a list of ``metering.TaskUsage`` (stopped tasks from the ledger, running ones metered
up to now) and an optional window ``[since, until]``; each task counts only its billed seconds
inside the window, and with ``DAY`` its seconds are cut at UTC midnights. Within a row usage is
kept per (architecture, capacity provider) *line*, since that is what the price depends on.
The total is priced from the summed exact usage, so it is the exact sum of the rows' exact
costs; amounts are rounded only when rendered. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from stowage.model.metering import TaskUsage
from stowage.model.pricing import PriceTable

GROUPINGS = ("TASK", "SERVICE", "CLUSTER", "DAY")
COST_PLACES = Decimal("1E-10")
HOUR_PLACES = Decimal("1E-6")
_HOUR = Decimal(3600)
NO_SERVICE = "-"
"""The service column of tasks that belong to no service (RunTask, StartTask)."""


@dataclass
class Line:
    vcpu_seconds: Decimal = Decimal(0)
    gb_seconds: Decimal = Decimal(0)
    storage_gb_seconds: Decimal = Decimal(0)
    seconds: Decimal = Decimal(0)

    def add(self, other: Line) -> None:
        self.vcpu_seconds += other.vcpu_seconds
        self.gb_seconds += other.gb_seconds
        self.storage_gb_seconds += other.storage_gb_seconds
        self.seconds += other.seconds


@dataclass
class Row:
    key: str
    cluster: str | None = None
    service: str | None = None
    task_arn: str | None = None
    day: str | None = None
    tasks: set[str] = field(default_factory=set)
    running: set[str] = field(default_factory=set)
    lines: dict[tuple[str, str], Line] = field(default_factory=dict)
    """(architecture, capacity provider) → usage"""

    def add(self, usage: TaskUsage, seconds: Decimal) -> None:
        self.tasks.add(usage.task_arn)
        if usage.running:
            self.running.add(usage.task_arn)
        line = self.lines.setdefault((usage.architecture, usage.capacity_provider), Line())
        line.add(
            Line(
                vcpu_seconds=usage.vcpu * seconds,
                gb_seconds=usage.gb * seconds,
                storage_gb_seconds=usage.extra_storage_gb * seconds,
                seconds=seconds,
            )
        )

    def summed(self) -> Line:
        total = Line()
        for line in self.lines.values():
            total.add(line)
        return total

    def cost(self, prices: PriceTable) -> Decimal:
        """Exact cost of the row."""
        return sum(
            (
                prices.cost(arch, provider, ln.vcpu_seconds, ln.gb_seconds, ln.storage_gb_seconds)
                for (arch, provider), ln in self.lines.items()
            ),
            Decimal(0),
        )


@dataclass(frozen=True)
class Bill:
    by: str
    rows: list[Row]
    total: Row


def bill(
    usages: Iterable[TaskUsage],
    by: str,
    *,
    since: Decimal | None = None,
    until: Decimal | None = None,
) -> Bill:
    """Group ``usages`` by ``by`` (one of ``GROUPINGS``) within ``[since, until]``. Rows with no
    seconds in the window are left out; rows come in key order."""
    if by not in GROUPINGS:
        raise ValueError(f"unknown grouping {by!r}")
    rows: dict[str, Row] = {}
    total = Row(key="total")
    for usage in usages:
        if by == "DAY":
            pieces = [(s, Row(key=day, day=day)) for day, s in usage.days(since, until)]
        else:
            seconds = usage.seconds_within(since, until)
            pieces = [(seconds, _row_for(usage, by))] if seconds > 0 else []
        for seconds, template in pieces:
            row = rows.setdefault(template.key, template)
            row.add(usage, seconds)
            total.add(usage, seconds)
    return Bill(by, [rows[k] for k in sorted(rows)], total)


def _row_for(usage: TaskUsage, by: str) -> Row:
    if by == "TASK":
        return Row(
            key=usage.task_arn,
            cluster=usage.cluster,
            service=usage.service or NO_SERVICE,
            task_arn=usage.task_arn,
        )
    if by == "SERVICE":
        service = usage.service or NO_SERVICE
        return Row(key=f"{usage.cluster}/{service}", cluster=usage.cluster, service=service)
    return Row(key=usage.cluster, cluster=usage.cluster)


# -- rendering -------------------------------------------------------------------------------
def amount(value: Decimal, places: Decimal | None = None) -> str:
    """A decimal as a plain string (no exponent, no trailing zeros unless ``places`` is given)."""
    if places is not None:
        return f"{value.quantize(places):f}"
    return f"{value.normalize():f}"


def row_doc(row: Row, prices: PriceTable) -> dict[str, Any]:
    """The ``UsageRow`` shape of the stowage API."""
    s = row.summed()
    doc: dict[str, Any] = {
        "key": row.key,
        "tasks": len(row.tasks),
        "runningTasks": len(row.running),
        "billedSeconds": amount(s.seconds),
        "vcpuSeconds": amount(s.vcpu_seconds),
        "gbSeconds": amount(s.gb_seconds),
        "storageGbSeconds": amount(s.storage_gb_seconds),
        "vcpuHours": amount(s.vcpu_seconds / _HOUR, HOUR_PLACES),
        "gbHours": amount(s.gb_seconds / _HOUR, HOUR_PLACES),
        "storageGbHours": amount(s.storage_gb_seconds / _HOUR, HOUR_PLACES),
        "cost": amount(row.cost(prices), COST_PLACES),
        "lines": [
            {
                "architecture": arch,
                "capacityProvider": provider,
                "vcpuSeconds": amount(ln.vcpu_seconds),
                "gbSeconds": amount(ln.gb_seconds),
                "storageGbSeconds": amount(ln.storage_gb_seconds),
                "cost": amount(
                    prices.cost(arch, provider, ln.vcpu_seconds, ln.gb_seconds, ln.storage_gb_seconds),
                    COST_PLACES,
                ),
            }
            for (arch, provider), ln in sorted(row.lines.items())
        ],
    }
    for member, value in (
        ("cluster", row.cluster),
        ("service", row.service),
        ("taskArn", row.task_arn),
        ("day", row.day),
    ):
        if value is not None:
            doc[member] = value
    return doc
