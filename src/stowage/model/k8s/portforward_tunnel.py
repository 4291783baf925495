"""The messages of a port-forward session between the control plane and a host's agent.

``kubectl port-forward`` speaks SPDY to the API (``model/k8s/spdy``); the API does not send that
on to the agent but the few things the agent has to act on, over the same WebSocket tunnel as
``kubectl exec`` (``controllers/exec_broker``). Each binary message is one op byte, a 32-bit
connection number (the API's, one per forwarded TCP connection) and a payload:

- API -> agent: OPEN (payload: the pod's port, 16 bits), DATA, EOF (the client will send no
  more: half-close the pod connection), CLOSE (drop the connection).
- agent -> API: DATA, ERROR (payload: the message for kubectl's error stream, UTF-8), CLOSE
  (the connection is over: the pod closed it, or it failed after an ERROR).

Pure: shared by the API and the agent.
"""

from __future__ import annotations

import struct

OPEN, DATA, EOF, CLOSE, ERROR = 1, 2, 3, 4, 5
_HEAD = struct.Struct(">BI")


def message(op: int, conn: int, payload: bytes = b"") -> bytes:
    return _HEAD.pack(op, conn) + payload


def open_message(conn: int, port: int) -> bytes:
    return message(OPEN, conn, struct.pack(">H", port))


def parse(data: bytes) -> tuple[int, int, bytes] | None:
    """(op, connection, payload) of one message; None for one too short to be any."""
    if len(data) < _HEAD.size:
        return None
    op, conn = _HEAD.unpack_from(data)
    return op, conn, data[_HEAD.size :]


def port_of(payload: bytes) -> int | None:
    """The port an OPEN names."""
    return struct.unpack(">H", payload)[0] if len(payload) == 2 else None
