"""The changeset store side by side with raw ``sqlite3`` doing the same work.

    python benchmarks/compare_sqlite.py --scale small|full [--check]

Both sides use their own SQLite file in one temp folder, with the library's
settings (WAL, ``synchronous`` as in ``session.SQLITE_SYNCHRONOUS``, the same busy
timeout, foreign keys on) and the same schema. The two sides take turns after a
warm-up, and the order swaps on every run. Every line shows the median and the
best of its runs; the batch paths (``record_many``, ``get_for_plan``) are judged on
the best of 9 runs, the single-call paths on the median of 400 calls.

What the raw side of a read does: the same ``SELECT`` statements, in one read
transaction, and ``fetchall()`` of plain tuples. It decodes no JSON, parses no
timestamp and builds no object; ours returns ``ChangeEntry`` models with their
metadata decoded and timestamps aware, so the ratio is the whole cost of that.

``--scale small`` is a smoke run and always exits 0; ``--check`` makes a
full-scale run exit 1 when a ratio misses its target.
"""

from __future__ import annotations

import argparse
import functools
import gc
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import pydantic
import sqlalchemy
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

# Run as a script, this folder is on sys.path but the repository root is not.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.workload import (
    CHANGESET_SIZE,
    ENTRY_COLUMNS,
    INSERT_CHANGESET_SQL,
    INSERT_ENTRY_SQL,
    SELECT_ENTRIES_SQL,
    FileChange,
    Scale,
    connect_raw,
    copy_database,
    file_changes,
    large_table,
    make_entries,
    raw_row,
    scale_named,
    sqlite_timestamp,
)
from cleveragents.domain.models.core.change import ChangeEntry
from cleveragents.infrastructure.database.changeset_repository import SqliteChangeSetStore
from cleveragents.infrastructure.database.session import (
    SQLITE_SYNCHRONOUS,
    create_session_factory,
)

SYNCHRONOUS_NAMES = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
# The plan get_for_plan reads: 100 changesets of CHANGESET_SIZE entries.
PLAN_CHANGESETS = 100
# What get_for_plan selects, written by hand: every column a model needs, in recording order.
PLAN_HEADERS_SQL = "SELECT changeset_id, created_at FROM changesets WHERE plan_id = ? ORDER BY seq"
PLAN_ENTRIES_SQL = (
    f"SELECT {', '.join(ENTRY_COLUMNS)}, kind, before_mode, after_mode, rolled_back_by "
    "FROM changeset_entries WHERE plan_id = ? ORDER BY seq"
)
PLAN_INVOCATIONS_SQL = (
    "SELECT invocation_id, plan_id, changeset_id, tool_name, arguments, result, error, "
    "started_at, duration_ms, change_ids, resource_refs, provider_metadata, rolled_back_by "
    "FROM tool_invocations WHERE plan_id = ? ORDER BY seq"
)
WARMUP_BATCHES = 1
WARMUP_OPS = 20


@dataclass(frozen=True)
class Comparison:
    """One measured path: every run's seconds per side, and the largest acceptable ratio.

    ``judged`` says which ratio must meet the target: ``best`` (the fastest run of
    each side) or ``median``.
    """

    name: str
    ours_times: Sequence[float]
    raw_times: Sequence[float]
    target: float
    judged: Literal["best", "median"]

    @property
    def samples(self) -> int:
        return len(self.ours_times)

    @property
    def ours(self) -> float:
        return statistics.median(self.ours_times)

    @property
    def raw(self) -> float:
        return statistics.median(self.raw_times)

    @property
    def ours_best(self) -> float:
        return min(self.ours_times)

    @property
    def raw_best(self) -> float:
        return min(self.raw_times)

    @property
    def ratio(self) -> float:
        return self.ours / self.raw

    @property
    def best_ratio(self) -> float:
        return self.ours_best / self.raw_best

    @property
    def judged_ratio(self) -> float:
        return self.best_ratio if self.judged == "best" else self.ratio

    @property
    def met(self) -> bool:
        return self.judged_ratio <= self.target


def timed(action: Callable[[], object], *, collect: bool = False) -> float:
    """Seconds taken by ``action``; ``collect`` first so no side pays for the other's garbage.

    Collecting evicts CPU caches, so it is only done before the large batches.
    """
    if collect:
        gc.collect()
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


