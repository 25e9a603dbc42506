"""Steps for cleveragents.aio's worker, without a database: cancellation and progress.

The calls are small fakes with the shape of the library's long calls, so the
moment of each cancellation is certain instead of drawn at random.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from behave import then, when
from behave.runner import Context

from cleveragents.aio.worker import Worker

# --- cancellation -----------------------------------------------------------------------


@when("a task awaiting a {millis:d} ms worker call is cancelled twice while the call runs")
def step_cancel_running(context: Context, millis: int) -> None:
    async def main() -> dict[str, Any]:
        started = threading.Event()
        finished: list[float] = []

        def call() -> None:
            started.set()
            time.sleep(millis / 1000)
            finished.append(time.perf_counter())

        worker = Worker("cancellation test")
        try:
            task = asyncio.create_task(worker.run(call))
            while not started.is_set():
                await asyncio.sleep(0.001)
            task.cancel()
            await asyncio.sleep(millis / 3000)
            task.cancel()
            try:
                await task
                outcome = "returned"
            except asyncio.CancelledError:
                outcome = "cancelled"
            return {"outcome": outcome, "at": time.perf_counter(), "finished": list(finished)}
        finally:
            worker.shutdown()

    context.cancelling = asyncio.run(main())


@then("CancelledError reached the task only after the call had finished")
def step_cancelled_after(context: Context) -> None:
    seen = context.cancelling
    assert seen["outcome"] == "cancelled", seen
    assert len(seen["finished"]) == 1 and seen["finished"][0] <= seen["at"], seen


@when("a task awaiting a call queued behind a busy worker is cancelled")
def step_cancel_queued(context: Context) -> None:
    async def main() -> dict[str, Any]:
        release = threading.Event()
        ran: list[str] = []
        worker = Worker("queue test", serial=True)
        try:
            busy = asyncio.create_task(worker.run(release.wait, 10))
            queued = asyncio.create_task(worker.run(ran.append, "queued call"))
            await asyncio.sleep(0.05)
            queued.cancel()
            began = time.perf_counter()
            try:
                await queued
                outcome = "returned"
            except asyncio.CancelledError:
                outcome = "cancelled"
            waited = time.perf_counter() - began
            release.set()
            await busy
            await worker.run(ran.append, "later call")
            return {"outcome": outcome, "waited": waited, "ran": list(ran)}
        finally:
            worker.shutdown()

    context.cancelling = asyncio.run(main())


@then("CancelledError reached the task at once and the queued call never ran")
def step_queued_withdrawn(context: Context) -> None:
    seen = context.cancelling
    assert seen["outcome"] == "cancelled", seen
    assert seen["waited"] < 0.5, seen
    assert seen["ran"] == ["later call"], seen


# --- progress on the loop's thread -------------------------------------------------------


def _reporting_call(count: int, *, progress: Any = None) -> tuple[int, int]:
    """A sync call with a ``progress`` keyword, as the library's long calls have."""
    for done in range(1, count + 1):
        progress("work", done, count)
    return threading.get_ident(), count


@when("a call on a worker thread reports its progress {count:d} times")
def step_progress(context: Context, count: int) -> None:
    async def main() -> dict[str, Any]:
        calls: list[tuple[int, str, int, int | None]] = []

        def progress(stage: str, done: int, total: int | None) -> None:
            calls.append((threading.get_ident(), stage, done, total))

        worker = Worker("progress test")
        try:
            worker_thread, _ = await worker.run(_reporting_call, count, progress=progress)
            seen_at_return = list(calls)
        finally:
            worker.shutdown()
        return {
            "loop": threading.get_ident(),
            "worker": worker_thread,
            "calls": seen_at_return,
            "count": count,
        }

    context.progress = asyncio.run(main())


@then("every progress call ran on the event loop's thread, in order, before the call returned")
def step_progress_on_loop(context: Context) -> None:
    seen = context.progress
    assert seen["worker"] != seen["loop"], "the call did not run on a worker thread"
    count = seen["count"]
    assert [call[2] for call in seen["calls"]] == list(range(1, count + 1)), seen["calls"]
    assert {call[0] for call in seen["calls"]} == {seen["loop"]}, seen
    assert all(call[1:] == ("work", n, count) for n, call in enumerate(seen["calls"], 1))
