"""A wall-clock deadline for a block of CPU-bound Python code (parsing, validating).

Celery enforces its own soft time limit only in a prefork worker; this one also holds where
tasks run inline (CELERY_TASK_ALWAYS_EAGER, tests, management commands), so one code path
handles both. It uses SIGALRM, hence only works in the main thread; elsewhere it is a no-op
and the worker's own limits apply.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class DeadlineExceeded(Exception):
    """Raised inside the guarded block when its time is up."""


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise DeadlineExceeded in the block once ``seconds`` have passed (main thread only)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def _expired(signum: int, frame: FrameType | None) -> None:
        raise DeadlineExceeded(f"took longer than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, _expired)
    # setitimer(…, 0) would disable the timer: the smallest deadline is a microsecond.
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-6))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
