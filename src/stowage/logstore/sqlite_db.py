"""The log store's SQL, synchronous: one ``LogDb`` per connection, used from one worker thread.

``SqliteLogStore`` (sqlite.py) owns the threads and the async surface; everything here is plain
blocking code that is easy to test and to reason about. Writes run in explicit ``BEGIN
IMMEDIATE`` transactions, one per call, so a PutLogEvents batch lands whole or not at all.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import orjson

from stowage.logstore.model import (
    EventPage,
    GroupExists,
    GroupNotFound,
    LogGroup,
    LogStream,
    NewEvent,
    Owner,
    Position,
    StoredEvent,
    StreamExists,
    StreamNotFound,
)

EVENT_OVERHEAD = 26
"""Bytes CloudWatch Logs counts per event on top of its UTF-8 message, in batches and pages."""

_GROUP_COLS = (
    "id, name, creation_time, retention_days, kms_key_id, log_group_class, deletion_protection, "
    "tags, stored_bytes"
)
_STREAM_COLS = "name, creation_time, first_event, last_event, last_ingestion, upload_sequence"
_SCAN_CHUNK = 1000


def _group(row: Sequence[Any]) -> LogGroup:
    return LogGroup(
        name=row[1],
        creation_time=row[2],
        retention_days=row[3],
        kms_key_id=row[4],
        log_group_class=row[5],
        deletion_protection=bool(row[6]),
        tags=orjson.loads(row[7]),
        stored_bytes=row[8],
    )


def _stream(row: Sequence[Any]) -> LogStream:
    return LogStream(row[0], row[1], row[2], row[3], row[4], row[5])


class LogDb:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def close(self) -> None:
        self.conn.close()

    # -- groups ------------------------------------------------------------------------------
    def _group_id(self, owner: Owner, name: str) -> int:
        row = self.conn.execute(
            "SELECT id FROM log_groups WHERE account=? AND region=? AND name=?",
            (owner.account, owner.region, name),
        ).fetchone()
        if row is None:
            raise GroupNotFound(name)
        return int(row[0])

    def create_group(self, owner: Owner, group: LogGroup) -> None:
        try:
            self.conn.execute(
                "INSERT INTO log_groups (account, region, name, creation_time, retention_days, kms_key_id,"
                " log_group_class, deletion_protection, tags) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    owner.account,
                    owner.region,
                    group.name,
                    group.creation_time,
                    group.retention_days,
                    group.kms_key_id,
                    group.log_group_class,
                    int(group.deletion_protection),
                    orjson.dumps(group.tags).decode(),
                ),
            )
        except sqlite3.IntegrityError:
            raise GroupExists(group.name) from None

    def get_group(self, owner: Owner, name: str) -> LogGroup:
        row = self.conn.execute(
            f"SELECT {_GROUP_COLS} FROM log_groups WHERE account=? AND region=? AND name=?",
            (owner.account, owner.region, name),
        ).fetchone()
        if row is None:
            raise GroupNotFound(name)
        return _group(row)

    def delete_group(self, owner: Owner, name: str) -> None:
        with _transaction(self.conn):
            gid = self._group_id(owner, name)
            self.conn.execute("DELETE FROM log_events WHERE group_id=?", (gid,))
            self.conn.execute("DELETE FROM log_groups WHERE id=?", (gid,))  # streams cascade

    def list_groups(
        self,
        owner: Owner,
        *,
        prefix: str | None = None,
        contains: str | None = None,
        names: Sequence[str] | None = None,
        group_classes: Sequence[str] | None = None,
        after: str | None = None,
        limit: int = 50,
    ) -> list[LogGroup]:
        """Groups in ASCII order of name, at most ``limit`` of them, starting after ``after``."""
        where = ["account=?", "region=?"]
        args: list[Any] = [owner.account, owner.region]
        if prefix:
            where.append("substr(name, 1, ?) = ?")
            args += [len(prefix), prefix]
        if contains:
            where.append("instr(name, ?) > 0")  # case-sensitive, unlike LIKE
            args.append(contains)
        if names is not None:
            where.append(f"name IN ({','.join('?' * len(names))})")
            args += list(names)
        if group_classes:
            where.append(f"log_group_class IN ({','.join('?' * len(group_classes))})")
            args += list(group_classes)
        if after is not None:
            where.append("name > ?")
            args.append(after)
        rows = self.conn.execute(
            f"SELECT {_GROUP_COLS} FROM log_groups WHERE {' AND '.join(where)} ORDER BY name LIMIT ?",
            [*args, limit],
        ).fetchall()
        return [_group(r) for r in rows]

    def set_retention(self, owner: Owner, name: str, days: int | None) -> None:
        """Set the group's retention in days; None removes the policy (events never expire)."""
        with _transaction(self.conn):
            gid = self._group_id(owner, name)
            self.conn.execute("UPDATE log_groups SET retention_days=? WHERE id=?", (days, gid))

    def set_deletion_protection(self, owner: Owner, name: str, enabled: bool) -> None:
        with _transaction(self.conn):
            gid = self._group_id(owner, name)
            self.conn.execute("UPDATE log_groups SET deletion_protection=? WHERE id=?", (int(enabled), gid))

    def set_tags(self, owner: Owner, name: str, tags: dict[str, str]) -> None:
        with _transaction(self.conn):
            gid = self._group_id(owner, name)
            self.conn.execute("UPDATE log_groups SET tags=? WHERE id=?", (orjson.dumps(tags).decode(), gid))

    # -- streams -----------------------------------------------------------------------------
    def _stream_id(self, gid: int, name: str) -> int:
        row = self.conn.execute(
            "SELECT id FROM log_streams WHERE group_id=? AND name=?", (gid, name)
        ).fetchone()
        if row is None:
            raise StreamNotFound(name)
        return int(row[0])

    def create_stream(self, owner: Owner, group: str, name: str, now: int) -> None:
        gid = self._group_id(owner, group)
        try:
            self.conn.execute(
                "INSERT INTO log_streams (group_id, name, creation_time) VALUES (?,?,?)", (gid, name, now)
            )
        except sqlite3.IntegrityError:
            raise StreamExists(name) from None

    def get_stream(self, owner: Owner, group: str, name: str) -> LogStream:
        gid = self._group_id(owner, group)
        row = self.conn.execute(
            f"SELECT {_STREAM_COLS} FROM log_streams WHERE group_id=? AND name=?", (gid, name)
        ).fetchone()
        if row is None:
            raise StreamNotFound(name)
        return _stream(row)

    def delete_stream(self, owner: Owner, group: str, name: str) -> None:
        with _transaction(self.conn):
            gid = self._group_id(owner, group)
            sid = self._stream_id(gid, name)
            (freed,) = self.conn.execute(
                "SELECT COALESCE(SUM(size), 0) FROM log_events WHERE stream_id=?", (sid,)
            ).fetchone()
            self.conn.execute("DELETE FROM log_events WHERE stream_id=?", (sid,))
            self.conn.execute("DELETE FROM log_streams WHERE id=?", (sid,))
            self.conn.execute("UPDATE log_groups SET stored_bytes=stored_bytes-? WHERE id=?", (freed, gid))

    def list_streams(
        self,
        owner: Owner,
        group: str,
        *,
        prefix: str | None = None,
        by_last_event: bool = False,
        descending: bool = False,
        after: tuple[int, str] | None = None,
        limit: int = 50,
    ) -> list[LogStream]:
        """Streams ordered by name, or by (last event time, name); ``after`` is the sort key of
        the last stream of the previous page (the int is ignored when ordering by name)."""
        gid = self._group_id(owner, group)
        where = ["group_id=?"]
        args: list[Any] = [gid]
        key = "COALESCE(last_event, 0)"
        if prefix:
            where.append("substr(name, 1, ?) = ?")
            args += [len(prefix), prefix]
        cmp = "<" if descending else ">"
        if after is not None:
            if by_last_event:
                where.append(f"({key}, name) {cmp} (?, ?)")
                args += [after[0], after[1]]
            else:
                where.append(f"name {cmp} ?")
                args.append(after[1])
        direction = "DESC" if descending else "ASC"
        order = f"{key} {direction}, name {direction}" if by_last_event else f"name {direction}"
        rows = self.conn.execute(
            f"SELECT {_STREAM_COLS} FROM log_streams WHERE {' AND '.join(where)} ORDER BY {order} LIMIT ?",
            [*args, limit],
        ).fetchall()
        return [_stream(r) for r in rows]

    # -- events ------------------------------------------------------------------------------
    def put_events(
        self, owner: Owner, group: str, stream: str, events: Sequence[NewEvent], ingestion_time: int
    ) -> LogStream:
        """Append a batch (already accepted by the caller) to a stream; returns the stream after."""
        with _transaction(self.conn):
            gid = self._group_id(owner, group)
            sid = self._stream_id(gid, stream)
            if events:
                rows = [
                    (gid, sid, e.timestamp, ingestion_time, len(e.message.encode()), e.message)
                    for e in events
                ]
                self.conn.executemany(
                    "INSERT INTO log_events (group_id, stream_id, ts, ingestion, size, message)"
                    " VALUES (?,?,?,?,?,?)",
                    rows,
                )
                first = min(e.timestamp for e in events)
                last = max(e.timestamp for e in events)
                self.conn.execute(
                    "UPDATE log_streams SET first_event=MIN(COALESCE(first_event, ?), ?),"
                    " last_event=MAX(COALESCE(last_event, ?), ?), last_ingestion=? WHERE id=?",
                    (first, first, last, last, ingestion_time, sid),
                )
                self.conn.execute(
                    "UPDATE log_groups SET stored_bytes=stored_bytes+? WHERE id=?",
                    (sum(r[4] for r in rows), gid),
                )
            self.conn.execute("UPDATE log_streams SET upload_sequence=upload_sequence+1 WHERE id=?", (sid,))
            row = self.conn.execute(f"SELECT {_STREAM_COLS} FROM log_streams WHERE id=?", (sid,)).fetchone()
        return _stream(row)

    def read_stream(
        self,
        owner: Owner,
        group: str,
        stream: str,
        *,
        start: int | None,
        end: int | None,
        cursor: Position | None,
        forward: bool,
        limit: int,
        max_bytes: int,
    ) -> list[StoredEvent]:
        """Events of one stream with ``start <= timestamp < end``, strictly after (forward) or
        before (backward) ``cursor``; nearest the cursor first, returned in ascending order."""
        gid = self._group_id(owner, group)
        sid = self._stream_id(gid, stream)
        where, args = _range_clause(start, end, cursor, forward)
        direction = "ASC" if forward else "DESC"
        rows = self.conn.execute(
            f"SELECT id, ts, ingestion, size, message FROM log_events WHERE stream_id=?{where}"
            f" ORDER BY ts {direction}, id {direction} LIMIT ?",
            [sid, *args, limit],
        )
        out: list[StoredEvent] = []
        used = 0
        for eid, ts, ingestion, size, message in rows:
            used += size + EVENT_OVERHEAD
            if out and used > max_bytes:
                break
            out.append(StoredEvent(eid, stream, ts, ingestion, message))
        if not forward:
            out.reverse()
        return out

    def filter_events(
        self,
        owner: Owner,
        group: str,
        *,
        stream_names: Sequence[str] | None,
        stream_prefix: str | None,
        start: int | None,
        end: int | None,
        cursor: Position | None,
        forward: bool,
        limit: int,
        max_bytes: int,
        match: Callable[[str], bool] | None,
        scan_budget: int,
    ) -> EventPage:
        """A group-wide scan in (timestamp, id) order, keeping the events ``match`` accepts.

        Stops when the page is full (by count or bytes) or after ``scan_budget`` rows; then
        ``more`` is True and ``resume`` says where to continue, like CloudWatch's partial pages.
        """
        gid = self._group_id(owner, group)
        stream_where = ""
        stream_args: list[Any] = []
        if stream_names is not None:
            stream_where = (
                f" AND e.stream_id IN (SELECT id FROM log_streams WHERE group_id=? AND name IN"
                f" ({','.join('?' * len(stream_names))}))"
            )
            stream_args = [gid, *stream_names]
        elif stream_prefix:
            stream_where = (
                " AND e.stream_id IN (SELECT id FROM log_streams WHERE group_id=? AND substr(name, 1, ?) = ?)"
            )
            stream_args = [gid, len(stream_prefix), stream_prefix]
        direction = "ASC" if forward else "DESC"
        out: list[StoredEvent] = []
        used = 0
        scanned = 0
        resume = cursor
        while True:
            where, args = _range_clause(start, end, resume, forward, alias="e.")
            rows = self.conn.execute(
                "SELECT e.id, e.ts, e.ingestion, e.size, e.message, s.name FROM log_events e"
                f" JOIN log_streams s ON s.id = e.stream_id WHERE e.group_id=?{where}{stream_where}"
                f" ORDER BY e.ts {direction}, e.id {direction} LIMIT ?",
                [gid, *args, *stream_args, _SCAN_CHUNK],
            ).fetchall()
            for eid, ts, ingestion, size, message, sname in rows:
                if match is None or match(message):
                    if len(out) >= limit or (out and used + size + EVENT_OVERHEAD > max_bytes):
                        return EventPage(out, True, resume)  # this row starts the next page
                    used += size + EVENT_OVERHEAD
                    out.append(StoredEvent(eid, sname, ts, ingestion, message))
                resume = Position(ts, eid)
                scanned += 1
                if scanned >= scan_budget:
                    return EventPage(out, True, resume)
            if len(rows) < _SCAN_CHUNK:
                return EventPage(out, False, resume)

    # -- retention and size ------------------------------------------------------------------
    def groups_with_retention(self) -> list[tuple[int, int]]:
        """(group id, retention days) of every group that has a retention policy."""
        rows = self.conn.execute(
            "SELECT id, retention_days FROM log_groups WHERE retention_days IS NOT NULL"
        ).fetchall()
        return [(int(a), int(b)) for a, b in rows]

    def purge_before(self, group_id: int, cutoff: int, chunk: int) -> int:
        """Delete up to ``chunk`` events of a group older than ``cutoff``; returns how many."""
        with _transaction(self.conn):
            rows = self.conn.execute(
                "SELECT id, size FROM log_events WHERE group_id=? AND ts < ? ORDER BY ts LIMIT ?",
                (group_id, cutoff, chunk),
            ).fetchall()
            self._delete_rows([(r[0], group_id, r[1]) for r in rows])
        return len(rows)

    def total_bytes(self) -> int:
        (total,) = self.conn.execute("SELECT COALESCE(SUM(stored_bytes), 0) FROM log_groups").fetchone()
        return int(total)

    def trim_oldest(self, excess: int, chunk: int) -> int:
        """Delete the earliest-ingested events (at most ``chunk``) until ``excess`` bytes are
        freed; returns the bytes freed."""
        with _transaction(self.conn):
            rows = self.conn.execute(
                "SELECT id, group_id, size FROM log_events ORDER BY id LIMIT ?", (chunk,)
            ).fetchall()
            doomed: list[Sequence[Any]] = []
            freed = 0
            for row in rows:
                if freed >= excess:
                    break
                doomed.append(row)
                freed += int(row[2])
            self._delete_rows(doomed)
        return freed

    def _delete_rows(self, rows: Iterable[Sequence[Any]]) -> None:
        freed: dict[int, int] = {}
        ids: list[tuple[int]] = []
        for eid, gid, size in rows:
            ids.append((eid,))
            freed[gid] = freed.get(gid, 0) + size
        self.conn.executemany("DELETE FROM log_events WHERE id=?", ids)
        self.conn.executemany(
            "UPDATE log_groups SET stored_bytes=MAX(stored_bytes-?, 0) WHERE id=?",
            [(b, g) for g, b in freed.items()],
        )


def _range_clause(
    start: int | None, end: int | None, cursor: Position | None, forward: bool, alias: str = ""
) -> tuple[str, list[Any]]:
    where = ""
    args: list[Any] = []
    if start is not None:
        where += f" AND {alias}ts >= ?"
        args.append(start)
    if end is not None:
        where += f" AND {alias}ts < ?"
        args.append(end)
    if cursor is not None:
        # A row-value comparison SQLite answers from the (…, ts, id) index.
        where += f" AND ({alias}ts, {alias}id) {'>' if forward else '<'} (?, ?)"
        args += [cursor.timestamp, cursor.event_id]
    return where, args


class _transaction:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any exception."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")
