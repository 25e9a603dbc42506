"""Steps for the interpreter's settings while async API calls run, and for the paced map.

The settings are process-wide: every step puts the application's values of
before the scenario back, whatever happens.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from behave import given, then, when
from behave.runner import Context

from cleveragents._pacing import PIECE, helper_threads, mapped, pacing, release
from cleveragents.aio.worker import Worker

Settings = tuple[tuple[int, int, int], float]


def _now() -> Settings:
    return gc.get_threshold(), sys.getswitchinterval()


def _with_settings(context: Context, run: Callable[[], Any]) -> Any:
    """``run()`` from the scenario's settings; the process's own ones come back after it."""
    before = _now()
    gc.set_threshold(*context.app_threshold)
    sys.setswitchinterval(context.app_interval)
    try:
        return run()
    finally:
        gc.set_threshold(*before[0])
        sys.setswitchinterval(before[1])


def _interval_ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


@given(
    "the application's collector thresholds are {g0:d}, {g1:d}, {g2:d}"
    " and its switch interval {millis:d} ms"
)
def step_app_settings(context: Context, g0: int, g1: int, g2: int, millis: int) -> None:
    context.app_threshold = (g0, g1, g2)
    context.app_interval = millis / 1000


@when("a worker call returns, another raises and a third is cancelled while it runs")
def step_three_endings(context: Context) -> None:
    during: list[Settings] = []
    after: list[Settings] = []

    def call(fail: bool, seconds: float) -> str:
        during.append(_now())
        time.sleep(seconds)
        if fail:
            raise ValueError("this call fails")
        return "done"

    async def main() -> list[str]:
        worker = Worker("settings test")
        outcomes = []
        try:
            outcomes.append(await worker.run(call, False, 0))
            after.append(_now())
            try:
                await worker.run(call, True, 0)
            except ValueError as exc:
                outcomes.append(str(exc))
            after.append(_now())
            task = asyncio.create_task(worker.run(call, False, 0.1))
            while len(during) < 3:
                await asyncio.sleep(0.001)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                outcomes.append("cancelled")
            after.append(_now())
        finally:
            worker.shutdown()
        return outcomes

    context.outcomes = _with_settings(context, lambda: asyncio.run(main()))
    context.during, context.after = during, after


@then(
    "during each call the thresholds were {g0:d}, {g1:d}, {g2:d}"
    " and the switch interval {millis:d} ms"
)
def step_during(context: Context, g0: int, g1: int, g2: int, millis: int) -> None:
    assert context.outcomes == ["done", "this call fails", "cancelled"], context.outcomes
    assert len(context.during) == 3, context.during
    for threshold, interval in context.during:
        assert threshold == (g0, g1, g2), context.during
        assert _interval_ms(interval) == millis, context.during


@then(
    "after each call the thresholds were {g0:d}, {g1:d}, {g2:d}"
    " and the switch interval {millis:d} ms again"
)
def step_after(context: Context, g0: int, g1: int, g2: int, millis: int) -> None:
    assert len(context.after) == 3, context.after
    for threshold, interval in context.after:
        assert threshold == (g0, g1, g2), context.after
        assert _interval_ms(interval) == millis, context.after


@when("two calls on two workers overlap and the first one ends before the second")
def step_overlap(context: Context) -> None:
    seen: dict[str, Settings] = {}

    async def main() -> None:
        first, second = Worker("first"), Worker("second")
        release = threading.Event()
        try:
            long_call = asyncio.create_task(second.run(release.wait, 10))
            await first.run(time.sleep, 0.01)
            seen["first ended"] = _now()
            release.set()
            await long_call
            seen["second ended"] = _now()
        finally:
            first.shutdown()
            second.shutdown()

    _with_settings(context, lambda: asyncio.run(main()))
    context.overlap = seen


@then(
    "the thresholds were {a0:d}, {a1:d}, {a2:d} until the second call ended,"
    " and {b0:d}, {b1:d}, {b2:d} after it"
)
def step_overlap_seen(
    context: Context, a0: int, a1: int, a2: int, b0: int, b1: int, b2: int
) -> None:
    seen = context.overlap
    assert seen["first ended"][0] == (a0, a1, a2), seen
    assert seen["second ended"][0] == (b0, b1, b2), seen
    assert seen["second ended"][1] == context.app_interval, seen


@when(
    "the application sets thresholds {g0:d}, {g1:d}, {g2:d} and a {millis:d} ms"
    " switch interval while a call runs"
)
def step_app_changes(context: Context, g0: int, g1: int, g2: int, millis: int) -> None:
    def call() -> None:  # the application's code, on another thread, meanwhile
        gc.set_threshold(g0, g1, g2)
        sys.setswitchinterval(millis / 1000)

    async def main() -> Settings:
        worker = Worker("application test")
        try:
            await worker.run(call)
            return _now()
        finally:
            worker.shutdown()

    context.changed = _with_settings(context, lambda: asyncio.run(main()))


@then(
    "after the call the thresholds are {g0:d}, {g1:d}, {g2:d} and the switch interval {millis:d} ms"
)
def step_app_kept(context: Context, g0: int, g1: int, g2: int, millis: int) -> None:
    threshold, interval = context.changed
    assert threshold == (g0, g1, g2), context.changed
    assert _interval_ms(interval) == millis, context.changed


@then("a call on a collector the application switched off with a threshold of 0 leaves it off")
def step_switched_off(context: Context) -> None:
    context.app_threshold = (0, 10, 10)

    async def main() -> tuple[Settings, Settings]:
        worker = Worker("switched off")
        try:
            during = await worker.run(_now)
            return during, _now()
        finally:
            worker.shutdown()

    during, after = _with_settings(context, lambda: asyncio.run(main()))
    assert during[0] == (0, 10, 10) and after[0] == (0, 10, 10), (during, after)


# --- releasing collections, helper pools ------------------------------------------------


@when("paced work releases a list, a dict and a set of {count:d} items each")
def step_release(context: Context, count: int) -> None:
    pauses: list[int] = []

    def made() -> tuple[list[int], dict[int, int], set[int]]:
        return list(range(count)), {n: n for n in range(count)}, set(range(count))

    context.unpaced_collections = made()
    release(*context.unpaced_collections)
    context.unpaced_threads = helper_threads()
    context.paced_collections = made()
    with pacing(lambda: pauses.append(1)):
        release(*context.paced_collections)
        context.paced_threads = helper_threads()
    context.release_count, context.release_pauses = count, len(pauses)


@then("the three are empty, with a pause point before each piece of {size:d} items")
def step_released(context: Context, size: int) -> None:
    assert size == 4 * PIECE, size
    assert all(len(items) == 0 for items in context.paced_collections), context.paced_collections
    expected = 3 * -(-context.release_count // size)
    assert context.release_pauses == expected, (context.release_pauses, expected)


@then("the same collections released by unpaced work are left whole, to be freed as usual")
def step_unpaced_release(context: Context) -> None:
    sizes = [len(items) for items in context.unpaced_collections]
    assert sizes == [context.release_count] * 3, sizes


@then("paced work's helper pools have one thread fewer than the cores, at least one")
def step_helper_threads(context: Context) -> None:
    cores = os.cpu_count() or 1
    assert context.unpaced_threads == cores, (context.unpaced_threads, cores)
    assert context.paced_threads == max(1, cores - 1), (context.paced_threads, cores)


# --- the paced map -----------------------------------------------------------------------


@when("a worker call maps {count:d} items on a pool through the paced map")
def step_paced_map(context: Context, count: int) -> None:
    ran: list[int] = []
    failing = PIECE + 7

    def square(item: int) -> int:
        ran.append(item)
        return item * item

    def failing_square(item: int) -> int:
        if item == failing:
            raise ValueError(f"item {item} fails")
        time.sleep(0.0005)
        return square(item)

    def both() -> tuple[list[int], str]:
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(mapped(pool, square, range(count)))
            ran.clear()
            try:
                list(mapped(pool, failing_square, range(count)))
                error = "no error"
            except ValueError as exc:
                error = str(exc)
        return results, error

    async def main() -> tuple[list[int], str]:
        worker = Worker("map test")
        try:
            return await worker.run(both)
        finally:
            worker.shutdown()

    context.mapped, context.map_error = asyncio.run(main())
    context.map_count, context.map_ran, context.map_failing = count, list(ran), failing


@then("the results are those of the builtin map, in order")
def step_map_results(context: Context) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        expected = list(pool.map(lambda n: n * n, range(context.map_count)))
    assert context.mapped == expected, context.mapped[:10]


@then("a failing item's error reaches the caller and the calls after it were not all run")
def step_map_error(context: Context) -> None:
    assert context.map_error == f"item {context.map_failing} fails", context.map_error
    assert len(context.map_ran) < context.map_count - 1, len(context.map_ran)