def alternate(
    first: tuple[list[float], Callable[[], object]],
    second: tuple[list[float], Callable[[], object]],
    run: int,
    *,
    keep: bool,
    collect: bool = False,
) -> None:
    """Time both sides, swapping who goes first on every run so drift hits both alike."""
    for times, action in (first, second) if run % 2 == 0 else (second, first):
        seconds = timed(action, collect=collect)
        if keep:
            times.append(seconds)


class RawStore:
    """What a hand-written client does with ``sqlite3``: the baseline."""

    def __init__(self, path: Path) -> None:
        self.connection = connect_raw(path)

    def start(self, plan_id: str) -> str:
        changeset_id = uuid.uuid4().hex
        self.connection.execute("BEGIN IMMEDIATE")
        self.connection.execute(
            INSERT_CHANGESET_SQL, (changeset_id, plan_id, sqlite_timestamp(datetime.now(UTC)))
        )
        self.connection.execute("COMMIT")
        return changeset_id

    def record(self, entry: ChangeEntry) -> None:
        self.connection.execute("BEGIN IMMEDIATE")
        self.connection.execute(INSERT_ENTRY_SQL, raw_row(entry))
        self.connection.execute("COMMIT")

    def record_many(self, entries: Sequence[ChangeEntry]) -> None:
        rows = [raw_row(entry) for entry in entries]
        self.connection.execute("BEGIN IMMEDIATE")
        self.connection.executemany(INSERT_ENTRY_SQL, rows)
        self.connection.execute("COMMIT")

    def get(self, changeset_id: str) -> list[tuple[object, ...]]:
        rows: list[tuple[object, ...]] = self.connection.execute(
            SELECT_ENTRIES_SQL, (changeset_id,)
        ).fetchall()
        return rows

    def get_for_plan(
        self, plan_id: str
    ) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]], list[tuple[object, ...]]]:
        """The plan's changeset headers, entries and invocations: our three statements."""
        self.connection.execute("BEGIN")
        try:
            return (
                self.connection.execute(PLAN_HEADERS_SQL, (plan_id,)).fetchall(),
                self.connection.execute(PLAN_ENTRIES_SQL, (plan_id,)).fetchall(),
                self.connection.execute(PLAN_INVOCATIONS_SQL, (plan_id,)).fetchall(),
            )
        finally:
            self.connection.execute("COMMIT")

    def settings(self) -> tuple[str, str]:
        journal = self.connection.execute("PRAGMA journal_mode").fetchone()[0]
        synchronous = self.connection.execute("PRAGMA synchronous").fetchone()[0]
        return str(journal).upper(), SYNCHRONOUS_NAMES[int(synchronous)]

    def close(self) -> None:
        self.connection.close()


def ours_settings(factory: sessionmaker[Session]) -> tuple[str, str]:
    with factory() as session:
        journal = session.execute(text("PRAGMA journal_mode")).scalar_one()
        synchronous = session.execute(text("PRAGMA synchronous")).scalar_one()
    return str(journal).upper(), SYNCHRONOUS_NAMES[int(synchronous)]


def check_same_rows(store: SqliteChangeSetStore, path: Path, pool: Sequence[FileChange]) -> None:
    """The raw side writes byte-identical rows, or its timings would not be comparable."""
    changeset = store.start("plan-row-check")
    entry = make_entries(changeset.changeset_id, changeset.plan_id, 1, pool)[0]
    store.record(entry)
    connection = sqlite3.connect(path)
    try:
        stored = connection.execute(
            f"SELECT {', '.join(ENTRY_COLUMNS)} FROM changeset_entries WHERE entry_id = ?",
            (entry.entry_id,),
        ).fetchone()
    finally:
        connection.close()
    if tuple(stored) != raw_row(entry):
        raise SystemExit(f"raw rows differ from the library's:\n{tuple(stored)}\n{raw_row(entry)}")


