"""The compact form of a ReportStats batch (``packedSamples``): one definition for both sides.

A host reports all its containers every ``--stats-interval``: tens of samples per call, and at
thousands of hosts thousands of calls a minute. As a list of JSON objects each sample costs the
control plane a dictionary and a dozen member checks on its event loop; packed, a batch is the
distinct task ARNs and container names once, then one fixed-size little-endian record per
sample (``RECORD``), base64 in the JSON body (the model's ``blob``), decoded with
``struct.iter_unpack`` in one call. The agent sends this form; the control plane accepts both.

Record, version 1 (98 bytes): task index (u16, into ``tasks``), container index (u16, into
``containers``), timestamp (f64, epoch seconds), cumulative CPU ns, memory in use, memory limit,
RSS, page cache, network rx, network tx, block read, block write (u64 each), CPU percent of the
host (f64; NaN when the agent has none), online CPUs (u16), pids (u32).
"""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

VERSION = 1
RECORD = struct.Struct("<HHdQQQQQQQQQdHI")
MAX_RECORDS = 10_000
MAX_NAMES = 65_535

Row = tuple[int, int, float, int, int, int, int, int, int, int, int, int, float, int, int]
"""(task index, container index, timestamp, cpu ns, memory, limit, rss, cache, net rx, net tx,
block read, block write, cpu percent of host or NaN, online cpus, pids)"""

# The sample members of the JSON form, in record order after the two indexes and the timestamp.
_COUNTERS = (
    "cpuUsageNanos",
    "memoryUsageBytes",
    "memoryLimitBytes",
    "memoryRssBytes",
    "memoryCacheBytes",
    "networkRxBytes",
    "networkTxBytes",
    "blockReadBytes",
    "blockWriteBytes",
)
_U64 = 2**64 - 1


@dataclass(frozen=True, slots=True)
class PackedBatch:
    tasks: list[str]
    containers: list[str]
    rows: list[Row]

    def to_params(self) -> dict[str, Any]:
        """The ``packedSamples`` member as the JSON protocol carries it (a blob is base64)."""
        records = b"".join(RECORD.pack(*r) for r in self.rows)
        return {
            "version": VERSION,
            "tasks": self.tasks,
            "containers": self.containers,
            "records": base64.b64encode(records).decode("ascii"),
        }

    def as_samples(self) -> list[dict[str, Any]]:
        """The same batch in the JSON form (for sinks that keep JSON samples)."""
        out = []
        for r in self.rows:
            sample: dict[str, Any] = {
                "task": self.tasks[r[0]],
                "containerName": self.containers[r[1]],
                "timestamp": r[2],
                **dict(zip(_COUNTERS, r[3:12], strict=True)),
                "onlineCpus": r[13],
                "pids": r[14],
            }
            if not math.isnan(r[12]):
                sample["cpuPercentOfHost"] = r[12]
            out.append(sample)
        return out


def _u64(value: Any) -> int:
    return min(_U64, max(0, int(value or 0)))


def from_samples(samples: Iterable[Mapping[str, Any]]) -> PackedBatch:
    """JSON-form samples as a batch (the agent packs its samples this way; the control plane
    turns samples from agents that send the JSON form into the same shape)."""
    tasks: dict[str, int] = {}
    containers: dict[str, int] = {}
    rows: list[Row] = []
    for s in samples:
        ti = tasks.setdefault(str(s["task"]), len(tasks))
        ci = containers.setdefault(str(s["containerName"]), len(containers))
        pct = s.get("cpuPercentOfHost")
        rows.append(
            (
                ti,
                ci,
                float(s["timestamp"]),
                *(_u64(s.get(member)) for member in _COUNTERS),  # type: ignore[arg-type]
                math.nan if pct is None else float(pct),
                min(65_535, max(0, int(s.get("onlineCpus") or 0))),
                min(2**32 - 1, max(0, int(s.get("pids") or 0))),
            )
        )
    return PackedBatch(list(tasks), list(containers), rows)


def unpack(packed: Mapping[str, Any]) -> PackedBatch:
    """The validated ``packedSamples`` member as a batch; ``ValueError`` says what is wrong."""
    version = packed.get("version")
    if version != VERSION:
        raise ValueError(f"packedSamples version {version} is not supported (this server reads {VERSION})")
    tasks, containers = list(packed.get("tasks") or []), list(packed.get("containers") or [])
    records = packed.get("records") or b""
    if not isinstance(records, bytes | bytearray):
        raise ValueError("packedSamples.records must be binary")
    if len(records) % RECORD.size:
        raise ValueError(f"packedSamples.records is not a whole number of {RECORD.size}-byte records")
    count = len(records) // RECORD.size
    if count > MAX_RECORDS:
        raise ValueError(f"packedSamples carries {count} records; at most {MAX_RECORDS} per call")
    if len(tasks) > MAX_NAMES or len(containers) > MAX_NAMES:
        raise ValueError("packedSamples names more tasks or containers than records can index")
    rows: list[Row] = list(RECORD.iter_unpack(records))
    if rows:
        if max(r[0] for r in rows) >= len(tasks):
            raise ValueError("a packedSamples record names a task index past packedSamples.tasks")
        if max(r[1] for r in rows) >= len(containers):
            raise ValueError("a packedSamples record names a container index past packedSamples.containers")
        if not all(map(math.isfinite, (r[2] for r in rows))):
            raise ValueError("a packedSamples record has a timestamp that is not a finite number")
    return PackedBatch(tasks, containers, rows)


def batch_of(samples: Sequence[Mapping[str, Any]] | PackedBatch) -> PackedBatch:
    return samples if isinstance(samples, PackedBatch) else from_samples(samples)
