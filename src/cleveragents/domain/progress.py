"""Progress reports of the long operations: snapshot, restore, verify and rollback.

A ``progress`` callback is called as ``progress(stage, done, total)``: the stage's
name, how many of its items are done, and how many there are (None while that is
not known yet). The stages, in the order an operation reports them:

- a snapshot: ``scan`` (paths of the sandbox looked at; the total is None during
  a walk and known for a watcher's rescan), ``read`` (changed files read and
  hashed), ``store`` (new objects written, in one transaction: reported at its
  start and its end);
- a restore: ``scan`` and ``read`` (the folder's current state, in place only),
  ``stage`` (files staged), ``swap`` (the journaled steps, reported once they all
  ran);
- a verify: ``verify`` (stored objects re-read and re-hashed);
- a rollback: the ``scan`` and ``read`` of its check of the sandbox, the
  snapshot's stages (its safety checkpoint), the restore's, then ``records``
  (one transaction).

A stage is a run of calls with one name: the first has ``done == 0``, ``done``
never decreases nor exceeds ``total``, and the last has ``done == total`` (a
walk's total is given there). A stage with nothing to do is not reported. A
failing operation stops at the stage it failed in. Between its first and last
call a stage reports at most once every :data:`REPORT_INTERVAL_NS`, so a walk of
50,000 files calls Python code a few times a second, not 50,000 times.

The callback runs in the calling thread. An exception it raises propagates and
the operation is abandoned as any failure is: a restore's swap is undone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final, cast

Progress = Callable[[str, int, int | None], None]

STAGES: Final = ("scan", "read", "store", "stage", "swap", "verify", "records")
REPORT_INTERVAL_NS: Final = 50_000_000


def checked_progress(progress: object) -> Progress | None:
    """``progress`` when it is callable or None; ``ValueError`` otherwise."""
    if progress is None:
        return None
    if not callable(progress):
        raise ValueError(f"progress must be callable or None, got {type(progress).__name__}")
    return cast("Progress", progress)


class Stage:
    """The reports of one stage: its first call, one per interval at most, and its last.

    With no callback every method does nothing. ``total == 0`` reports nothing.
    """

    __slots__ = ("_name", "_next_ns", "_progress", "_total", "callback", "done")

    def __init__(self, progress: Progress | None, name: str, total: int | None = None) -> None:
        self.callback = progress  # for the stages that follow this one
        self._progress = progress if total != 0 else None
        self._name = name
        self._total = total
        self.done = 0
        self._next_ns = 0
        if self._progress is not None:
            self._progress(name, 0, total)
            self._next_ns = time.monotonic_ns() + REPORT_INTERVAL_NS

    def advance(self, count: int = 1) -> None:
        """``count`` more items done; reported when the interval has passed."""
        self.done += count
        if self._progress is None or (self._total is not None and self.done >= self._total):
            return  # the last report is finish()'s
        now = time.monotonic_ns()
        if now >= self._next_ns:
            self._next_ns = now + REPORT_INTERVAL_NS
            self._progress(self._name, self.done, self._total)

    def finish(self) -> None:
        """The stage's last report: every item done (a walk's count becomes its total)."""
        progress = self._progress
        if progress is None:
            return
        self._progress = None  # reported once
        total = self.done if self._total is None else self._total
        progress(self._name, total, total)
