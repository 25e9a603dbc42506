"""Error patterns side by side with raw ``sqlite3`` and with a scan in Python.

    python benchmarks/compare_errors.py --scale small|full [--check]

With 100,000 stored patterns (2,000 at ``small`` scale; 3 to 6 keywords each) and
a real ~2 KB Python traceback as the context, it measures in one run:

- ``match_context(traceback)`` against one indexed raw ``sqlite3`` query of the
  same keyword table, ``SELECT pattern_id FROM error_pattern_terms WHERE kind = 0
  AND term IN (...)`` with the traceback's words, ``fetchall()`` (target ≤ 5x);
- ``match_context`` against ``brute_force_match`` over every pattern, already
  loaded in memory by one untimed ``list_all()`` (target: at least 50x faster);
  a scan that computes the context's words once is shown next to it, untargeted;
- ``record_occurrence`` against ``BEGIN IMMEDIATE``, ``UPDATE error_patterns SET
  frequency = frequency + 1 WHERE pattern_id = ?``, ``COMMIT`` (target ≤ 2x);
- ``statistics()`` on 10,000 and 100,000 patterns (500 and 2,000 at ``small``):
  its time, and the peak of Python memory (``tracemalloc``) during the call,
  which must not grow with the number of patterns (target ≤ 2x for 10x the rows).

Each side has its own copy of one database, written by the workload's bulk
loader, which is first proven to write exactly the rows ``create`` writes. Both
connections run with the library's settings (WAL, ``synchronous`` as in
``session.SQLITE_SYNCHRONOUS``, the same busy timeout, foreign keys on); the
script reads them back and stops if they differ. Before timing, it checks that
``match_context`` returns exactly ``brute_force_match``'s patterns, in order.
Figures are medians after a warm-up, the two sides taking turns. ``--scale
small`` is a smoke run and always exits 0; ``--check`` makes a full-scale run
exit 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import functools
import gc
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pydantic
import sqlalchemy
from sqlalchemy.orm import Session, sessionmaker

# Run as a script, this folder is on sys.path but the repository root is not.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.compare_sqlite import (
    SYNCHRONOUS_NAMES,
    alternate,
    fsync_latency,
    ours_settings,
    timed,
)
from benchmarks.error_pattern_workload import (
    KEYWORD_KIND,
    TRACEBACK,
    ErrorScale,
    check_loader,
    error_scale_named,
    pattern_database,
)
from benchmarks.workload import connect_raw, copy_database
from cleveragents.domain.models.core.error_pattern import (
    ErrorPattern,
    brute_force_match,
    fold,
    rank_key,
    words_of,
)
from cleveragents.infrastructure.database.error_pattern_repository import ErrorPatternRepository
from cleveragents.infrastructure.database.session import (
    SQLITE_SYNCHRONOUS,
    create_session_factory,
)

WARMUP_OPS: Final = 20
STATISTICS_CALLS: Final = 15
MEMORY_CALLS: Final = 3
MATCH_TARGET: Final = 5.0
SCAN_TARGET: Final = 50.0
RECORD_TARGET: Final = 2.0
STATISTICS_MEMORY_TARGET: Final = 2.0
SEED: Final = 20241201


@dataclass(frozen=True)
class Comparison:
    """One figure of ours and of a baseline, and what their ratio must be.

    ``faster`` rows need ``baseline / ours >= target`` (ours is that many times
    faster); the others need ``ours / baseline <= target``. ``target`` None is
    shown for information and never misses.
    """

    name: str
    ours: float
    baseline: float
    unit: str  # "s" or "B"
    target: float | None
    samples: str
    faster: bool = False

    @property
    def ratio(self) -> float:
        return self.ours / self.baseline if self.baseline else float("inf")

    @property
    def met(self) -> bool:
        if self.target is None:
            return True
        if self.faster:
            return self.ours * self.target <= self.baseline
        return self.ratio <= self.target


def _show(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:.3f}ms" if value < 1 else f"{value:.2f}s"
    return f"{value / 1_000_000:.2f}MB" if value >= 1_000_000 else f"{value / 1000:.1f}KB"


def _ratio(result: Comparison) -> str:
    if not result.faster:
        return f"{result.ratio:.2f}x"
    speedup = result.baseline / result.ours
    if speedup < 1:
        return f"{1 / speedup:.2f}x slower"
    return f"{speedup:,.0f}x faster" if speedup >= 10 else f"{speedup:.2f}x faster"


def _target(result: Comparison) -> str:
    if result.target is None:
        return "(info)"
    return f">= {result.target:g}x faster" if result.faster else f"<= {result.target:g}x"


def print_table(results: Sequence[Comparison]) -> None:
    header = f"{'measurement':<58} {'ours':>11} {'baseline':>11} {'ratio':>14} {'target':>15}  met"
    print(header)
    print("-" * len(header))
    for result in results:
        met = "-" if result.target is None else ("yes" if result.met else "NO")
        print(
            f"{result.name:<58} {_show(result.ours, result.unit):>11} "
            f"{_show(result.baseline, result.unit):>11} {_ratio(result):>14} "
            f"{_target(result):>15}  {met}"
        )
    print("(medians; samples per side: " + "; ".join(r.samples for r in results) + ")")


# --- the two sides ----------------------------------------------------------------------------


class RawSide:
    """What a hand-written client does with ``sqlite3``: the baseline."""

    def __init__(self, path: Path, words: Sequence[str]) -> None:
        self.connection = connect_raw(path)
        self.words = list(words)
        # Built once, outside any timing, as the client would keep it.
        self.keyword_sql = (
            "SELECT pattern_id FROM error_pattern_terms WHERE kind = ? AND term IN "
            f"({', '.join('?' for _ in self.words)})"
        )
        self.keyword_params = (KEYWORD_KIND, *self.words)

    def keyword_hits(self) -> list[tuple[str]]:
        rows: list[tuple[str]] = self.connection.execute(
            self.keyword_sql, self.keyword_params
        ).fetchall()
        return rows

    def record_occurrence(self, pattern_id: str) -> None:
        self.connection.execute("BEGIN IMMEDIATE")
        self.connection.execute(
            "UPDATE error_patterns SET frequency = frequency + 1 WHERE pattern_id = ?",
            (pattern_id,),
        )
        self.connection.execute("COMMIT")

    def query_plan(self) -> list[str]:
        return [
            str(row[-1])
            for row in self.connection.execute(
                f"EXPLAIN QUERY PLAN {self.keyword_sql}", self.keyword_params
            )
        ]

    def settings(self) -> tuple[str, str]:
        journal = self.connection.execute("PRAGMA journal_mode").fetchone()[0]
        synchronous = self.connection.execute("PRAGMA synchronous").fetchone()[0]
        return str(journal).upper(), SYNCHRONOUS_NAMES[int(synchronous)]

    def close(self) -> None:
        self.connection.close()


def fast_scan(patterns: Sequence[ErrorPattern], context: str, limit: int = 10) -> list[str]:
    """The same rule as ``brute_force_match``, the context's words computed once."""
    words = words_of(context)
    folded = fold(context)
    hits = []
    for pattern in patterns:
        score = sum(1 for keyword in pattern.keywords if keyword in words)
        if fold(pattern.pattern) in folded:
            score += 1
        if score:
            hits.append((rank_key(pattern, score), pattern.pattern_id))
    hits.sort()
    return [pattern_id for _, pattern_id in hits[:limit]]


