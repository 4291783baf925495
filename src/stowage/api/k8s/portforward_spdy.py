"""The kubelet's half of ``portforward.k8s.io`` over SPDY, as a pure state machine.

kubectl opens two SPDY streams per forwarded TCP connection, both with the headers ``port`` and
``requestid`` and with ``streamtype`` ``error`` then ``data``. It half-closes the error stream at
once and reads it to its end: whatever text arrives there is the connection's error (kubectl
prints it and gives up on the whole port-forward), and the end of that stream is what lets it
finish the connection. The data stream carries the bytes both ways; kubectl resets it when it is
done with the connection.

Here each complete pair becomes an OPEN of the pod's port in the agent tunnel
(``model/k8s/portforward_tunnel``), and the tunnel's answers become data, error text and the
end of both streams. ``from_client`` and ``from_agent`` return what to send each way; the
caller moves the bytes (``api/k8s/pod_portforward``). SPDY frames go out one per WebSocket
message, in the order they are returned (header compression is one stream for the connection).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stowage.model.k8s import portforward_tunnel as tun
from stowage.model.k8s import spdy

STREAM_TYPE, PORT, REQUEST_ID = "streamtype", "port", "requestid"
_CHUNK = 32 * 1024
"""The largest data frame sent to the client."""


@dataclass
class _Pair:
    """The error and data streams of one forwarded connection."""

    port_header: str
    error_sid: int = 0
    data_sid: int = 0
    conn: int = 0
    """The tunnel's connection number once OPEN was sent."""
    done: bool = False
    """Both streams were ended towards the client."""


@dataclass
class Out:
    """What one input produced: SPDY frames for the client, tunnel messages for the agent."""

    client: list[bytes] = field(default_factory=list)
    agent: list[bytes] = field(default_factory=list)


class SpdyPortForward:
    def __init__(self) -> None:
        self._reader = spdy.FrameReader()
        self._encoder = spdy.HeaderEncoder()
        self._pairs: dict[str, _Pair] = {}
        self._by_stream: dict[int, _Pair] = {}
        self._by_conn: dict[int, _Pair] = {}
        self._next_conn = 1

    @property
    def open_connections(self) -> int:
        return len(self._by_conn)

    def from_client(self, data: bytes) -> Out:
        """Bytes of the SPDY stream from kubectl. Raises ``spdy.SpdyError`` on a broken stream."""
        out = Out()
        for frame in self._reader.feed(data):
            if frame.kind == spdy.SYN_STREAM:
                self._syn_stream(frame, out)
            elif frame.kind == 0:
                self._data(frame, out)
            elif frame.kind == spdy.RST_STREAM:
                self._reset(frame.stream_id, out)
            elif frame.kind == spdy.PING:
                out.client.append(spdy.ping_frame(frame.value))  # kubectl pings to keep the tunnel
        return out

    def from_agent(self, message: bytes) -> list[bytes]:
        """One tunnel message from the agent: the frames it means for the client."""
        parsed = tun.parse(message)
        pair = None if parsed is None else self._by_conn.get(parsed[1])
        if parsed is None or pair is None or pair.done:
            return []
        op, _, payload = parsed
        if op == tun.DATA:
            return [
                spdy.data_frame(pair.data_sid, payload[i : i + _CHUNK])
                for i in range(0, len(payload), _CHUNK)
            ]
        if op == tun.ERROR:
            return [spdy.data_frame(pair.error_sid, payload)]
        if op == tun.CLOSE:
            return self._finish(pair)
        return []

    def _syn_stream(self, frame: spdy.Frame, out: Out) -> None:
        sid = frame.stream_id
        kind, request = frame.header(STREAM_TYPE), frame.header(REQUEST_ID)
        if kind not in ("error", "data") or request is None or sid in self._by_stream:
            out.client.append(spdy.rst_stream_frame(sid, spdy.PROTOCOL_ERROR))
            return
        pair = self._pairs.setdefault(request, _Pair(frame.header(PORT) or ""))
        if (pair.error_sid if kind == "error" else pair.data_sid) or pair.done:
            out.client.append(spdy.rst_stream_frame(sid, spdy.PROTOCOL_ERROR))  # a second one of a kind
            return
        out.client.append(spdy.syn_reply_frame(self._encoder, sid))
        self._by_stream[sid] = pair
        if kind == "error":
            pair.error_sid = sid
        else:
            pair.data_sid = sid
        if pair.error_sid and pair.data_sid:
            self._open(request, pair, out)

    def _open(self, request: str, pair: _Pair, out: Out) -> None:
        port = int(pair.port_header) if pair.port_header.isdigit() else 0
        if not 0 < port < 65536:
            # the kubelet's wording for a port it cannot use
            why = f"unable to parse {pair.port_header!r} as a port: invalid port"
            out.client.append(spdy.data_frame(pair.error_sid, why.encode()))
            out.client.extend(self._finish(pair))
            return
        pair.conn, self._next_conn = self._next_conn, self._next_conn + 1
        self._by_conn[pair.conn] = pair
        del self._pairs[request]  # a later pair may reuse the request id once this one is done
        out.agent.append(tun.open_message(pair.conn, port))

    def _data(self, frame: spdy.Frame, out: Out) -> None:
        pair = self._by_stream.get(frame.stream_id)
        if pair is None or pair.done or not pair.conn or frame.stream_id != pair.data_sid:
            return  # the error stream's own end, or data for a connection that is over
        if frame.data:
            out.agent.append(tun.message(tun.DATA, pair.conn, frame.data))
        if frame.fin:
            out.agent.append(tun.message(tun.EOF, pair.conn))

    def _reset(self, sid: int, out: Out) -> None:
        pair = self._by_stream.get(sid)
        if pair is None:
            return
        if pair.conn and not pair.done:
            out.agent.append(tun.message(tun.CLOSE, pair.conn))
        out.client.extend(self._finish(pair))

    def _finish(self, pair: _Pair) -> list[bytes]:
        """End both streams towards the client (the error stream's end completes kubectl's wait)
        and forget the pair."""
        if pair.done:
            return []
        pair.done = True
        self._by_conn.pop(pair.conn, None)
        for sid in (pair.error_sid, pair.data_sid):
            self._by_stream.pop(sid, None)
        self._pairs = {k: p for k, p in self._pairs.items() if p is not pair}
        return [spdy.data_frame(sid, b"", fin=True) for sid in (pair.data_sid, pair.error_sid) if sid]
