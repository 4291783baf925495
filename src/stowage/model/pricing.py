"""The Fargate price table: what a vCPU-hour, a GB-hour and extra storage cost, and its file format.

Defaults are AWS's public us-east-1 Linux prices (USD per hour):

    architecture   vCPU-hour   GB-hour (memory)
    X86_64         0.04048     0.004445
    ARM64          0.03238     0.00356
    ephemeral storage beyond the 20 GiB included: 0.000111 per GB-hour
    FARGATE_SPOT: ``spot_discount`` (default 0.70, i.e. 70% off) off the vCPU and memory rates

Spot's discount applies to vCPU and memory only, as AWS publishes Spot rates for those two;
extra ephemeral storage costs the same on both capacity providers.

A price file (TOML or JSON, same structure; every member optional, missing ones keep their
default; numbers may be written as numbers or strings and are read as exact decimals)::

    currency = "USD"
    spot_discount = 0.70          # fraction off, 0 <= x <= 1
    storage_gb_hour = 0.000111

    [x86_64]
    vcpu_hour = 0.04048
    gb_hour = 0.004445

    [arm64]
    vcpu_hour = 0.03238
    gb_hour = 0.00356

Amounts are ``Decimal`` throughout, so a total is the exact sum of its parts and matches the
table to the cent. Pure: parsing takes text, reading files is the caller's business.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any

X86_64 = "X86_64"
ARM64 = "ARM64"
ARCHITECTURES = (X86_64, ARM64)
FARGATE = "FARGATE"
FARGATE_SPOT = "FARGATE_SPOT"

_SECTIONS = {"x86_64": X86_64, "arm64": ARM64}
_TOP = frozenset({"currency", "spot_discount", "storage_gb_hour", *_SECTIONS})
_RATES = frozenset({"vcpu_hour", "gb_hour"})


class PriceTableError(ValueError):
    """A price file that cannot be used (the message says which member and why)."""


@dataclass(frozen=True, slots=True)
class Rates:
    vcpu_hour: Decimal
    gb_hour: Decimal


@dataclass(frozen=True, slots=True)
class PriceTable:
    rates: Mapping[str, Rates]
    """architecture (``X86_64``/``ARM64``) → on-demand rates"""
    storage_gb_hour: Decimal
    spot_discount: Decimal
    """Fraction off the vCPU and memory rates for FARGATE_SPOT (0.70 = 70% off)."""
    currency: str = "USD"

    def rates_for(self, architecture: str, capacity_provider: str) -> Rates:
        """The hourly vCPU and memory rates a task of this kind pays."""
        base = self.rates.get(architecture) or self.rates[X86_64]
        if capacity_provider != FARGATE_SPOT:
            return base
        keep = 1 - self.spot_discount
        return Rates(base.vcpu_hour * keep, base.gb_hour * keep)

    def cost(
        self,
        architecture: str,
        capacity_provider: str,
        vcpu_seconds: Decimal,
        gb_seconds: Decimal,
        storage_gb_seconds: Decimal,
    ) -> Decimal:
        """Exact (unrounded) cost of the given usage."""
        r = self.rates_for(architecture, capacity_provider)
        hourly = (
            vcpu_seconds * r.vcpu_hour + gb_seconds * r.gb_hour + storage_gb_seconds * self.storage_gb_hour
        )
        return hourly / 3600

    def to_doc(self) -> dict[str, Any]:
        """The table as the usage API reports it (amounts as decimal strings)."""
        return {
            "currency": self.currency,
            "spotDiscount": str(self.spot_discount),
            "storageGbHour": str(self.storage_gb_hour),
            "rates": [
                {"architecture": a, "vcpuHour": str(r.vcpu_hour), "gbHour": str(r.gb_hour)}
                for a, r in sorted(self.rates.items())
            ],
        }


DEFAULT_PRICES = PriceTable(
    rates={
        X86_64: Rates(Decimal("0.04048"), Decimal("0.004445")),
        ARM64: Rates(Decimal("0.03238"), Decimal("0.00356")),
    },
    storage_gb_hour=Decimal("0.000111"),
    spot_discount=Decimal("0.70"),
)


def parse_price_table(text: str, fmt: str, base: PriceTable = DEFAULT_PRICES) -> PriceTable:
    """``text`` in ``fmt`` (``toml`` or ``json``) applied over ``base``."""
    try:
        if fmt == "toml":
            data: Any = tomllib.loads(text, parse_float=Decimal)
        elif fmt == "json":
            data = json.loads(text, parse_float=Decimal)
        else:
            raise PriceTableError(f"unknown price file format {fmt!r} (use .toml or .json)")
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise PriceTableError(f"not valid {fmt.upper()}: {exc}") from None
    if not isinstance(data, dict):
        raise PriceTableError("the price table must be a table/object")
    return apply_overrides(base, data)


def apply_overrides(base: PriceTable, data: Mapping[str, Any]) -> PriceTable:
    unknown = sorted(set(data) - _TOP)
    if unknown:
        raise PriceTableError(f"unknown member(s) {', '.join(unknown)}; known: {', '.join(sorted(_TOP))}")
    table = base
    if "currency" in data:
        if not isinstance(data["currency"], str) or not data["currency"]:
            raise PriceTableError("currency must be a non-empty string")
        table = replace(table, currency=data["currency"])
    if "spot_discount" in data:
        discount = _amount(data["spot_discount"], "spot_discount")
        if discount > 1:
            raise PriceTableError("spot_discount is a fraction between 0 and 1 (0.70 = 70% off)")
        table = replace(table, spot_discount=discount)
    if "storage_gb_hour" in data:
        table = replace(table, storage_gb_hour=_amount(data["storage_gb_hour"], "storage_gb_hour"))
    rates = dict(table.rates)
    for section, arch in _SECTIONS.items():
        if section not in data:
            continue
        given = data[section]
        if not isinstance(given, Mapping):
            raise PriceTableError(f"[{section}] must be a table/object")
        extra = sorted(set(given) - _RATES)
        if extra:
            raise PriceTableError(f"[{section}]: unknown member(s) {', '.join(extra)}")
        current = rates[arch]
        rates[arch] = Rates(
            _amount(given["vcpu_hour"], f"{section}.vcpu_hour")
            if "vcpu_hour" in given
            else current.vcpu_hour,
            _amount(given["gb_hour"], f"{section}.gb_hour") if "gb_hour" in given else current.gb_hour,
        )
    return replace(table, rates=rates)


def _amount(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal | float):
        raise PriceTableError(f"{name} must be a number")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise PriceTableError(f"{name} must be a number, not {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise PriceTableError(f"{name} must be a finite number >= 0")
    return amount
