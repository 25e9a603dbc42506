"""Steps of the fast tier for progress stages (``cleveragents.domain.progress``), on a fake clock."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager

from behave import then
from behave.runner import Context

from cleveragents.domain import progress as progress_module
from cleveragents.domain.progress import REPORT_INTERVAL_NS, Stage, checked_progress

Reports = list[tuple[str, int, int | None]]


class _Clock:
    """Stands in for the ``time`` module: ``monotonic_ns`` is whatever the step sets."""

    def __init__(self) -> None:
        self.now_ns = 0

    def monotonic_ns(self) -> int:
        return self.now_ns


@contextmanager
def _fake_clock() -> Iterator[_Clock]:
    clock = _Clock()
    real = progress_module.time
    progress_module.time = clock  # the stage reads only monotonic_ns from it
    try:
        yield clock
    finally:
        progress_module.time = real


@then(
    "a stage of {items:d} items done 1 ms apart reports {count:d} times, 50 ms apart, "
    "the last with done {last:d}"
)
def step_throttled(context: Context, items: int, count: int, last: int) -> None:
    reports: Reports = []
    times: list[int] = []
    with _fake_clock() as clock:

        def progress(stage: str, done: int, total: int | None) -> None:
            reports.append((stage, done, total))
            times.append(clock.now_ns)

        stage = Stage(progress, "read", items)
        for index in range(1, items + 1):
            clock.now_ns = index * 1_000_000
            stage.advance()
        stage.finish()
    assert len(reports) == count, (len(reports), reports[:5])
    assert reports[0] == ("read", 0, items) and reports[-1] == ("read", last, items)
    gaps = [b - a for a, b in itertools.pairwise(times[:-1])]
    assert all(gap >= REPORT_INTERVAL_NS for gap in gaps), gaps


@then("a walk's stage gives its count as the total of its last report")
def step_walk(context: Context) -> None:
    reports: Reports = []
    stage = Stage(lambda *report: reports.append(report), "scan")
    for _ in range(7):
        stage.advance()
    stage.finish()
    stage.finish()  # a second finish reports nothing more
    assert reports[0] == ("scan", 0, None) and reports[-1] == ("scan", 7, 7), reports
    assert all(total is None for _, _, total in reports[:-1]), reports


@then("a stage with nothing to do, or without a callback, reports nothing")
def step_silent(context: Context) -> None:
    reports: Reports = []
    empty = Stage(lambda *report: reports.append(report), "store", 0)
    empty.advance(0)
    empty.finish()
    silent = Stage(None, "store", 5)
    silent.advance(5)
    silent.finish()
    assert reports == [] and silent.done == 5


@then("a progress that is neither callable nor None is refused with ValueError")
def step_refused(context: Context) -> None:
    assert checked_progress(None) is None
    assert checked_progress(print) is print
    for value in ("x", 3, b"progress"):
        try:
            checked_progress(value)
        except ValueError as exc:
            assert "progress must be callable or None" in str(exc), exc
        else:
            raise AssertionError(f"{value!r} was accepted")
