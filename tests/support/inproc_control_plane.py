"""The whole control plane (``server.ControlPlane``, the composition root) under uvicorn on a
thread of the test process: real HTTP and SigV4 for the clients, and the test can still reach
the store the server uses (``call(coro)`` runs a coroutine on the server's loop), e.g. to write
records the way a controller would."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import uvicorn

from stowage.resources.records import Records
from stowage.server import ControlPlane, ServerConfig
from tests.support.server import ACCESS_KEY_ID, ACCOUNT_ID, SECRET_ACCESS_KEY, free_port

T = TypeVar("T")


class InProcessControlPlane:
    def __init__(self, data_dir: Path, **config: Any) -> None:
        self.port = free_port()
        self.config = ServerConfig(
            data_dir=data_dir,
            port=self.port,
            access_key_id=ACCESS_KEY_ID,
            secret_access_key=SECRET_ACCESS_KEY,
            account_id=ACCOUNT_ID,
            **{"k8s_port": 0, **config},  # no Kubernetes listener unless the test asks for one
        )
        self.app = ControlPlane(self.config)
        self.loop = asyncio.new_event_loop()
        self._server: uvicorn.Server | None = None
        self._failed: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def records(self) -> Records:
        assert self.app.store is not None
        return Records(self.app.store)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, lifespan="on", log_level="warning"
        )
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        try:
            self.loop.run_until_complete(self._server.serve())
        except BaseException as exc:  # reported by start()
            self._failed = exc

    def start(self) -> InProcessControlPlane:
        self._thread.start()
        deadline = time.monotonic() + 30
        while self._server is None or not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"in-process control plane did not start: {self._failed!r}")
            time.sleep(0.02)
        return self

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        self._thread.join(timeout=30)
