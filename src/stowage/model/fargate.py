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


# -- running on Fargate ---------------------------------------------------------------------
POOL_CLUSTER = "stowage.fargate-pool"
"""The cluster Fargate hosts register in. Its name has a dot, which ECS cluster names cannot
have, so no user cluster can take it; it is left out of ListClusters."""

PLATFORM_VERSION = "1.4.0"
PLATFORM_VERSIONS = frozenset({"LATEST", PLATFORM_VERSION})
DEFAULT_EPHEMERAL_GIB = 20
MIN_EPHEMERAL_GIB = 21
MAX_EPHEMERAL_GIB = 200
ARCHITECTURES = {"X86_64": "x86_64", "ARM64": "arm64"}
"""runtimePlatform.cpuArchitecture -> the host's ``ecs.cpu-architecture`` attribute value."""
SPOT_INTERRUPTION = "SpotInterruption"
SPOT_REASON = "Your Spot Task was interrupted."
SPOT_WARNING_SECONDS = 120


class FargateRequestError(ValueError):
    """A RunTask/CreateService for Fargate that ECS rejects (InvalidParameterException)."""


def platform_version(given: str | None) -> str:
    """The platform version a Fargate task runs on (``LATEST`` and none mean the newest)."""
    if given is None or given == "LATEST":
        return PLATFORM_VERSION
    if given not in PLATFORM_VERSIONS:
        raise FargateRequestError(f"The specified platform version ({given}) does not exist.")
    return given


def architecture(td: dict[str, object]) -> str:
    """The host ``ecs.cpu-architecture`` a task definition needs (x86_64 unless it says ARM64)."""
    platform = td.get("runtimePlatform")
    arch = platform.get("cpuArchitecture") if isinstance(platform, dict) else None
    return ARCHITECTURES.get(str(arch or "X86_64"), "x86_64")


def check_runtime_platform(td: dict[str, object]) -> None:
    platform = td.get("runtimePlatform")
    family = platform.get("operatingSystemFamily") if isinstance(platform, dict) else None
    if family not in (None, "LINUX"):
        raise FargateRequestError(
            f"The operating system family {family} is not supported by this Fargate capacity: "
            "its hosts run Linux."
        )


def check_size(cpu: int, memory: int) -> None:
    """A Fargate task's size (task-level cpu units and MiB, overrides applied) must be one of
    Fargate's sizes."""
    if not is_valid_size(cpu, memory):
        raise FargateRequestError(
            f"No Fargate configuration exists for given values: {cpu} CPU, {memory} memory. "
            "See the Amazon ECS documentation for the valid values."
        )


def ephemeral_gib(td: dict[str, object], overrides: dict[str, object]) -> int:
    for source in (overrides, td):
        storage = source.get("ephemeralStorage")
        if isinstance(storage, dict) and storage.get("sizeInGiB") is not None:
            size = int(storage["sizeInGiB"])
            if not MIN_EPHEMERAL_GIB <= size <= MAX_EPHEMERAL_GIB:
                raise FargateRequestError(
                    f"The ephemeral storage size must be between {MIN_EPHEMERAL_GIB} and "
                    f"{MAX_EPHEMERAL_GIB} GiB."
                )
            return size
    return DEFAULT_EPHEMERAL_GIB
