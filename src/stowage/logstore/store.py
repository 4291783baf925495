"""``LogStore``: durable log groups, streams and events in one SQLite file, behind an async API.

Why not the revisioned KV store: log events are many, small and append-only, read by time range,
and never watched or compared-and-swapped; etcd's request and database size limits would be hit
by one busy host. So they live in their own SQLite database in the data dir (``logs.db``).

SQLite runs in two worker threads, each with its own connection: one writes (SQLite allows one
writer at a time anyway, so writes queue there instead of contending for the lock), one reads
(WAL lets it read while a batch is being written, so a long FilterLogEvents scan never holds up
ingestion). The event loop only ever awaits futures.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ParamSpec, TypeVar

from stowage.logstore.model import (
    EventPage,
    LogGroup,
    LogStoreClosed,
    LogStream,
    NewEvent,
    Owner,
    Position,
    StoredEvent,
)
from stowage.logstore.schema import connect
from stowage.logstore.sqlite_db import LogDb

DB_FILE = "logs.db"

_P = ParamSpec("_P")
_T = TypeVar("_T")


class LogStore:
    def __init__(self, writer: LogDb, reader: LogDb, wpool: ThreadPoolExecutor, rpool: ThreadPoolExecutor):
        self._writer = writer
        self._reader = reader
        self._wpool = wpool
        self._rpool = rpool
        self._closed = False

    @classmethod
    async def open_in(cls, data_dir: Path | str) -> LogStore:
        """The log store of a data dir: ``DATA_DIR/logs.db``."""
        return await cls.open(Path(data_dir) / DB_FILE)

    @classmethod
    async def open(cls, path: Path | str) -> LogStore:
        """Open (creating if needed) the SQLite database file at ``path``."""
        p = Path(path)
        wpool = ThreadPoolExecutor(1, thread_name_prefix="logstore-write")
        rpool = ThreadPoolExecutor(1, thread_name_prefix="logstore-read")
        loop = asyncio.get_running_loop()
        # The writer creates the schema first, so the reader never races it.
        writer = LogDb(await loop.run_in_executor(wpool, connect, str(p)))
        reader = LogDb(await loop.run_in_executor(rpool, connect, str(p)))
        return cls(writer, reader, wpool, rpool)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._wpool, self._writer.close)
        await loop.run_in_executor(self._rpool, self._reader.close)
        self._wpool.shutdown(wait=True)
        self._rpool.shutdown(wait=True)

    async def _write(self, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        return await self._run(self._wpool, fn, *args, **kwargs)

    async def _read(self, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        return await self._run(self._rpool, fn, *args, **kwargs)

    async def _run(
        self, pool: ThreadPoolExecutor, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs
    ) -> _T:
        if self._closed:
            raise LogStoreClosed("the log store is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(pool, functools.partial(fn, *args, **kwargs))

    # -- groups ------------------------------------------------------------------------------
    async def create_group(self, owner: Owner, group: LogGroup) -> None:
        await self._write(self._writer.create_group, owner, group)

    async def get_group(self, owner: Owner, name: str) -> LogGroup:
        return await self._read(self._reader.get_group, owner, name)

    async def delete_group(self, owner: Owner, name: str) -> None:
        await self._write(self._writer.delete_group, owner, name)

    async def list_groups(
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
        return await self._read(
            self._reader.list_groups,
            owner,
            prefix=prefix,
            contains=contains,
            names=names,
            group_classes=group_classes,
            after=after,
            limit=limit,
        )

    async def set_retention(self, owner: Owner, name: str, days: int | None) -> None:
        await self._write(self._writer.set_retention, owner, name, days)

    async def set_deletion_protection(self, owner: Owner, name: str, enabled: bool) -> None:
        await self._write(self._writer.set_deletion_protection, owner, name, enabled)

    async def set_tags(self, owner: Owner, name: str, tags: dict[str, str]) -> None:
        await self._write(self._writer.set_tags, owner, name, tags)

    # -- streams -----------------------------------------------------------------------------
    async def create_stream(self, owner: Owner, group: str, name: str, now: int) -> None:
        await self._write(self._writer.create_stream, owner, group, name, now)

    async def get_stream(self, owner: Owner, group: str, name: str) -> LogStream:
        return await self._read(self._reader.get_stream, owner, group, name)

    async def delete_stream(self, owner: Owner, group: str, name: str) -> None:
        await self._write(self._writer.delete_stream, owner, group, name)

    async def list_streams(
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
        return await self._read(
            self._reader.list_streams,
            owner,
            group,
            prefix=prefix,
            by_last_event=by_last_event,
            descending=descending,
            after=after,
            limit=limit,
        )

    # -- events ------------------------------------------------------------------------------
    async def put_events(
        self, owner: Owner, group: str, stream: str, events: Sequence[NewEvent], ingestion_time: int
    ) -> LogStream:
        return await self._write(self._writer.put_events, owner, group, stream, events, ingestion_time)

    async def read_stream(
        self,
        owner: Owner,
        group: str,
        stream: str,
        *,
        start: int | None = None,
        end: int | None = None,
        cursor: Position | None = None,
        forward: bool = True,
        limit: int = 10_000,
        max_bytes: int = 1_048_576,
    ) -> list[StoredEvent]:
        return await self._read(
            self._reader.read_stream,
            owner,
            group,
            stream,
            start=start,
            end=end,
            cursor=cursor,
            forward=forward,
            limit=limit,
            max_bytes=max_bytes,
        )

    async def filter_events(
        self,
        owner: Owner,
        group: str,
        *,
        stream_names: Sequence[str] | None = None,
        stream_prefix: str | None = None,
        start: int | None = None,
        end: int | None = None,
        cursor: Position | None = None,
        forward: bool = True,
        limit: int = 10_000,
        max_bytes: int = 1_048_576,
        match: Callable[[str], bool] | None = None,
        scan_budget: int = 100_000,
    ) -> EventPage:
        return await self._read(
            self._reader.filter_events,
            owner,
            group,
            stream_names=stream_names,
            stream_prefix=stream_prefix,
            start=start,
            end=end,
            cursor=cursor,
            forward=forward,
            limit=limit,
            max_bytes=max_bytes,
            match=match,
            scan_budget=scan_budget,
        )

    # -- retention and size ------------------------------------------------------------------
    async def purge_expired(self, now_ms: int, *, chunk: int = 5000) -> int:
        """Delete every event older than its group's retention; returns how many were deleted.

        Works in chunks, each its own transaction, so ingestion interleaves with a big purge.
        """
        deleted = 0
        for gid, days in await self._write(self._writer.groups_with_retention):
            cutoff = now_ms - days * 86_400_000
            while True:
                n = await self._write(self._writer.purge_before, gid, cutoff, chunk)
                deleted += n
                if n < chunk:
                    break
        return deleted

    async def trim_to(self, max_bytes: int, *, chunk: int = 5000) -> int:
        """Delete the earliest-ingested events until the store holds at most ``max_bytes`` of
        messages; returns the bytes freed."""
        freed = 0
        while (total := await self._write(self._writer.total_bytes)) > max_bytes:
            n = await self._write(self._writer.trim_oldest, total - max_bytes, chunk)
            if n == 0:
                break
            freed += n
        return freed
