"""The highly available store: a real etcd v3 cluster, over gRPC.

Client: the gRPC stubs and protobuf messages generated in ``aetcd.rpc`` (etcd's own
``rpc.proto``), driven directly. aetcd's high-level ``Client`` was not enough: its range has no
``limit`` (so no pagination), and its watcher hides the response header and drops
``prev_kv``/compaction details we need. The stubs give the full etcd API with nothing in
between, on grpc.aio, so the store stays asyncio-native.

Keys: an optional ``key_prefix`` (e.g. ``/stowage``, stored as ``/stowage/``) is prepended to
every key on the wire so several installations can share one etcd; the store's public keys
never show it.

Errors: a compacted revision becomes ``Compacted``, a future one ``FutureRevision``, an
unreachable or timed-out server ``StoreUnavailable``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import grpc
from aetcd import rpc

from stowage.store.base import (
    Compacted,
    Compare,
    Delete,
    Event,
    EventType,
    FutureRevision,
    Get,
    KeyValue,
    Op,
    Put,
    RangeResult,
    StoreError,
    StoreUnavailable,
    TxnResult,
)
from stowage.store.compare import check_operand
from stowage.store.guarded import guarded_write

T = TypeVar("T")

MAX_MESSAGE = 64 * 1024 * 1024  # a large range reply (thousands of records) must fit
_RESULT = {"==": 0, ">": 1, "<": 2, "!=": 3}  # rpc.Compare.CompareResult
_TARGET = {"version": 0, "create": 1, "mod": 2, "value": 3}  # rpc.Compare.CompareTarget
_UNAVAILABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}


def bytes_prefix_end(prefix: bytes) -> bytes:
    """etcd's range end for "every key starting with prefix"; b"\\0" means "to the end"."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"


def map_error(e: grpc.aio.AioRpcError, requested: int = 0) -> StoreError:
    details = e.details() or ""
    if "required revision has been compacted" in details:
        # etcd does not say where the compaction point is; the requested revision is the best
        # lower bound we have
        return Compacted(requested, requested)
    if "required revision is a future revision" in details:
        return FutureRevision(details)
    if e.code() in _UNAVAILABLE:
        return StoreUnavailable(f"etcd unavailable: {e.code().name}: {details}")
    return StoreError(f"etcd error: {e.code().name}: {details}")


class EtcdStore:
    """A ``Store`` on etcd. ``endpoint`` is a gRPC target: ``host:port``, or e.g.
    ``ipv4:10.0.0.1:2379,10.0.0.2:2379`` for several members. Create it on the event loop
    that will use it."""

    def __init__(
        self, endpoint: str = "127.0.0.1:2379", *, key_prefix: str = "", timeout: float = 10.0
    ) -> None:
        self.endpoint = endpoint
        # "/stowage" is stored as "/stowage/": without the separator, installation "/stowage"
        # would see the keys of "/stowage2" in every range and watch
        self.key_prefix = key_prefix.rstrip("/") + "/" if key_prefix else ""
        self._prefix = self.key_prefix.encode()
        self._timeout = timeout
        self._channel = grpc.aio.insecure_channel(
            endpoint,
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE),
                ("grpc.max_send_message_length", MAX_MESSAGE),
                ("grpc.keepalive_time_ms", 30_000),
            ],
        )
        self._kv = rpc.KVStub(self._channel)
        self._watch_stub = rpc.WatchStub(self._channel)
        self._watches: set[EtcdWatch] = set()
        self._closed = False

    # -- key and value translation -------------------------------------------------------------
    def _key(self, key: str) -> bytes:
        return self._prefix + key.encode()

    def _kv_from(self, kv: Any) -> KeyValue:
        return KeyValue(
            kv.key[len(self._prefix) :].decode(), kv.value, kv.create_revision, kv.mod_revision, kv.version
        )

    def _event_from(self, ev: Any) -> Event:
        prev = self._kv_from(ev.prev_kv) if ev.HasField("prev_kv") else None
        if ev.type == 1:  # mvccpb.Event.DELETE
            key = ev.kv.key[len(self._prefix) :].decode()
            return Event(EventType.DELETE, KeyValue(key, b"", 0, ev.kv.mod_revision, 0), prev)
        return Event(EventType.PUT, self._kv_from(ev.kv), prev)

    def _prefix_range(self, prefix: str) -> tuple[bytes, bytes]:
        start = self._key(prefix)
        return (start, bytes_prefix_end(start)) if start else (b"\0", b"\0")

    async def _call(self, fn: Callable[..., Awaitable[T]], request: Any, requested: int = 0) -> T:
        if self._closed:
            raise StoreUnavailable("store is closed")
        try:
            return await fn(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as e:
            raise map_error(e, requested) from e

    # -- reads ---------------------------------------------------------------------------------
    async def get(self, key: str) -> KeyValue | None:
        resp = await self._call(self._kv.Range, rpc.RangeRequest(key=self._key(key)))
        return self._kv_from(resp.kvs[0]) if resp.kvs else None

    async def range(self, prefix: str, *, start_after: str | None = None, limit: int = 0) -> RangeResult:
        start, end = self._prefix_range(prefix)
        if start_after is not None and start_after >= prefix:
            start = self._key(start_after) + b"\0"  # the smallest key after start_after
        resp = await self._call(self._kv.Range, rpc.RangeRequest(key=start, range_end=end, limit=limit))
        return RangeResult([self._kv_from(kv) for kv in resp.kvs], bool(resp.more), resp.header.revision)

    async def revision(self) -> int:
        resp = await self._call(self._kv.Range, rpc.RangeRequest(key=self._prefix or b"\0", count_only=True))
        return int(resp.header.revision)

    # -- writes --------------------------------------------------------------------------------
    async def put(self, key: str, value: bytes, *, expect_mod_revision: int | None = None) -> int:
        return await guarded_write(self.txn, key, Put(key, value), expect_mod_revision)

    async def delete(self, key: str, *, expect_mod_revision: int | None = None) -> int:
        return await guarded_write(self.txn, key, Delete(key), expect_mod_revision)

    async def txn(
        self, compares: Sequence[Compare], success: Sequence[Op], failure: Sequence[Op] = ()
    ) -> TxnResult:
        request = rpc.TxnRequest(
            compare=[self._compare(c) for c in compares],
            success=[self._request_op(op) for op in success],
            failure=[self._request_op(op) for op in failure],
        )
        resp = await self._call(self._kv.Txn, request)
        revision = int(resp.header.revision)
        results: list[KeyValue | int | None] = []
        for r in resp.responses:
            kind = r.WhichOneof("response")
            if kind == "response_range":
                results.append(self._kv_from(r.response_range.kvs[0]) if r.response_range.kvs else None)
            elif kind == "response_put":
                results.append(revision)  # every op of a txn lands at the txn's revision
            else:
                results.append(int(r.response_delete_range.deleted))
        return TxnResult(bool(resp.succeeded), revision, results)

    def _compare(self, c: Compare) -> Any:
        check_operand(c)
        message = rpc.Compare(key=self._key(c.key), result=_RESULT[c.op], target=_TARGET[c.target])
        if c.target == "value":
            message.value = c.operand
        elif c.target == "version":
            message.version = c.operand
        elif c.target == "create":
            message.create_revision = c.operand
        else:
            message.mod_revision = c.operand
        return message

    def _request_op(self, op: Op) -> Any:
        if isinstance(op, Get):
            return rpc.RequestOp(request_range=rpc.RangeRequest(key=self._key(op.key)))
        if isinstance(op, Put):
            return rpc.RequestOp(request_put=rpc.PutRequest(key=self._key(op.key), value=op.value))
        if op.prefix:
            start, end = self._prefix_range(op.key)
            return rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=start, range_end=end))
        return rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=self._key(op.key)))

    async def compact(self, revision: int) -> None:
        # Not physical: etcd records the compaction point at once and frees space in the
        # background; waiting for that would only slow the compactor down.
        await self._call(self._kv.Compact, rpc.CompactionRequest(revision=revision), requested=revision)

    # -- watch ---------------------------------------------------------------------------------
    def watch(self, prefix: str, *, start_revision: int | None = None) -> EtcdWatch:
        if self._closed:
            raise StoreUnavailable("store is closed")
        watch = EtcdWatch(self, prefix, start_revision)
        self._watches.add(watch)
        return watch

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for watch in list(self._watches):
            await watch.abort(StoreUnavailable("store closed"))
        await self._channel.close()


