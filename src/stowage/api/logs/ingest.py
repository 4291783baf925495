"""PutLogEvents' acceptance rules, as a pure function of the batch and the clock.

As CloudWatch Logs documents them today:
- the batch is at most 1,048,576 bytes, counting each message's UTF-8 bytes plus 26 per event,
  and at most 10,000 events (so one event is at most 1,048,550 bytes); else the call fails;
- events must be in chronological order; else the call fails;
- events more than 2 hours in the future, more than 14 days old, or older than the group's
  retention are rejected one by one (``rejectedLogEventsInfo``) while the rest are stored;
- the accepted events may span at most 24 hours; else the call fails.
Sequence tokens are ignored: the call never answers InvalidSequenceTokenException or
DataAlreadyAcceptedException.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from stowage.api.logs.errors import invalid_parameter
from stowage.logstore import EVENT_OVERHEAD, NewEvent

MAX_BATCH_BYTES = 1_048_576
MAX_BATCH_EVENTS = 10_000
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
MAX_FUTURE_MS = 2 * HOUR_MS
MAX_AGE_MS = 14 * DAY_MS
MAX_SPAN_MS = DAY_MS


@dataclass(frozen=True, slots=True)
class Verdict:
    accepted: list[NewEvent]
    rejected: dict[str, int]
    """``rejectedLogEventsInfo``: empty when every event was accepted."""


def judge(events: Sequence[dict[str, Any]], now_ms: int, retention_days: int | None) -> Verdict:
    if len(events) > MAX_BATCH_EVENTS:
        raise invalid_parameter(f"The batch of log events exceeds the maximum of {MAX_BATCH_EVENTS} events.")
    size = sum(len(e["message"].encode()) + EVENT_OVERHEAD for e in events)
    if size > MAX_BATCH_BYTES:
        raise invalid_parameter(f"Upload too large: {size} bytes exceeds limit of {MAX_BATCH_BYTES}")
    stamps = [int(e["timestamp"]) for e in events]
    if any(b < a for a, b in itertools.pairwise(stamps)):
        raise invalid_parameter("Log events in a single PutLogEvents request must be in chronological order.")
    too_old_before = now_ms - MAX_AGE_MS
    expired_before = now_ms - retention_days * DAY_MS if retention_days is not None else None
    too_new_after = now_ms + MAX_FUTURE_MS
    accepted: list[NewEvent] = []
    too_old_end = expired_end = 0
    too_new_start: int | None = None
    for i, (event, ts) in enumerate(zip(events, stamps, strict=True)):
        # Chronological order makes the too-old and expired events a prefix, the too-new a suffix;
        # the *End indexes are exclusive, the start index inclusive, as the model documents.
        if ts < too_old_before:
            too_old_end = i + 1
        elif expired_before is not None and ts < expired_before:
            expired_end = i + 1
        elif ts > too_new_after:
            if too_new_start is None:
                too_new_start = i
        else:
            accepted.append(NewEvent(ts, event["message"]))
    if accepted and accepted[-1].timestamp - accepted[0].timestamp > MAX_SPAN_MS:
        raise invalid_parameter(
            "The batch of log events in a single PutLogEvents request cannot span more than 24 hours."
        )
    rejected: dict[str, int] = {}
    if too_new_start is not None:
        rejected["tooNewLogEventStartIndex"] = too_new_start
    if too_old_end:
        rejected["tooOldLogEventEndIndex"] = too_old_end
    if expired_end:
        rejected["expiredLogEventEndIndex"] = expired_end
    return Verdict(accepted, rejected)
