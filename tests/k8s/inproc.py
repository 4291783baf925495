"""The Kubernetes API over an in-memory store, served by uvicorn on a thread of the test
process: for tests that must reach into the store (force a compaction), still over real HTTP
with the real client."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvicorn

from stowage.api.k8s.serving import build_api
from stowage.store.memory import MemoryStore
from tests.support.server import free_port

T = TypeVar("T")
TOKEN = "in-process-test-token"


class InProcessK8s:
    def __init__(self) -> None:
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.store = MemoryStore()
        self._server: uvicorn.Server | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        app, controllers = build_api(self.store, TOKEN)
        await controllers.start()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, lifespan="off", log_level="warning")
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        try:
            await self._server.serve()
        finally:
            await controllers.stop()

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 20
        while self._server is None or not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("in-process Kubernetes API did not start")
            time.sleep(0.02)

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        self._thread.join(timeout=10)

    def client(self) -> Any:
        from kubernetes import client

        cfg = client.Configuration()
        cfg.host = f"http://127.0.0.1:{self.port}"
        cfg.api_key = {"authorization": f"Bearer {TOKEN}"}
        return client.ApiClient(cfg)