class EtcdWatch:
    """One etcd watch on its own bidirectional Watch stream. The stream is opened as soon as
    the watch is made (``started`` waits for etcd to confirm it)."""

    def __init__(self, store: EtcdStore, prefix: str, start_revision: int | None) -> None:
        self._store = store
        self._next = start_revision or 0
        self._closed = False
        self._error: StoreError | None = None
        self._iterator: AsyncIterator[list[Event]] | None = None
        key, end = store._prefix_range(prefix)
        create = rpc.WatchCreateRequest(
            key=key, range_end=end, start_revision=start_revision or 0, prev_kv=True
        )
        self._call = store._watch_stub.Watch()
        self._opened: asyncio.Task[None] = asyncio.get_running_loop().create_task(self._open(create))

    async def _open(self, create: Any) -> None:
        try:
            await self._call.write(rpc.WatchRequest(create_request=create))
            resp = await self._call.read()
        except grpc.aio.AioRpcError as e:
            raise map_error(e, self._next) from e
        self._check(resp)
        if not resp.created:
            raise StoreError(f"etcd did not confirm the watch: {resp}")

    def _check(self, resp: Any) -> None:
        if resp is grpc.aio.EOF:
            raise StoreUnavailable("etcd closed the watch stream")
        if resp.compact_revision:
            raise Compacted(self._next, int(resp.compact_revision))
        if resp.canceled:
            raise StoreUnavailable(f"etcd cancelled the watch: {resp.cancel_reason}")

    async def started(self) -> None:
        await asyncio.shield(self._opened)

    def __aiter__(self) -> AsyncIterator[list[Event]]:
        if self._iterator is None:  # one stream: a second ``async for`` continues it
            self._iterator = self._iterate()
        return self._iterator

    async def _iterate(self) -> AsyncIterator[list[Event]]:
        try:
            await self.started()
            while not self._closed:
                try:
                    resp = await self._call.read()
                except grpc.aio.AioRpcError as e:
                    if self._closed:
                        break
                    raise map_error(e, self._next) from e
                self._check(resp)
                if resp.events:
                    batch = [self._store._event_from(ev) for ev in resp.events]
                    self._next = batch[-1].kv.mod_revision + 1
                    yield batch
        except asyncio.CancelledError:
            # close() cancels the call (and the opening), which cancels a pending read: that
            # is the normal end of iteration. A cancellation of our own task must go on.
            task = asyncio.current_task()
            if not (self._closed and task is not None and not task.cancelling()):
                raise
        finally:
            await self.close()
        if self._error is not None:
            raise self._error

    async def abort(self, error: StoreError) -> None:
        """End the watch with ``error`` (raised to whoever iterates it)."""
        self._error = error
        await self.close()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._store._watches.discard(self)
        self._call.cancel()
        if not self._opened.done():
            self._opened.cancel()
        # retrieve the opening's outcome so a failure there is not reported as unhandled
        await asyncio.gather(self._opened, return_exceptions=True)
