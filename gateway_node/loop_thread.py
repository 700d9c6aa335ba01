"""An asyncio loop of its own in a background thread: for servers that tests, the demo and the
benchmark run beside synchronous code (the fake provider, the test upstreams, the node).

``start(setup)`` runs ``setup()`` on the new loop and returns once it has finished (raising in
the starting thread what it raised), then the loop keeps running; ``stop(teardown)`` runs
``teardown()`` on the loop, stops it and waits for the thread to end.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["LoopThread"]

START_TIMEOUT = 10.0  # seconds to wait for setup, and for the thread to end on stop


class LoopThread:
    """One event loop running in one daemon thread."""

    def __init__(self, name: str, new_loop: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop) -> None:
        self.name = name
        self._new_loop = new_loop
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.loop is not None and self._thread is not None

    def start(self, setup: Callable[[], Awaitable[None]]) -> None:
        """Start the thread, run ``setup()`` on its loop and wait for it (its error is raised here)."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = self._new_loop()
            self.loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(setup())
            except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        ready.wait(START_TIMEOUT)
        if failure:
            raise failure[0]

    def call(self, fn: Callable[[], Any], timeout: float = 5.0) -> Any:
        """``fn()`` called on the loop's thread, its result returned here."""
        assert self.loop is not None

        async def call() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(timeout)

    def call_soon(self, fn: Callable[[], Any]) -> None:
        """``fn()`` scheduled on the loop's thread (nothing when the loop is not running)."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(fn)

    def stop(self, teardown: Callable[[], Awaitable[None]] | None = None) -> None:
        """Run ``teardown()`` on the loop, stop the loop and wait for the thread (nothing when not running)."""
        loop, thread = self.loop, self._thread
        if loop is None or thread is None:
            return

        async def stopping() -> None:
            try:
                if teardown is not None:
                    await teardown()
            finally:
                loop.stop()

        asyncio.run_coroutine_threadsafe(stopping(), loop)
        thread.join(START_TIMEOUT)
        self.loop = self._thread = None
