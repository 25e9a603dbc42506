"""Where the command line sends log records: stderr only, and never in the way of an error.

Without ``--debug``, WARNING and above are held back while the command runs and
written to stderr only when it succeeds, so a failing command leaves exactly one
``error:`` line on stderr. With ``--debug`` every record from DEBUG up goes to
stderr as it happens. Python warnings are routed through ``logging`` as well.
"""

from __future__ import annotations

import logging
import sys
from collections import deque
from typing import Final

_FORMAT: Final = "%(levelname)s %(name)s: %(message)s"
_HELD_RECORDS: Final = 1000


class _HoldingHandler(logging.Handler):
    """Keeps the latest records in memory until told what to do with them."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: deque[logging.LogRecord] = deque(maxlen=_HELD_RECORDS)

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class LogRouting:
    """Installs the CLI's handlers on the root logger and removes them afterwards."""

    def __init__(self) -> None:
        self._root = logging.getLogger()
        self._previous_level = self._root.level
        self._held = _HoldingHandler()
        self._stderr = logging.StreamHandler(sys.stderr)
        self._stderr.setFormatter(logging.Formatter(_FORMAT))
        self._debug = False

    def start(self) -> None:
        """Hold WARNING and above until :meth:`finish`."""
        self._root.addHandler(self._held)
        self._root.setLevel(logging.WARNING)
        logging.captureWarnings(True)

    def enable_debug(self) -> None:
        """Send every record from DEBUG up to stderr right away (``--debug``)."""
        if self._debug:
            return
        self._debug = True
        self._root.removeHandler(self._held)
        self._root.addHandler(self._stderr)
        self._root.setLevel(logging.DEBUG)
        self._release()

    def finish(self, *, succeeded: bool) -> None:
        """Write the held records when the command succeeded, then restore logging."""
        if succeeded:
            self._release()
        self._held.records.clear()
        self._root.removeHandler(self._held)
        self._root.removeHandler(self._stderr)
        self._root.setLevel(self._previous_level)
        logging.captureWarnings(False)

    def _release(self) -> None:
        while self._held.records:
            self._stderr.handle(self._held.records.popleft())
