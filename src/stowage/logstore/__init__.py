"""Durable storage for log events (the CloudWatch Logs API's data): log groups, streams and
events in SQLite, kept apart from the revisioned state store. Imports only ``stowage.model``."""

from stowage.logstore.model import (
    EventPage,
    GroupExists,
    GroupNotFound,
    LogGroup,
    LogStoreClosed,
    LogStoreError,
    LogStream,
    NewEvent,
    Owner,
    Position,
    StoredEvent,
    StreamExists,
    StreamNotFound,
)
from stowage.logstore.pattern import Matcher, PatternError, compile_pattern
from stowage.logstore.retention import PurgeResult, RetentionEnforcer
from stowage.logstore.sqlite_db import EVENT_OVERHEAD
from stowage.logstore.store import DB_FILE, LogStore

__all__ = [
    "DB_FILE",
    "EVENT_OVERHEAD",
    "EventPage",
    "GroupExists",
    "GroupNotFound",
    "LogGroup",
    "LogStore",
    "LogStoreClosed",
    "LogStoreError",
    "LogStream",
    "Matcher",
    "NewEvent",
    "Owner",
    "PatternError",
    "Position",
    "PurgeResult",
    "RetentionEnforcer",
    "StoredEvent",
    "StreamExists",
    "StreamNotFound",
    "compile_pattern",
]
