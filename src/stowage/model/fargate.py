"""Fargate task sizes: which task-level cpu/memory pairs exist, and arithmetic over them.

Fargate does not take arbitrary sizes. Each cpu value (in CPU units, 1024 = 1 vCPU) allows a
range of memory values (MiB) in fixed steps; every other pair is rejected at registration with
"No Fargate configuration exists for given values". The table (AWS "Task CPU and memory"):

    cpu    memory (MiB)
    256    512, 1024, 2048
    512    1024 .. 4096   step 1024
    1024   2048 .. 8192   step 1024
    2048   4096 .. 16384  step 1024
    4096   8192 .. 30720  step 1024
    8192   16384 .. 61440 step 4096   (platform 1.4.0+)
    16384  32768 .. 122880 step 8192  (platform 1.4.0+)

Billing and placement use the same sizes, so the helpers here (smallest size that fits a
request, all sizes) are shared by the API and the Fargate capacity controller.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MemoryRange:
    minimum: int
    maximum: int
    step: int

    def __contains__(self, mib: object) -> bool:
        return (
            isinstance(mib, int)
            and self.minimum <= mib <= self.maximum
            and (mib - self.minimum) % self.step == 0
        )

    def values(self) -> Iterator[int]:
        return iter(range(self.minimum, self.maximum + 1, self.step))


# cpu units → allowed memory. 256 CPU is the one row that is not a plain range:
# 512, 1024, 2048 is 512 doubled, expressed here as three one-value ranges.
_TABLE: dict[int, tuple[MemoryRange, ...]] = {
    256: (MemoryRange(512, 512, 1), MemoryRange(1024, 1024, 1), MemoryRange(2048, 2048, 1)),
    512: (MemoryRange(1024, 4096, 1024),),
    1024: (MemoryRange(2048, 8192, 1024),),
    2048: (MemoryRange(4096, 16384, 1024),),
    4096: (MemoryRange(8192, 30720, 1024),),
    8192: (MemoryRange(16384, 61440, 4096),),
    16384: (MemoryRange(32768, 122880, 8192),),
}

CPU_VALUES: tuple[int, ...] = tuple(sorted(_TABLE))
"""Every task cpu Fargate offers, smallest first."""


def is_valid_size(cpu: int, memory: int) -> bool:
    """Whether ``cpu`` units with ``memory`` MiB is a Fargate task size."""
    return any(memory in r for r in _TABLE.get(cpu, ()))


def memory_values(cpu: int) -> list[int]:
    """The memory sizes (MiB) Fargate allows with ``cpu`` units; empty if cpu is not offered."""
    return [m for r in _TABLE.get(cpu, ()) for m in r.values()]


def all_sizes() -> list[tuple[int, int]]:
    """Every valid (cpu, memory) pair, ordered by cpu then memory."""
    return [(cpu, mem) for cpu in CPU_VALUES for mem in memory_values(cpu)]


def smallest_fitting(cpu: int, memory: int) -> tuple[int, int] | None:
    """The cheapest Fargate size with at least ``cpu`` units and ``memory`` MiB, or None if the
    request exceeds the largest size. "Cheapest" follows the per-vCPU and per-GB prices: a vCPU
    costs about nine GB-hours, so more cpu is never traded for less memory; among sizes with the
    smallest sufficient cpu, the smallest sufficient memory wins."""
    for c in CPU_VALUES:
        if c < cpu:
            continue
        for m in memory_values(c):
            if m >= memory:
                return c, m
    return None


def price_per_hour(cpu: int, memory: int, vcpu_hour: float, gb_hour: float) -> float:
    """Hourly price of a size given per-vCPU-hour and per-GB-hour rates."""
    return cpu / 1024 * vcpu_hour + memory / 1024 * gb_hour
