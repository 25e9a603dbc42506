"""The interpreter's settings while async API calls run, and their return afterwards.

Two settings of CPython decide how long an event loop can wait for a worker
thread (ADR 0009, "The event loop's responsiveness"):

- A full (generation 2) garbage collection stops every thread for a time that
  grows with the live objects of the whole process. A large call allocates
  enough survivors to trigger several of them. While calls run, full
  collections are put off: the generation-2 threshold is raised, so they come
  at most every :data:`DEFERRED_FULL` collections of generation 1 (never
  switched off: cyclic garbage stays bounded however busy the workers are).
  Younger generations are collected as usual.
- ``sys.getswitchinterval()``: how long a thread running Python code keeps the
  GIL from a thread that waits for it. While calls run it is at most
  :data:`SWITCH_INTERVAL`, so a stretch of work between two pause points holds
  the loop up that long at most.

Both are process-wide. They change when the first call starts and go back when
the last running call ends, however it ends (a result, an error, or a caller's
cancellation, which waits for the call's end). A value the application set
meanwhile is its own and stays; a collector the application switched off
(``gc.disable()`` or a threshold of 0) is left alone.
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

# Collections of generation 1 between two full ones while calls run (CPython's default: 10).
DEFERRED_FULL: Final = 1000
# Seconds of Python code a worker may run while the event loop waits for the GIL.
SWITCH_INTERVAL: Final = 0.001


class Settings:
    """The process's settings while calls run: counts the running calls, restores at zero."""

    def __init__(self) -> None:
        """Nothing changed yet."""
        self._lock = threading.Lock()
        self._running = 0
        self._threshold: tuple[tuple[int, int, int], tuple[int, int, int]] | None = None
        self._interval: tuple[float, float] | None = None

    @contextmanager
    def working(self) -> Iterator[None]:
        """The settings of running calls meanwhile; on the way out, the application's again."""
        self._enter()
        try:
            yield
        finally:
            self._leave()

    def _enter(self) -> None:
        with self._lock:
            self._running += 1
            if self._running > 1:
                return
            threshold = gc.get_threshold()
            if threshold[0] > 0 and threshold[2] < DEFERRED_FULL:
                deferred = (threshold[0], threshold[1], DEFERRED_FULL)
                gc.set_threshold(*deferred)
                self._threshold = (threshold, deferred)
            interval = sys.getswitchinterval()
            if interval > SWITCH_INTERVAL:
                sys.setswitchinterval(SWITCH_INTERVAL)
                self._interval = (interval, sys.getswitchinterval())

    def _leave(self) -> None:
        with self._lock:
            self._running -= 1
            if self._running > 0:
                return
            if self._threshold is not None:
                saved, deferred = self._threshold
                self._threshold = None
                if gc.get_threshold() == deferred:  # else the application set its own meanwhile
                    gc.set_threshold(*saved)
            if self._interval is not None:
                saved_interval, ours = self._interval
                self._interval = None
                if sys.getswitchinterval() == ours:
                    sys.setswitchinterval(saved_interval)


# One per process, like the settings themselves.
SETTINGS: Final = Settings()