def ids(patterns: Sequence[ErrorPattern]) -> list[str]:
    return [pattern.pattern_id for pattern in patterns]


# --- measurements -----------------------------------------------------------------------------


def compare_match_raw(ours: ErrorPatternRepository, raw: RawSide, scale: ErrorScale) -> Comparison:
    ours_times: list[float] = []
    raw_times: list[float] = []
    ours_match = functools.partial(ours.match_context, TRACEBACK)
    for op in range(WARMUP_OPS + scale.ops):
        alternate(
            (ours_times, ours_match), (raw_times, raw.keyword_hits), op, keep=op >= WARMUP_OPS
        )
    return Comparison(
        "match_context(traceback) vs raw keyword SELECT",
        statistics.median(ours_times),
        statistics.median(raw_times),
        "s",
        MATCH_TARGET,
        str(len(ours_times)),
    )


def compare_match_scan(
    match: Comparison, loaded: Sequence[ErrorPattern], scale: ErrorScale, first_scan: float
) -> list[Comparison]:
    """``match`` is the raw comparison (its median is ours); ``first_scan`` is the check's scan.

    A scan takes seconds, so a few suffice; ``collect`` runs before each one.
    """
    scan_times = [first_scan]
    for _ in range(scale.scans - 1):
        scan_times.append(
            timed(functools.partial(brute_force_match, loaded, TRACEBACK), collect=True)
        )
    fast_times = [
        timed(functools.partial(fast_scan, loaded, TRACEBACK), collect=True)
        for _ in range(scale.scans)
    ]
    return [
        Comparison(
            f"match_context vs brute_force_match over {len(loaded):,} patterns",
            match.ours,
            statistics.median(scan_times),
            "s",
            SCAN_TARGET,
            f"{match.samples}/{len(scan_times)}",
            faster=True,
        ),
        Comparison(
            "match_context vs a scan computing the words once",
            match.ours,
            statistics.median(fast_times),
            "s",
            None,
            f"{match.samples}/{len(fast_times)}",
            faster=True,
        ),
    ]


