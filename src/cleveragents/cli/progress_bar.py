"""A progress bar on stderr for the commands that may run long (restore, verify, rollback).

The bar is shown only when stderr is a terminal and the output is not a document
(``--format json`` or ``yaml``), and only once the operation has run for
:data:`SHOW_AFTER` seconds: a quick command prints nothing more, and a pipe
never sees a bar. The bar is transient (erased when the command ends) and rich
is imported only when it is shown. ``$CLEVERAGENTS_PROGRESS_AFTER`` (seconds)
replaces the delay; it is a knob for tests, not a setting.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Final

from cleveragents.cli.output import OutputFormat

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgress
    from rich.progress import TaskID

    from cleveragents.domain.progress import Progress

SHOW_AFTER: Final = 1.0
SHOW_AFTER_ENV: Final = "CLEVERAGENTS_PROGRESS_AFTER"


def _show_after() -> float:
    """The delay before a bar appears: :data:`SHOW_AFTER`, unless the test knob sets one."""
    try:
        value = float(os.environ.get(SHOW_AFTER_ENV, ""))
    except ValueError:
        return SHOW_AFTER
    return value if value >= 0 else SHOW_AFTER


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # None (no stderr at all), or closed
        return False


class _LazyBar:
    """A ``progress`` callback that starts a rich bar on stderr once the delay has passed.

    Each stage gets a task of its own: rich cannot take a known total back to None.
    """

    def __init__(self, after: float) -> None:
        self._show_at = time.monotonic() + after
        self._bar: RichProgress | None = None
        self._task: TaskID | None = None
        self._stage = ""

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        bar = self._bar
        if bar is None:
            if time.monotonic() < self._show_at:
                return
            bar = self._bar = _start_bar()
        if self._task is None or stage != self._stage or done == 0:
            if self._task is not None:
                bar.remove_task(self._task)
            self._task = bar.add_task(stage, total=total, completed=done)
            self._stage = stage
        else:
            bar.update(self._task, completed=done, total=total)

    def close(self) -> None:
        """Stop the bar (it erases itself), if it was shown."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _start_bar() -> RichProgress:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as RichProgress

    bar = RichProgress(
        TextColumn("{task.description:<8}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(file=sys.stderr),
        transient=True,
        redirect_stdout=False,  # stdout carries the command's output, never the bar
    )
    bar.start()
    return bar


@contextmanager
def progress_bar(fmt: OutputFormat | None) -> Iterator[Progress | None]:
    """The ``progress`` callback for a command: a lazy bar on a terminal, else None.

    ``fmt`` is the command's resolved output format (None for a command without one).
    """
    if (fmt is not None and fmt.is_document) or not _stderr_is_terminal():
        yield None
        return
    bar = _LazyBar(_show_after())
    try:
        yield bar
    finally:
        bar.close()
