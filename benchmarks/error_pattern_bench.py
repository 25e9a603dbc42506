"""asv benchmarks of the error-pattern store on a SQLite file (WAL, ``synchronous=FULL``).

The store holds the workload's patterns (``error_pattern_workload``): 100,000 at
``CLEVERAGENTS_BENCH_SCALE=full``, 2,000 at ``small``, in a database built once
and cached. Reads run against it directly; writes run against this process's own
copy, so no benchmark changes what another one reads.

As in ``changeset_bench``, every process opens each database once and keeps it
open, and ``setup`` makes one untimed call of the same kind first. ``create``
consumes what it times: ``number = 1``, and ``setup`` validates the patterns the
next timed calls store.
"""

from __future__ import annotations

import functools
import gc
import itertools
import shutil
import tempfile
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

from benchmarks.changeset_bench import asv_timeout
from benchmarks.error_pattern_workload import (
    TRACEBACK,
    error_patterns,
    error_scale_named,
    extra_patterns,
    pattern_database,
)
from benchmarks.workload import current_scale
from cleveragents.domain.models.core.error_pattern import ErrorPattern
from cleveragents.infrastructure.database.error_pattern_repository import ErrorPatternRepository
from cleveragents.infrastructure.database.session import create_session_factory

SCALE = error_scale_named(current_scale().name)
CREATES_PER_SETUP = 50

_batches = itertools.count()


@functools.cache
def repository_for(path: Path) -> ErrorPatternRepository:
    """One repository (engine and pool) per database file, open for the life of the process."""
    return ErrorPatternRepository(create_session_factory(f"sqlite:///{path}"))


@functools.cache
def _scratch_folder() -> tempfile.TemporaryDirectory[str]:
    # Removed when the process exits.
    return tempfile.TemporaryDirectory(prefix="cleveragents-asv-errors-")


@functools.cache
def writable_copy(source: Path) -> Path:
    """This process's own copy of a cached database, for the benchmarks that write."""
    target = Path(_scratch_folder().name) / source.name
    shutil.copyfile(source, target)
    return target


class MatchContext:
    """``match_context`` of a real ~2 KB traceback against ``SCALE.patterns`` patterns."""

    timeout = 300.0

    @asv_timeout(1_800)
    def setup_cache(self) -> Path:
        return pattern_database(SCALE.patterns)

    def setup(self, path: Path) -> None:
        self.repository = repository_for(path)
        if not self.repository.match_context(TRACEBACK):
            raise RuntimeError("the traceback matched no pattern: the workload is wrong")

    def time_match_context(self, path: Path) -> None:
        self.repository.match_context(TRACEBACK)


class RecordOccurrence:
    """One more occurrence of a stored pattern, in its own transaction."""

    repeat = (20, 100, 10.0)
    timeout = 300.0

    @asv_timeout(1_800)
    def setup_cache(self) -> Path:
        return pattern_database(SCALE.patterns)

    def setup(self, path: Path) -> None:
        self.repository = repository_for(writable_copy(path))
        self.pattern_ids = itertools.cycle(p.pattern_id for p in error_patterns(200))
        self.repository.record_occurrence(next(self.pattern_ids))

    def time_record_occurrence(self, path: Path) -> None:
        self.repository.record_occurrence(next(self.pattern_ids))


class Statistics:
    """``statistics()`` over ``SCALE.patterns`` patterns: its time and its peak Python memory."""

    timeout = 300.0

    @asv_timeout(1_800)
    def setup_cache(self) -> Path:
        return pattern_database(SCALE.patterns)

    def setup(self, path: Path) -> None:
        self.repository = repository_for(path)
        self.repository.statistics()

    def time_statistics(self, path: Path) -> None:
        self.repository.statistics()

    def track_statistics_peak_memory(self, path: Path) -> int:
        """Peak bytes Python held during one call (``tracemalloc``): it must not grow with N."""
        gc.collect()
        tracemalloc.start()
        try:
            before, _ = tracemalloc.get_traced_memory()
            self.repository.statistics()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        return peak - before


vars(Statistics.track_statistics_peak_memory)["unit"] = "bytes"


class Create:
    """A new pattern (row and index terms) stored next to ``SCALE.patterns`` others."""

    number = 1
    warmup_time = 0.0
    repeat = (20, 50, 10.0)
    timeout = 300.0

    @asv_timeout(1_800)
    def setup_cache(self) -> Path:
        return pattern_database(SCALE.patterns)

    def setup(self, path: Path) -> None:
        self.repository = repository_for(writable_copy(path))
        # Validated here: a timed call never builds its pattern. One is stored untimed.
        self.patterns: Iterator[ErrorPattern] = iter(
            extra_patterns(CREATES_PER_SETUP, CREATES_PER_SETUP * next(_batches))
        )
        self.repository.create(next(self.patterns))

    def time_create(self, path: Path) -> None:
        self.repository.create(next(self.patterns))
