"""One EKS cluster's own HTTPS listener: the cluster's Kubernetes API at the root path, on the
cluster's port, with a serving certificate signed by the cluster's own CA.

TLS picks the certificate at the handshake, before any path is known, so a CA per cluster
needs a listener per cluster (SNI would need a host name per cluster, which nothing resolves on
a machine without DNS). The CA stays in the store (``model/eks/clusters``); the serving
certificate is issued at every start, for the listener's address, localhost, 127.0.0.1, ::1 and
the machine's host name, so a changed ``--host`` is covered after a restart and every
control-plane replica serves a certificate the same CA verifies. Its key only passes through a
private temporary directory while uvicorn loads it (Python's ``ssl`` loads keys from files).
"""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from stowage.api.k8s.http import Receive, Scope, Send
from stowage.api.k8s.pki import issue_serving
from stowage.api.k8s.serving import QuietServer, listen_socket, serve_started, tls_config

App = Callable[[Scope, Receive, Send], Awaitable[None]]


def port_free(host: str, port: int) -> bool:
    """Whether nothing listens on ``host:port`` now (another program, or another stowage)."""
    try:
        sock = listen_socket(host, port)
    except OSError:
        return False
    sock.close()
    return True


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


class ClusterListener:
    def __init__(self, app: App, sock: socket.socket, ca: tuple[bytes, bytes], host: str) -> None:
        """``sock``: bound and listening on the cluster's port (``listen_socket``), so that a
        port in use is found before anything else of the cluster starts; ``ca``: its key and
        certificate PEM; ``host``: the address the listener is bound to."""
        self.app = app
        self.sock = sock
        self.ca = ca
        self.host = host
        self.port = int(sock.getsockname()[1])
        self._server: QuietServer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        key, cert = issue_serving(*self.ca, self.host, (socket.gethostname(),))
        with tempfile.TemporaryDirectory(prefix="stowage-eks-") as directory:  # mode 0700
            cert_file, key_file = Path(directory) / "server.crt", Path(directory) / "server.key"
            _write_private(cert_file, cert)
            _write_private(key_file, key)
            config = tls_config(self.app, str(cert_file), str(key_file))
            config.load()  # the SSL context is built here: the files are not read again
        self._server = QuietServer(config)
        self._task = await serve_started(self._server, self.sock)

    def begin_shutdown(self) -> None:
        if self._server is not None:
            self._server.should_exit = True

    async def stop(self) -> None:
        self.begin_shutdown()
        task, self._task = self._task, None
        try:
            if task is not None:
                await asyncio.wait_for(task, timeout=5)
        except asyncio.CancelledError:
            # the server task ended cancelled: fine; but if it is the caller that is being
            # cancelled (a controller worker at shutdown), that must go on up, or the worker
            # never ends and the control plane's shutdown waits for it forever
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
        except Exception:  # a timeout (wait_for cancelled it) or the server's own failure
            pass
        finally:
            self.sock.close()
