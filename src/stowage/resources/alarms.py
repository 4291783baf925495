"""CloudWatch metric alarms and their history on the store.

An alarm is one record under ``/cw-alarms/{account}/{region}/{name}`` (the name
percent-encoded: alarm names may hold any character, ``/`` included), its document::

    {"alarm": <the MetricAlarm as DescribeAlarms answers it>,
     "tags": [{"Key": ..., "Value": ...}],
     "evaluatedUntil": <end of the last evaluated period, epoch seconds>}

History items (``AlarmHistoryItem`` documents) are records of their own under
``/cw-alarm-history/{account}/{region}/{name}/{milliseconds}-{sequence}``, so they outlive a
deleted alarm (as CloudWatch keeps them) and come back in time order. ``prune_history`` keeps
the newest ``HISTORY_KEEP`` items of an alarm within ``HISTORY_RETENTION`` (CloudWatch: 30 days).
Both roots sit outside ``/ecs/``, so the ECS informer never sees these writes.
"""

from __future__ import annotations

import itertools
import urllib.parse
from collections.abc import Callable
from typing import Any

from stowage.resources.records import Doc, Record, Records

ALARMS_ROOT = "/cw-alarms/"
HISTORY_ROOT = "/cw-alarm-history/"
HISTORY_RETENTION = 30 * 86400.0
HISTORY_KEEP = 1000
_BATCH = 500


def _quote(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def alarms_prefix(account: str, region: str) -> str:
    return f"{ALARMS_ROOT}{account}/{region}/"


def alarm_key(account: str, region: str, name: str) -> str:
    return f"{alarms_prefix(account, region)}{_quote(name)}"


def parse_alarm_key(key: str) -> tuple[str, str, str] | None:
    """``(account, region, name)`` of an alarm key, else None."""
    if not key.startswith(ALARMS_ROOT):
        return None
    parts = key[len(ALARMS_ROOT) :].split("/")
    if len(parts) != 3:
        return None
    return parts[0], parts[1], urllib.parse.unquote(parts[2])


def history_prefix(account: str, region: str, name: str | None = None) -> str:
    base = f"{HISTORY_ROOT}{account}/{region}/"
    return base if name is None else f"{base}{_quote(name)}/"


class AlarmRecords:
    def __init__(self, records: Records) -> None:
        self.records = records
        self._seq = itertools.count()

    async def get(self, account: str, region: str, name: str) -> Record | None:
        return await self.records.get(alarm_key(account, region, name))

    async def put(self, account: str, region: str, name: str, doc: Doc) -> Record:
        return await self.records.put(alarm_key(account, region, name), doc)

    async def update(
        self, account: str, region: str, name: str, change: Callable[[Doc], Doc | None]
    ) -> Record:
        """Read-modify-write (CAS); raises ``RecordMissing`` when the alarm does not exist."""
        return await self.records.update(alarm_key(account, region, name), change)

    async def delete(self, account: str, region: str, name: str) -> None:
        await self.records.delete(alarm_key(account, region, name))

    async def _all(self, prefix: str) -> list[Record]:
        out: list[Record] = []
        start: str | None = None
        while True:
            batch, more = await self.records.list(prefix, start_after=start, limit=_BATCH)
            out.extend(batch)
            if not more or not batch:
                return out
            start = batch[-1].key

    async def in_region(self, account: str, region: str) -> list[Record]:
        """The alarms of an account and region, by name."""
        found = await self._all(alarms_prefix(account, region))
        return sorted(found, key=lambda r: str(r.doc["alarm"]["AlarmName"]))

    async def list_all(self) -> list[Record]:
        """Every alarm of every account and region (the evaluator)."""
        return await self._all(ALARMS_ROOT)

    async def add_history(self, account: str, region: str, name: str, item: dict[str, Any]) -> None:
        millis = int(float(item["Timestamp"]) * 1000)
        key = f"{history_prefix(account, region, name)}{millis:015d}-{next(self._seq) % 1_000_000:06d}"
        await self.records.put(key, item)

    async def history(self, account: str, region: str, name: str | None) -> list[dict[str, Any]]:
        """History items of one alarm (or all), oldest first."""
        found = await self._all(history_prefix(account, region, name))
        items = [r.doc for r in found]
        if name is None:
            items.sort(key=lambda d: float(d["Timestamp"]))
        return items

    async def prune_history(self, account: str, region: str, name: str, now: float) -> int:
        found = await self._all(history_prefix(account, region, name))
        cutoff = now - HISTORY_RETENTION
        drop = [
            r
            for i, r in enumerate(found)
            if i < len(found) - HISTORY_KEEP or float(r.doc["Timestamp"]) < cutoff
        ]
        for rec in drop:
            await self.records.delete(rec.key)
        return len(drop)
