"""The Kubernetes listener's WebSocket protocol: uvicorn's, with the subprotocol left to the app.

``kubectl port-forward`` offers the subprotocol ``SPDY/3.1+portforward.k8s.io`` (KEP 4006),
which is not an RFC 7230 token ('/' is a separator), and the ``websockets`` library refuses such
a ``Sec-WebSocket-Protocol`` header with a 400 before the app sees the request (Go's servers,
the real API server's among them, take it as it is). uvicorn already answers with the
subprotocol the app accepts, not the library's choice, so the library's parse of the header is
skipped; the app reads the header itself (``api/k8s/pod_exec``, ``api/k8s/pod_portforward``).
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.datastructures import Headers


def _app_chooses(headers: Headers) -> None:
    return None


class K8sWebSocketProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn.process_subprotocol = _app_chooses  # type: ignore[method-assign]
