"""What the log store holds and answers: log groups, log streams, events, and its errors.

Times are integer milliseconds since the epoch, as CloudWatch Logs speaks them. Every group and
stream belongs to one ``Owner`` (account and region): names are unique only within it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Owner:
    account: str
    region: str


@dataclass(frozen=True, slots=True)
class LogGroup:
    name: str
    creation_time: int
    retention_days: int | None = None
    kms_key_id: str | None = None
    log_group_class: str = "STANDARD"
    deletion_protection: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    stored_bytes: int = 0


@dataclass(frozen=True, slots=True)
class LogStream:
    name: str
    creation_time: int
    first_event_timestamp: int | None = None
    last_event_timestamp: int | None = None
    last_ingestion_time: int | None = None
    upload_sequence: int = 0
    """Bumped by every accepted PutLogEvents; shown as ``uploadSequenceToken``."""


@dataclass(frozen=True, slots=True)
class NewEvent:
    timestamp: int
    message: str


@dataclass(frozen=True, slots=True)
class StoredEvent:
    event_id: int
    """Monotonically increasing across the whole store; never reused, so it orders events that
    share a timestamp and makes pagination tokens stable."""
    stream: str
    timestamp: int
    ingestion_time: int
    message: str

    @property
    def position(self) -> Position:
        return Position(self.timestamp, self.event_id)


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """A point in (timestamp, event id) order: the order every read returns events in."""

    timestamp: int
    event_id: int


@dataclass(frozen=True, slots=True)
class EventPage:
    events: list[StoredEvent]
    more: bool
    """True when the scan stopped early (page full or scan budget spent): continue after the
    last position scanned, ``resume``."""
    resume: Position | None
    """Where the scan stopped: the last row looked at, matched or not (None if none)."""


class LogStoreError(Exception):
    """Base of the log store's errors; the API maps each to CloudWatch Logs' answer."""


class GroupExists(LogStoreError):
    pass


class GroupNotFound(LogStoreError):
    pass


class StreamExists(LogStoreError):
    pass


class StreamNotFound(LogStoreError):
    pass


class LogStoreClosed(LogStoreError):
    pass
