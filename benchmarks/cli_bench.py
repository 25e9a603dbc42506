"""asv benchmarks of the ``cleveragents`` command's start: ``--help``, ``--version``, and
a command that opens a database at the schema's head (``plan list``).

An agent runs the command once per question, so its start is paid every time.
The target is 0.25 s of wall time for ``--help`` and ``--version``, Python's own
start included (docs/performance.md).

- ``timeraw_*``: asv runs the returned code in a fresh interpreter, so every
  import the command makes is timed (the interpreter's own start is not).
- ``track_*_wall``: the best wall time of running ``python -m cleveragents ...``
  as a user does, interpreter start included, over a few runs (3 at
  ``CLEVERAGENTS_BENCH_SCALE=small``, 10 at ``full``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cleveragents
from benchmarks.workload import current_scale
from cleveragents.infrastructure.database.session import create_session_factory

WALL_RUNS = 10 if current_scale().name == "full" else 3
# The timed processes run the cleveragents this process imported (asv passes
# ASV_PYTHONPATH to its own processes, not to the ones a benchmark starts).
SOURCE = str(Path(cleveragents.__file__).resolve().parent.parent)

# Output is swallowed: asv reads the timing from the child's stdout.
_SETUP = f"import contextlib, io, sys; sys.path.insert(0, {SOURCE!r})"
_RUN = """
from cleveragents.cli.app import main
with contextlib.redirect_stdout(io.StringIO()):
    assert main({argv!r}) == 0
"""


def _timed(*argv: str) -> tuple[str, str]:
    return _RUN.format(argv=list(argv)), _SETUP


def timeraw_version() -> tuple[str, str]:
    """``cleveragents --version`` in a fresh interpreter."""
    return _timed("--version")


def timeraw_help() -> tuple[str, str]:
    """``cleveragents --help`` in a fresh interpreter."""
    return _timed("--help")


def timeraw_plan_help() -> tuple[str, str]:
    """``cleveragents plan --help`` in a fresh interpreter."""
    return _timed("plan", "--help")


def timeraw_command_help() -> tuple[str, str]:
    """``cleveragents checkpoint diff --help`` in a fresh interpreter."""
    return _timed("checkpoint", "diff", "--help")


_path = os.environ.get("PYTHONPATH", "")


def _best_wall(*argv: str) -> float:
    best = float("inf")
    for _ in range(WALL_RUNS):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "cleveragents", *argv],
            check=True,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [SOURCE, _path]))},
        )
        best = min(best, time.perf_counter() - started)
    return best


def track_version_wall() -> float:
    """Best wall time of ``python -m cleveragents --version``, interpreter start included."""
    return _best_wall("--version")


def track_help_wall() -> float:
    """Best wall time of ``python -m cleveragents --help``, interpreter start included."""
    return _best_wall("--help")


def track_plan_help_wall() -> float:
    """Best wall time of ``python -m cleveragents plan --help``, interpreter start included."""
    return _best_wall("plan", "--help")


def track_plan_list_wall() -> float:
    """Best wall time of ``python -m cleveragents plan list`` on a SQLite file already at
    the schema's head (opened without Alembic), interpreter start included."""
    with tempfile.TemporaryDirectory(prefix="cli-bench-") as folder:
        url = f"sqlite:///{folder}/bench.db"
        create_session_factory(url).kw["bind"].dispose()  # migrated once, before timing
        return _best_wall("--database-url", url, "plan", "list")


for _track in (track_version_wall, track_help_wall, track_plan_help_wall, track_plan_list_wall):
    vars(_track)["unit"] = "seconds"
