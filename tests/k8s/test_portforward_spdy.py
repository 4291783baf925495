"""The port-forward SPDY server as a state machine: kubectl's frames in (built here the way Go's
framer builds them: one compressed header stream per direction), SPDY frames and agent tunnel
messages out. The real kubectl against it is tests/e2e/test_pod_port_forward.py."""

from __future__ import annotations

import struct

import pytest

from stowage.api.k8s.portforward_spdy import SpdyPortForward
from stowage.model.k8s import portforward_tunnel as tun
from stowage.model.k8s import spdy


class Client:
    """kubectl's side: builds SYN_STREAMs and reads the server's frames."""

    def __init__(self) -> None:
        self.encoder = spdy.HeaderEncoder()
        self.reader = spdy.FrameReader()

    def syn(self, sid: int, kind: str, port: str = "8080", request: str = "0") -> bytes:
        block = self.encoder.block({"streamtype": kind, "port": port, "requestid": request})
        payload = struct.pack(">IIBB", sid, 0, 0, 0) + block
        return struct.pack(">HHI", 0x8003, spdy.SYN_STREAM, len(payload)) + payload

    def read(self, frames: list[bytes]) -> list[spdy.Frame]:
        return self.reader.feed(b"".join(frames))


def open_pair(server: SpdyPortForward, client: Client, request: str = "0", first: int = 1) -> list[bytes]:
    out = server.from_client(client.syn(first, "error", request=request))
    assert out.agent == []  # not until the data stream comes
    replies = client.read(out.client)
    out = server.from_client(client.syn(first + 2, "data", request=request))
    replies += client.read(out.client)
    assert [(f.kind, f.stream_id) for f in replies] == [(spdy.SYN_REPLY, first), (spdy.SYN_REPLY, first + 2)]
    return out.agent


def test_a_stream_pair_opens_a_connection_and_bytes_flow_both_ways() -> None:
    server, client = SpdyPortForward(), Client()
    [opened] = open_pair(server, client)
    op, conn, payload = tun.parse(opened) or (0, 0, b"")
    assert op == tun.OPEN and tun.port_of(payload) == 8080
    # kubectl half-closes the error stream at once: nothing for the agent
    assert server.from_client(spdy.data_frame(1, b"", fin=True)).agent == []
    # request bytes, split across WebSocket messages, reach the agent whole
    frame = spdy.data_frame(3, b"GET / HTTP/1.0\r\n\r\n")
    assert server.from_client(frame[:5]).agent == []
    assert server.from_client(frame[5:]).agent == [tun.message(tun.DATA, conn, b"GET / HTTP/1.0\r\n\r\n")]
    # the pod's answer, larger than one frame, comes back on the data stream in order
    body = bytes(range(256)) * 300
    frames = client.read(server.from_agent(tun.message(tun.DATA, conn, body)))
    assert all(f.kind == 0 and f.stream_id == 3 for f in frames) and len(frames) > 1
    assert b"".join(f.data for f in frames) == body
    # the pod closes: both streams end, which is what ends kubectl's wait on the error stream
    ends = client.read(server.from_agent(tun.message(tun.CLOSE, conn)))
    assert sorted((f.stream_id, f.fin, f.data) for f in ends) == [(1, True, b""), (3, True, b"")]
    assert server.open_connections == 0
    # kubectl then resets the data stream: nothing more goes anywhere
    out = server.from_client(spdy.rst_stream_frame(3, spdy.CANCEL))
    assert out.agent == [] and out.client == []


def test_an_agent_error_goes_to_the_error_stream() -> None:
    server, client = SpdyPortForward(), Client()
    [opened] = open_pair(server, client)
    conn = (tun.parse(opened) or (0, 0, b""))[1]
    message = b"error forwarding port 8080 to pod x, uid : connection refused"
    [frame] = client.read(server.from_agent(tun.message(tun.ERROR, conn, message)))
    assert (frame.stream_id, frame.data, frame.fin) == (1, message, False)


def test_connections_are_independent_and_a_client_reset_closes_only_its_own() -> None:
    server, client = SpdyPortForward(), Client()
    [a] = open_pair(server, client, request="0", first=1)
    [b] = open_pair(server, client, request="1", first=5)
    conn_a, conn_b = (tun.parse(a) or (0, 0))[1], (tun.parse(b) or (0, 0))[1]
    assert conn_a != conn_b
    assert server.from_client(spdy.data_frame(7, b"to-b")).agent == [tun.message(tun.DATA, conn_b, b"to-b")]
    # kubectl half-closes a's data stream (its local client sent EOF), then resets it
    assert server.from_client(spdy.data_frame(3, b"", fin=True)).agent == [tun.message(tun.EOF, conn_a)]
    out = server.from_client(spdy.rst_stream_frame(3, spdy.CANCEL))
    assert out.agent == [tun.message(tun.CLOSE, conn_a)]
    assert {(f.stream_id, f.fin) for f in client.read(out.client)} >= {(1, True)}
    assert server.open_connections == 1
    assert client.read(server.from_agent(tun.message(tun.DATA, conn_b, b"from-b")))[0].data == b"from-b"
    assert server.from_agent(tun.message(tun.DATA, conn_a, b"late")) == []  # a is over


@pytest.mark.parametrize("port", ["abc", "0", "70000", ""])
def test_a_bad_port_header_is_an_error_and_no_connection(port: str) -> None:
    server, client = SpdyPortForward(), Client()
    frames = client.read(server.from_client(client.syn(1, "error", port=port)).client)
    out = server.from_client(client.syn(3, "data", port=port))
    assert out.agent == []
    frames += client.read(out.client)
    errors = [f for f in frames if f.kind == 0 and f.stream_id == 1 and f.data]
    assert errors and f"unable to parse '{port}' as a port" in errors[0].data.decode()
    assert {(f.stream_id, f.fin) for f in frames if f.kind == 0 and not f.data} == {(1, True), (3, True)}


def test_pings_are_answered_and_unknown_stream_types_refused() -> None:
    server, client = SpdyPortForward(), Client()
    [pong] = client.read(server.from_client(spdy.ping_frame(7)).client)
    assert (pong.kind, pong.value) == (spdy.PING, 7)
    [refused] = client.read(server.from_client(client.syn(1, "stdin")).client)
    assert (refused.kind, refused.stream_id, refused.value) == (spdy.RST_STREAM, 1, spdy.PROTOCOL_ERROR)


def test_a_frame_of_another_spdy_version_is_refused() -> None:
    frame = struct.pack(">HHI", 0x8002, spdy.PING, 4) + struct.pack(">I", 1)
    with pytest.raises(spdy.SpdyError):
        spdy.FrameReader().feed(frame)
