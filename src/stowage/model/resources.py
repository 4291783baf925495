"""CPU and memory amounts as ECS accepts them in task definitions, parsed into integers.

ECS lets a task definition give its task-level ``cpu`` as CPU units (``"1024"``) or vCPUs
(``"1 vCPU"``, ``"0.25 vcpu"``), and ``memory`` as MiB (``"2048"``) or GB (``"2 GB"``, ``"2GB"``);
it stores and returns the integer forms (1024 units = 1 vCPU, 1024 MiB = 1 GB). This module is
that conversion and nothing else. Parsers return ``None`` for text ECS would reject, so callers
choose the error.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

CPU_UNITS_PER_VCPU = 1024
MIB_PER_GIB = 1024

# A number, optional spaces, optional unit; the unit is matched case-insensitively.
_AMOUNT = re.compile(r"^\s*(?P<number>\d+(?:\.\d+)?|\.\d+)\s*(?P<unit>[A-Za-z]*)\s*$")

_CPU_SCALE = {"": 1, "vcpu": CPU_UNITS_PER_VCPU, "vcpus": CPU_UNITS_PER_VCPU}
_MEMORY_SCALE = {
    "": 1,
    "mb": 1,
    "mib": 1,
    "gb": MIB_PER_GIB,
    "gib": MIB_PER_GIB,
}

# ECS stores these as Java ints; anything larger cannot be a real amount.
_MAX_INT32 = 2**31 - 1


def _parse(text: str, scales: dict[str, int]) -> int | None:
    m = _AMOUNT.match(text)
    if m is None:
        return None
    scale = scales.get(m["unit"].lower())
    if scale is None:
        return None
    try:
        value = Decimal(m["number"]) * scale
    except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
        return None
    # "0.3 vCPU" is 307.2 units: ECS wants whole units, so fractions are rejected, not rounded.
    if value != value.to_integral_value() or value <= 0 or value > _MAX_INT32:
        return None
    return int(value)


def parse_cpu_units(text: str) -> int | None:
    """``"1024"`` → 1024, ``"1 vCPU"`` → 1024, ``"0.25 vcpu"`` → 256; None if not an amount."""
    return _parse(text, _CPU_SCALE)


def parse_memory_mib(text: str) -> int | None:
    """``"512"`` → 512, ``"2 GB"`` / ``"2GB"`` → 2048, ``"0.5 GB"`` → 512; None if not an amount."""
    return _parse(text, _MEMORY_SCALE)


def format_vcpu(units: int) -> str:
    """1024 → ``"1"``, 256 → ``"0.25"``: vCPUs for human-facing messages."""
    return _trim(Decimal(units) / CPU_UNITS_PER_VCPU)


def format_gib(mib: int) -> str:
    """2048 → ``"2"``, 512 → ``"0.5"``: GB for human-facing messages."""
    return _trim(Decimal(mib) / MIB_PER_GIB)


def _trim(value: Decimal) -> str:
    return format(value.normalize(), "f")