def compare_record_many(
    ours: SqliteChangeSetStore, raw: RawStore, scale: Scale, pool: Sequence[FileChange]
) -> Comparison:
    ours_times: list[float] = []
    raw_times: list[float] = []
    for run in range(WARMUP_BATCHES + scale.repetitions):
        changeset = ours.start(f"plan-many-{run}")
        ours_batch = make_entries(changeset.changeset_id, changeset.plan_id, scale.batch_size, pool)
        raw_plan = f"raw-plan-many-{run}"
        raw_batch = make_entries(raw.start(raw_plan), raw_plan, scale.batch_size, pool)
        alternate(
            (ours_times, functools.partial(ours.record_many, ours_batch)),
            (raw_times, functools.partial(raw.record_many, raw_batch)),
            run,
            keep=run >= WARMUP_BATCHES,
            collect=True,
        )
    return Comparison(
        f"record_many of {scale.batch_size:,} entries", ours_times, raw_times, 1.3, "best"
    )


def fill_plan(
    ours: SqliteChangeSetStore, raw: RawStore, plan_id: str, pool: Sequence[FileChange]
) -> None:
    """The same plan on both sides: ``PLAN_CHANGESETS`` changesets of ``CHANGESET_SIZE``."""
    for n in range(PLAN_CHANGESETS):
        changeset = ours.start(plan_id)
        first = n * CHANGESET_SIZE
        ours.record_many(make_entries(changeset.changeset_id, plan_id, CHANGESET_SIZE, pool, first))
        raw.record_many(make_entries(raw.start(plan_id), plan_id, CHANGESET_SIZE, pool, first))


def compare_get_for_plan(
    ours: SqliteChangeSetStore, raw: RawStore, scale: Scale, pool: Sequence[FileChange]
) -> Comparison:
    plan_id = "plan-read"
    fill_plan(ours, raw, plan_id, pool)
    entries = PLAN_CHANGESETS * CHANGESET_SIZE

    def ours_read() -> None:
        changesets = ours.get_for_plan(plan_id)
        if sum(len(changeset.entries) for changeset in changesets) != entries:
            raise SystemExit("get_for_plan returned the wrong entries")

    def raw_read() -> None:
        if len(raw.get_for_plan(plan_id)[1]) != entries:
            raise SystemExit("raw select returned the wrong rows")

    ours_times: list[float] = []
    raw_times: list[float] = []
    for run in range(WARMUP_BATCHES + scale.repetitions):
        alternate(
            (ours_times, ours_read),
            (raw_times, raw_read),
            run,
            keep=run >= WARMUP_BATCHES,
            collect=True,
        )
    return Comparison(
        f"get_for_plan of {entries:,} entries ({PLAN_CHANGESETS} changesets)",
        ours_times,
        raw_times,
        2.0,
        "best",
    )


def compare_record(
    ours: SqliteChangeSetStore, raw: RawStore, scale: Scale, pool: Sequence[FileChange]
) -> Comparison:
    count = WARMUP_OPS + scale.ops
    changeset = ours.start("plan-record")
    ours_entries = make_entries(changeset.changeset_id, changeset.plan_id, count, pool)
    raw_entries = make_entries(raw.start("raw-plan-record"), "raw-plan-record", count, pool)
    ours_times: list[float] = []
    raw_times: list[float] = []
    for op, (mine, theirs) in enumerate(zip(ours_entries, raw_entries, strict=True)):
        alternate(
            (ours_times, functools.partial(ours.record, mine)),
            (raw_times, functools.partial(raw.record, theirs)),
            op,
            keep=op >= WARMUP_OPS,
        )
    return Comparison("record of 1 entry (own transaction)", ours_times, raw_times, 2.0, "median")


def compare_get(folder: Path, scale: Scale) -> Comparison:
    table = large_table(scale)
    ours_path = copy_database(table.path, folder / "ours-large.db")
    raw_path = copy_database(table.path, folder / "raw-large.db")
    factory = create_session_factory(f"sqlite:///{ours_path}")
    ours = SqliteChangeSetStore(factory)
    raw = RawStore(raw_path)
    ours_times: list[float] = []
    raw_times: list[float] = []

    def ours_get() -> None:
        changeset = ours.get(table.target_changeset_id)
        if changeset is None or len(changeset.entries) != CHANGESET_SIZE:
            raise SystemExit("get returned the wrong changeset")

    def raw_get() -> None:
        if len(raw.get(table.target_changeset_id)) != CHANGESET_SIZE:
            raise SystemExit("raw select returned the wrong rows")

    try:
        for op in range(WARMUP_OPS + scale.ops):
            alternate((ours_times, ours_get), (raw_times, raw_get), op, keep=op >= WARMUP_OPS)
    finally:
        raw.close()
        factory.kw["bind"].dispose()
    return Comparison(
        f"get of a {CHANGESET_SIZE}-entry changeset, {table.rows:,}-entry table",
        ours_times,
        raw_times,
        3.0,
        "median",
    )


