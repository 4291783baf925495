"""The Kubernetes remote-command protocol over WebSocket (``pods/exec``): subprotocols, channels
and the status a session ends with. Pure: shared by the API (kubectl's side), the tunnel and
the agent (the container's side), which all speak it.

Each binary WebSocket message is one channel byte then the payload. ``v4.channel.k8s.io``
(kubectl < 1.30 over WebSocket, the Python client) and ``v5.channel.k8s.io`` (kubectl >= 1.30)
share the channels; v5 adds CLOSE (255), by which the client says it will send no more stdin.
The session ends with a ``Status`` on the error channel: Success, or Failure with the exit code
as the ``ExitCode`` cause, which kubectl turns into its own exit code.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
SUBPROTOCOLS = (V5, V4)
"""What the server speaks, preferred first."""

STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4
CLOSE = 255
"""v5: the client closed the stream named by the payload's one byte (stdin: no more input)."""


def choose_subprotocol(offered: Iterable[str]) -> str | None:
    """The subprotocol to answer from the client's list (None: none we speak)."""
    given = {p.strip() for p in offered}
    return next((p for p in SUBPROTOCOLS if p in given), None)


def frame(channel: int, data: bytes) -> bytes:
    return bytes((channel,)) + data


def split(message: bytes) -> tuple[int, bytes] | None:
    """(channel, payload) of one binary message; None for an empty one."""
    if not message:
        return None
    return message[0], message[1:]


def exit_status(exit_code: int, command: Sequence[str]) -> bytes:
    """The error channel's final Status for a command that exited with ``exit_code``."""
    status: dict[str, Any] = {"metadata": {}, "status": "Success"}
    if exit_code != 0:
        status = {
            "metadata": {},
            "status": "Failure",
            "message": (
                f"command terminated with non-zero exit code: error executing command "
                f"{list(command)}, exit code {exit_code}"
            ),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]},
        }
    return orjson.dumps(status)


def failure_status(message: str) -> bytes:
    """The error channel's Status when the command could not be run at all."""
    return orjson.dumps({"metadata": {}, "status": "Failure", "message": message, "reason": "InternalError"})


def resize_of(payload: bytes) -> tuple[int, int] | None:
    """(width, height) of a RESIZE message (``{"Width": w, "Height": h}``)."""
    try:
        size = orjson.loads(payload)
        return int(size["Width"]), int(size["Height"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
