"""Pause points: where a long call lets an event loop waiting for the interpreter run.

A thread running Python code keeps the GIL for up to ``sys.getswitchinterval()``
(5 ms) at a time, and a C loop that drops and retakes it every few microseconds
(``sqlite3``'s ``fetchall`` and ``executemany``) can keep another thread from it
far longer: each drop wakes the waiting thread only to find the GIL taken again.
The async API (:mod:`cleveragents.aio`) runs the sync library on worker threads,
so its long calls (a 20,000-file snapshot, a 20,000-entry batch) would stall the
event loop. They call :func:`pause` between pieces of their work; on a thread
that :func:`pacing` set up, it hands the GIL to the loop when a slice is used up.
Anywhere else it does nothing, at the cost of one thread-local lookup.
"""

from __future__ import annotations

import heapq
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")
R = TypeVar("R")

# Rows per piece for batched reads and writes: a piece takes well under a millisecond.
PIECE = 256
# Rows per piece for an ``executemany`` through SQLAlchemy and a server's driver: a row
# costs far more client time there (parameter processing, adapting, the protocol), and
# a server on the same machine competes for the cores, so a waiting loop gets one only
# when the worker stops at a pause point. A piece of PIECE rows is many slices long.
WRITE_PIECE = 64

_state = threading.local()


def pause() -> None:
    """Let a waiting event loop run, if this thread's work is paced; else nothing."""
    pacer: Callable[[], None] | None = getattr(_state, "pacer", None)
    if pacer is not None:
        pacer()


def is_paced() -> bool:
    """True on a thread whose work is paced (an async API worker, or a pool it started)."""
    return getattr(_state, "pacer", None) is not None


def paced(items: Iterable[T]) -> Iterator[T]:
    """``items``, with a :func:`pause` before each one."""
    pacer: Callable[[], None] | None = getattr(_state, "pacer", None)
    if pacer is None:
        yield from items
        return
    for item in items:
        pacer()
        yield item


def pieces(items: Sequence[T], size: int = PIECE) -> Iterator[Sequence[T]]:
    """``items`` in slices of ``size``, with a :func:`pause` before each one.

    Unpaced, ``items`` whole (when not empty): the sync API keeps its one call.
    """
    if getattr(_state, "pacer", None) is None:
        if items:
            yield items
        return
    for start in range(0, len(items), size):
        pause()
        yield items[start : start + size]


def carried(function: Callable[P, T]) -> Callable[P, T]:
    """``function`` paced like the calling thread, on whichever thread it runs.

    For the helper threads a paced call starts (a pool that reads files).
    """
    pacer: Callable[[], None] | None = getattr(_state, "pacer", None)
    if pacer is None:
        return function

    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        with pacing(pacer):
            return function(*args, **kwargs)

    return run


def helper_threads() -> int:
    """Threads for a pool of GIL-free work (hashing, compression): one per core, or,
    when paced, one core fewer (at least one), so that one is left for the event loop.

    A pool that fills every core makes a waking loop wait for the scheduler to give
    it one, however often the pool's calls pause.
    """
    cores = os.cpu_count() or 1
    if getattr(_state, "pacer", None) is None:
        return cores
    return max(1, cores - 1)


def mapped(pool: Executor, function: Callable[[T], R], items: Sequence[T]) -> Iterator[R]:
    """``pool.map(function, items)``, ``function`` :func:`carried`.

    When paced, the calls are submitted a piece at a time, with a pause point
    between pieces, a piece ahead of the results: ``Executor.map`` submits every
    call in one Python loop that no pause point interrupts. A call's error is
    raised from the results; the calls not started yet are then withdrawn.
    """
    function = carried(function)
    if getattr(_state, "pacer", None) is None:
        yield from pool.map(function, items)
        return
    pending: deque[Future[R]] = deque()
    try:
        for piece in pieces(items):
            pending.extend(pool.submit(function, item) for item in piece)
            while len(pending) > PIECE:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()


def release(*collections: list[Any] | dict[Any, Any] | set[Any]) -> None:
    """Empty ``collections`` in place, a piece at a time with pause points, when paced.

    Dropping the last reference to a collection of 20,000 objects frees them all in
    one C loop that no pause point interrupts, and the event loop waits for its end.
    Only for collections the caller made and no one else still reads. Unpaced,
    nothing: they are freed as usual.
    """
    if getattr(_state, "pacer", None) is None:
        return
    for items in collections:
        while items:
            pause()
            if isinstance(items, list):
                del items[-4 * PIECE :]
            else:
                for _ in range(min(len(items), 4 * PIECE)):
                    items.popitem() if isinstance(items, dict) else items.pop()


def paced_sorted(items: Sequence[T], key: Callable[[T], Any]) -> list[T]:
    """``sorted(items, key=key)``; when paced, sorted in pieces and merged with pause points.

    One ``sorted`` call of 20,000 rows holds the GIL for its whole C loop.
    """
    if getattr(_state, "pacer", None) is None or len(items) <= 4 * PIECE:
        return sorted(items, key=key)
    runs = [sorted(piece, key=key) for piece in pieces(items, 4 * PIECE)]
    return list(paced(heapq.merge(*runs, key=key)))


def paced_json(encode: Callable[[Any], str], rows: Sequence[Any]) -> str:
    """``encode(rows)`` of a JSON list, the same text, encoded in pieces with pause points.

    ``encode`` must separate list items with ``","`` (``separators=(",", ":")``).
    """
    if getattr(_state, "pacer", None) is None or len(rows) <= 4 * PIECE:
        return encode(rows)
    parts = [encode(list(piece))[1:-1] for piece in pieces(rows, 4 * PIECE)]
    return "[" + ",".join(part for part in parts if part) + "]"


@contextmanager
def pacing(pacer: Callable[[], None]) -> Iterator[None]:
    """Make :func:`pause` call ``pacer`` on this thread meanwhile."""
    previous = getattr(_state, "pacer", None)
    _state.pacer = pacer
    try:
        yield
    finally:
        _state.pacer = previous