def compare_record(
    ours: ErrorPatternRepository, raw: RawSide, pattern_ids: Sequence[str], scale: ErrorScale
) -> Comparison:
    rng = random.Random(SEED)
    chosen = [rng.choice(pattern_ids) for _ in range(WARMUP_OPS + scale.ops)]
    ours_times: list[float] = []
    raw_times: list[float] = []
    for op, pattern_id in enumerate(chosen):
        alternate(
            (ours_times, functools.partial(ours.record_occurrence, pattern_id)),
            (raw_times, functools.partial(raw.record_occurrence, pattern_id)),
            op,
            keep=op >= WARMUP_OPS,
        )
    return Comparison(
        "record_occurrence vs raw UPDATE frequency + 1 + COMMIT",
        statistics.median(ours_times),
        statistics.median(raw_times),
        "s",
        RECORD_TARGET,
        str(len(ours_times)),
    )


@dataclass(frozen=True)
class StatisticsRun:
    """``statistics()`` on one store: median time and peak traced memory of a call."""

    patterns: int
    seconds: float
    peak_bytes: int
    list_all_peak_bytes: int  # for contrast: what loading every row costs


def peak_growth(action: Callable[[], object]) -> int:
    """The most Python memory ``action`` held at once beyond what was held before it."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        result = action()
        _, peak = tracemalloc.get_traced_memory()
        del result
    finally:
        tracemalloc.stop()
    return peak - before


def measure_statistics(folder: Path, count: int) -> StatisticsRun:
    path = copy_database(pattern_database(count), folder / f"statistics-{count}.db")
    factory = create_session_factory(f"sqlite:///{path}")
    try:
        repository = ErrorPatternRepository(factory)
        found = repository.statistics()
        if found.total_patterns != count:
            raise SystemExit(f"statistics() counted {found.total_patterns}, expected {count}")
        seconds = statistics.median(timed(repository.statistics) for _ in range(STATISTICS_CALLS))
        peak = max(peak_growth(repository.statistics) for _ in range(MEMORY_CALLS))
        listed = peak_growth(repository.list_all)
    finally:
        factory.kw["bind"].dispose()
    return StatisticsRun(count, seconds, peak, listed)


def compare_statistics(folder: Path, scale: ErrorScale) -> tuple[list[StatisticsRun], Comparison]:
    runs = [measure_statistics(folder, count) for count in scale.statistics_sizes]
    small, large = runs
    return runs, Comparison(
        f"statistics() peak memory, {large.patterns:,} vs {small.patterns:,} patterns",
        large.peak_bytes,
        small.peak_bytes,
        "B",
        STATISTICS_MEMORY_TARGET,
        f"{MEMORY_CALLS} calls, max",
    )


def print_statistics(runs: Sequence[StatisticsRun]) -> None:
    print(f"{'statistics()':<24} {'median time':>12} {'peak memory':>12} {'list_all() peak':>16}")
    for run_ in runs:
        print(
            f"{run_.patterns:>12,} patterns {_show(run_.seconds, 's'):>12} "
            f"{_show(run_.peak_bytes, 'B'):>12} {_show(run_.list_all_peak_bytes, 'B'):>16}"
        )
    print()


# --- the run ----------------------------------------------------------------------------------


def check_same_answer(
    ours: ErrorPatternRepository, loaded: Sequence[ErrorPattern]
) -> tuple[list[ErrorPattern], float]:
    """``match_context`` (and ``fast_scan``) return ``brute_force_match``'s patterns in order.

    Also returns the brute-force scan's time: the first sample of that baseline.
    """
    matched = ours.match_context(TRACEBACK)
    began = time.perf_counter()
    expected = brute_force_match(loaded, TRACEBACK)
    scan = time.perf_counter() - began
    if ids(matched) != ids(expected):
        raise SystemExit(
            f"match_context differs from brute_force_match:\n{ids(matched)}\n{ids(expected)}"
        )
    if not matched:
        raise SystemExit("the traceback matched no pattern: the workload is wrong")
    if fast_scan(loaded, TRACEBACK) != ids(expected):
        raise SystemExit("fast_scan differs from brute_force_match: it is no fair baseline")
    return matched, scan


def describe_environment(
    scale: ErrorScale,
    ours: tuple[str, str],
    raw: tuple[str, str],
    fsync: float,
    facts: Sequence[str],
) -> None:
    print(f"scale            {scale.name}")
    print(f"python           {platform.python_version()} ({platform.python_implementation()})")
    print(f"platform         {platform.platform()}, {os.cpu_count()} CPUs")
    print(f"sqlite           {sqlite3.sqlite_version}")
    print(f"sqlalchemy       {sqlalchemy.__version__}, pydantic {pydantic.VERSION}")
    print(f"library PRAGMAs  journal_mode={ours[0]} synchronous={ours[1]}")
    print(f"raw PRAGMAs      journal_mode={raw[0]} synchronous={raw[1]}")
    print(f"fsync (temp dir) {fsync * 1000:.3f}ms median; it bounds every commit")
    for fact in facts:
        print(fact)
    print()


def workload_facts(
    path: Path, raw: RawSide, loaded: Sequence[ErrorPattern], matched: Sequence[ErrorPattern]
) -> list[str]:
    connection = sqlite3.connect(path)
    try:
        terms = connection.execute("SELECT count(*) FROM error_pattern_terms").fetchone()[0]
    finally:
        connection.close()
    hits = raw.keyword_hits()
    folded = fold(TRACEBACK)
    words = words_of(TRACEBACK)
    candidates = sum(1 for p in loaded if any(k in words for k in p.keywords))
    texts = sum(1 for p in loaded if fold(p.pattern) in folded)
    return [
        f"patterns         {len(loaded):,} ({terms:,} index terms, "
        f"{sum(len(p.keywords) for p in loaded) / len(loaded):.2f} keywords each)",
        f"context          {len(TRACEBACK):,} characters, {len(raw.words)} words",
        f"keyword hits     {len(hits):,} term rows; {candidates:,} patterns "
        f"({candidates / len(loaded):.1%}) share a keyword with it, {texts} occur in it",
        f"best matches     {', '.join(repr(p.pattern) for p in matched[:3])}",
        f"raw plan         {' / '.join(raw.query_plan())}",
    ]


def run(scale: ErrorScale, folder: Path) -> tuple[list[Comparison], list[StatisticsRun]]:
    check_loader(folder)
    source = pattern_database(scale.patterns)
    ours_path = copy_database(source, folder / "ours-errors.db")
    raw_path = copy_database(source, folder / "raw-errors.db")
    factory: sessionmaker[Session] = create_session_factory(f"sqlite:///{ours_path}")
    ours = ErrorPatternRepository(factory)
    raw = RawSide(raw_path, sorted(words_of(TRACEBACK)))
    try:
        ours_pragmas, raw_pragmas = ours_settings(factory), raw.settings()
        if ours_pragmas != raw_pragmas or raw_pragmas[1] != SQLITE_SYNCHRONOUS:
            raise SystemExit(f"settings differ: ours {ours_pragmas}, raw {raw_pragmas}")
        loaded = ours.list_all()  # untimed: the scan reads patterns already in memory
        if len(loaded) != scale.patterns:
            raise SystemExit(f"list_all() returned {len(loaded)} patterns, not {scale.patterns}")
        matched, first_scan = check_same_answer(ours, loaded)
        describe_environment(
            scale,
            ours_pragmas,
            raw_pragmas,
            fsync_latency(folder),
            workload_facts(ours_path, raw, loaded, matched),
        )
        results = [compare_match_raw(ours, raw, scale)]
        results.extend(compare_match_scan(results[0], loaded, scale, first_scan))
        pattern_ids = ids(loaded)
        del loaded
        results.append(compare_record(ours, raw, pattern_ids, scale))
    finally:
        raw.close()
        factory.kw["bind"].dispose()
    runs, memory = compare_statistics(folder, scale)
    results.append(memory)
    return results, runs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scale", choices=("small", "full"), default="small")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a full-scale target is missed"
    )
    args = parser.parse_args(argv)
    scale = error_scale_named(args.scale)
    with tempfile.TemporaryDirectory(prefix="cleveragents-compare-errors-") as folder:
        results, runs = run(scale, Path(folder))
    print_statistics(runs)
    print_table(results)
    missed = [result.name for result in results if not result.met]
    if scale.name == "small":
        print("small scale is a smoke run: targets are judged at full scale only")
        return 0
    if missed:
        print(f"targets missed: {'; '.join(missed)}")
        return 1 if args.check else 0
    print("every target met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
