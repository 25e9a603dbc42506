"""The bridge from coroutines to the sync library: worker threads, cancellation, progress.

Every coroutine of :mod:`cleveragents.aio` hands one sync call to a small pool of
worker threads and awaits it (ADR 0009). A cancelled caller never leaves the call
behind: a call still queued is withdrawn (it never runs); a call already running
is awaited to its end, and only then does ``CancelledError`` reach the caller. A
``progress=`` callback is moved to the event loop's thread.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

from cleveragents._pacing import pacing
from cleveragents.aio.interpreter import SETTINGS
from cleveragents.domain.errors import DatabaseError

P = ParamSpec("P")
T = TypeVar("T")
S = TypeVar("S")

# Threads per AsyncDatabase: below the PostgreSQL pool (5 + 5 overflow) and SQLite's,
# so a worker never waits for a connection another worker holds.
WORKERS = 4
PROGRESS = "progress"
# Work between two turns of the event loop, at most (where the call has pause points).
SLICE = 0.001
# How long a pause point waits for the loop's turn before going on without it.
TURN_TIMEOUT = 0.005


class Worker:
    """Runs sync calls on its threads for coroutines of one event loop at a time.

    ``serial`` runs one call at a time: for a database every thread reaches through
    one shared connection (in-memory SQLite), where two transactions must not interleave.
    """

    def __init__(self, name: str, *, serial: bool = False) -> None:
        """``name`` says what the calls work on, in the error raised once it is shut down."""
        self._executor = ThreadPoolExecutor(
            max_workers=1 if serial else WORKERS, thread_name_prefix="cleveragents-aio"
        )
        self._name = name
        self._closed = False
        self._lock = threading.Lock()

    @property
    def closed(self) -> bool:
        """True once :meth:`shutdown` ran: no call is accepted any more."""
        return self._closed

    async def run(self, function: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """``function(*args, **kwargs)`` on a worker thread, awaited to its end.

        ``DatabaseError`` once the worker was shut down (its database closed).
        """
        loop = asyncio.get_running_loop()
        progress = kwargs.get(PROGRESS)
        if callable(progress):
            kwargs[PROGRESS] = on_loop(loop, progress)
        with self._lock:
            if self._closed:
                raise DatabaseError(f"{self._name} is closed")
            call = functools.partial(function, *args, **kwargs)
            job = self._executor.submit(_paced, Pacer(loop), call)
        return await settle(job)

    def shutdown(self) -> None:
        """Accept no more calls; the threads end once the calls already given are done."""
        with self._lock:
            self._closed = True
            self._executor.shutdown(wait=False)


class Pacer:
    """At a pause point, once a slice of work is done, waits for a turn of the loop.

    The worker sends the loop a callback and waits for it (without the GIL), so a
    loop that was waiting for the GIL gets it at once and runs everything that
    was due. A loop that does not turn within ``TURN_TIMEOUT`` (blocked by its own
    code, or closed) is not waited for again until it has answered.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._due = time.perf_counter() + SLICE
        self._turn: threading.Event | None = None

    def __call__(self) -> None:
        now = time.perf_counter()
        if now < self._due:
            return
        turn = self._turn
        if turn is not None and not turn.is_set():
            self._due = now + SLICE  # the loop still owes the last turn: do not wait again
            return
        turn = self._turn = threading.Event()
        try:
            self._loop.call_soon_threadsafe(turn.set)
        except RuntimeError:  # the loop is closed: nothing to wait for, ever
            self._due = float("inf")
            return
        turn.wait(TURN_TIMEOUT)
        self._due = time.perf_counter() + SLICE


def _paced(pacer: Pacer, call: Callable[[], T]) -> T:
    with SETTINGS.working(), pacing(pacer):
        return call()


async def settle(job: Future[T]) -> T:
    """The outcome of ``job``; a cancelled caller gets ``CancelledError`` only once it is over.

    A job that has not started is withdrawn and never runs. A running one is
    awaited, through any number of further cancellations, before the first
    ``CancelledError`` is raised: the caller then knows the call is finished.
    """
    waiting = asyncio.wrap_future(job)
    interrupted: asyncio.CancelledError | None = None
    while True:
        try:
            result = await asyncio.shield(waiting)
        except asyncio.CancelledError as exc:
            if waiting.cancelled():  # the job itself was withdrawn: it never ran
                raise
            if interrupted is None:
                interrupted = exc
                if job.cancel():  # still queued: withdrawn, it will never run
                    raise
            continue
        except BaseException:
            if interrupted is not None:
                raise interrupted from None
            raise
        if interrupted is not None:
            raise interrupted
        return result


def on_loop(
    loop: asyncio.AbstractEventLoop, callback: Callable[..., object]
) -> Callable[..., None]:
    """``callback`` called on ``loop``'s thread, in order, whichever thread calls the result.

    The calls are queued before the call's own result, so every one of them has run
    when the awaiting coroutine resumes.
    """

    def forward(*args: Any) -> None:
        loop.call_soon_threadsafe(callback, *args)

    return forward


class Proxy(Generic[S]):
    """An async face of one sync store or service: each method awaits a worker."""

    def __init__(self, worker: Worker, target: Callable[[], S]) -> None:
        self._worker = worker
        self._target = target


def coroutine_of(
    method: Callable[Concatenate[S, P], T],
) -> Callable[Concatenate[Proxy[S], P], Coroutine[Any, Any, T]]:
    """The coroutine method of a :class:`Proxy` that runs the sync ``method`` on a worker.

    It keeps the sync method's name, docstring and signature (``__wrapped__``).
    """

    async def call(self: Proxy[S], /, *args: P.args, **kwargs: P.kwargs) -> T:
        target = self._target()
        return await self._worker.run(functools.partial(method, target), *args, **kwargs)

    return functools.wraps(method)(call)
