"""Kubernetes resource quantities (``100m``, ``0.5``, ``128Mi``, ``1G``, ``1e3``) and their
ECS units: CPU as ECS cpu units (1 CPU = 1000m = 1024 units), memory as MiB.

Rounding goes up, as the API server rounds a quantity it cannot represent exactly: a pod that
asks for ``1m`` of CPU reserves one unit, never zero. Pure.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

_PATTERN = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")
_SUFFIX = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}
CPU_UNITS_PER_CORE = 1024
_MIB = Decimal(2**20)


class QuantityError(ValueError):
    """Not a Kubernetes quantity; ``str(exc)`` is the API server's message."""


def parse_quantity(value: object) -> Decimal:
    """The quantity's value in base units (cores, bytes)."""
    if isinstance(value, bool):
        raise QuantityError(f"quantities must match the regular expression: {value!r}")
    if isinstance(value, int | float):
        return Decimal(str(value))
    text = str(value).strip()
    match = _PATTERN.match(text)
    if not match or match.group(2) not in _SUFFIX:
        raise QuantityError(
            f"quantities must match the regular expression "
            f"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {text!r}"
        )
    try:
        number = Decimal(match.group(1))
    except InvalidOperation:
        raise QuantityError(f"unable to parse quantity's suffix: {text!r}") from None
    return number * _SUFFIX[match.group(2)]


def cpu_units(value: object) -> int:
    """ECS cpu units of a CPU quantity, rounded up (``250m`` → 256, ``1`` → 1024)."""
    return max(0, math.ceil(parse_quantity(value) * CPU_UNITS_PER_CORE))


def memory_mib(value: object) -> int:
    """MiB of a memory quantity, rounded up (``100M`` → 96, ``64Mi`` → 64)."""
    return max(0, math.ceil(parse_quantity(value) / _MIB))


def format_cpu(units: int) -> str:
    """A node's cpu capacity as the kubelet reports it: whole cores, else millicores."""
    if units % CPU_UNITS_PER_CORE == 0:
        return str(units // CPU_UNITS_PER_CORE)
    return f"{units * 1000 // CPU_UNITS_PER_CORE}m"


def format_memory(mib: int) -> str:
    """A node's memory as the kubelet reports it (``Ki``)."""
    return f"{mib * 1024}Ki"