def fsync_latency(folder: Path, samples: int = 50) -> float:
    """Median seconds of one 4 KB write + fsync: what a FULL-synchronous commit waits for."""
    probe = folder / "fsync-probe"
    times = []
    with probe.open("wb") as handle:
        for _ in range(samples):
            handle.write(b"x" * 4096)
            handle.flush()
            began = time.perf_counter()
            os.fsync(handle.fileno())
            times.append(time.perf_counter() - began)
    probe.unlink()
    return statistics.median(times)


def describe_environment(
    scale: Scale, ours: tuple[str, str], raw: tuple[str, str], fsync: float
) -> None:
    print(f"scale            {scale.name}")
    print(f"python           {platform.python_version()} ({platform.python_implementation()})")
    print(f"platform         {platform.platform()}, {os.cpu_count()} CPUs")
    print(f"sqlite           {sqlite3.sqlite_version}")
    print(f"sqlalchemy       {sqlalchemy.__version__}, pydantic {pydantic.VERSION}")
    print(f"library PRAGMAs  journal_mode={ours[0]} synchronous={ours[1]}")
    print(f"raw PRAGMAs      journal_mode={raw[0]} synchronous={raw[1]}")
    print(f"fsync (temp dir) {fsync * 1000:.3f}ms median; it bounds every single-entry commit")
    print(f"load average     {', '.join(f'{load:.2f}' for load in os.getloadavg())}")
    print()


def print_table(results: Sequence[Comparison]) -> None:
    header = (
        f"{'measurement':<52} {'ours':>10} {'raw':>10} {'ratio':>7} "
        f"{'best':>10} {'best':>10} {'ratio':>7} {'target':>7}  judged  met"
    )
    print(f"{'':<52} {'median':^29} {'best (fastest run)':^29}")
    print(header)
    print("-" * len(header))
    for result in results:
        print(
            f"{result.name:<52} {result.ours * 1000:>8.3f}ms {result.raw * 1000:>8.3f}ms "
            f"{result.ratio:>6.2f}x {result.ours_best * 1000:>8.3f}ms "
            f"{result.raw_best * 1000:>8.3f}ms {result.best_ratio:>6.2f}x "
            f"{result.target:>6.1f}x  {result.judged:<6}  {'yes' if result.met else 'NO'}"
        )
    print(
        "runs per side (alternating, order swapped every run): "
        + ", ".join(str(result.samples) for result in results)
    )
    print(f"load average at the end: {', '.join(f'{load:.2f}' for load in os.getloadavg())}")


def run(scale: Scale, folder: Path) -> list[Comparison]:
    pool = file_changes()
    ours_path = folder / "ours.db"
    raw_path = folder / "raw.db"
    factory = create_session_factory(f"sqlite:///{ours_path}")
    # Same schema on the raw side, made the same way.
    create_session_factory(f"sqlite:///{raw_path}").kw["bind"].dispose()
    ours = SqliteChangeSetStore(factory)
    raw = RawStore(raw_path)
    try:
        ours_pragmas, raw_pragmas = ours_settings(factory), raw.settings()
        if ours_pragmas != raw_pragmas or raw_pragmas[1] != SQLITE_SYNCHRONOUS:
            raise SystemExit(f"settings differ: ours {ours_pragmas}, raw {raw_pragmas}")
        describe_environment(scale, ours_pragmas, raw_pragmas, fsync_latency(folder))
        check_same_rows(ours, ours_path, pool)
        results = [
            compare_record_many(ours, raw, scale, pool),
            compare_get_for_plan(ours, raw, scale, pool),
            compare_record(ours, raw, scale, pool),
        ]
    finally:
        raw.close()
        factory.kw["bind"].dispose()
    results.append(compare_get(folder, scale))
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scale", choices=("small", "full"), default="small")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a full-scale ratio misses its target"
    )
    args = parser.parse_args(argv)
    scale = scale_named(args.scale)
    with tempfile.TemporaryDirectory(prefix="cleveragents-compare-") as folder:
        results = run(scale, Path(folder))
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
