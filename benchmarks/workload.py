"""The workload shared by the asv suite and ``compare_sqlite.py``.

Entries look like the real thing: a ~2.5 KB unified diff made by ``difflib`` over
generated source lines, the sha256 of the content before and after, and a small
metadata dict. ``CLEVERAGENTS_BENCH_SCALE`` (``small``, the default, or ``full``)
sets how large the big table is. That table is built once per scale with raw
``sqlite3`` (through the library's own schema) and cached in the temp folder.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import random
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from cleveragents.domain.models.core.change import ChangeEntry, ChangeOperation
from cleveragents.infrastructure.database.migrations import head_revision
from cleveragents.infrastructure.database.session import (
    SQLITE_BUSY_TIMEOUT_MS,
    SQLITE_JOURNAL_SIZE_LIMIT,
    SQLITE_SYNCHRONOUS,
    create_session_factory,
)

SCALE_ENV: Final = "CLEVERAGENTS_BENCH_SCALE"
# Bump when the generated data changes, so stale cached databases are not reused.
WORKLOAD_VERSION: Final = 1
TARGET_DIFF_BYTES: Final = 2_400
CHANGESET_SIZE: Final = 100
# Changesets recorded side by side while the big table is filled: a changeset's
# entries are spread over the table the way concurrent plans would leave them.
CONCURRENT_CHANGESETS: Final = 16
METADATA: Final = {"tool": "edit_file", "attempt": 1, "tags": ["refactor", "agent"]}

ENTRY_COLUMNS: Final = (
    "entry_id",
    "changeset_id",
    "plan_id",
    "path",
    "operation",
    "old_path",
    "before_hash",
    "after_hash",
    "diff",
    "insertions",
    "deletions",
    "tool_invocation_id",
    "entry_metadata",
    "created_at",
)
INSERT_ENTRY_SQL: Final = (
    f"INSERT INTO changeset_entries ({', '.join(ENTRY_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in ENTRY_COLUMNS)})"
)
INSERT_CHANGESET_SQL: Final = (
    "INSERT INTO changesets (changeset_id, plan_id, created_at) VALUES (?, ?, ?)"
)
SELECT_ENTRIES_SQL: Final = (
    f"SELECT {', '.join(ENTRY_COLUMNS)} FROM changeset_entries WHERE changeset_id = ? ORDER BY seq"
)

RawRow = tuple[
    str, str, str, str, str, str | None, str | None, str | None, str, int, int, str | None, str, str
]


@dataclass(frozen=True)
class Scale:
    """How big the benchmarks are."""

    name: str
    table_rows: int  # entries in the big table that ``get`` reads from
    batch_size: int  # entries of the large ``record_many``
    ops: int  # timed calls of each fast path (``record``, ``get``) in the comparison
    repetitions: int  # samples of every other comparison


SCALES: Final = {
    "small": Scale("small", table_rows=20_000, batch_size=10_000, ops=60, repetitions=3),
    "full": Scale("full", table_rows=1_000_000, batch_size=10_000, ops=400, repetitions=9),
}


def scale_named(name: str) -> Scale:
    """The scale called ``name`` (``ValueError`` for an unknown one)."""
    try:
        return SCALES[name]
    except KeyError:
        raise ValueError(f"unknown scale {name!r}; expected one of {sorted(SCALES)}") from None


def current_scale() -> Scale:
    """The scale named by ``$CLEVERAGENTS_BENCH_SCALE`` (``small`` when unset)."""
    return scale_named(os.environ.get(SCALE_ENV, "small").strip() or "small")


# --- realistic content ------------------------------------------------------------------


@dataclass(frozen=True)
class FileChange:
    """One modification of a generated source file: hashes and unified diff."""

    before_hash: str
    after_hash: str
    diff: str
    insertions: int
    deletions: int


_NAMES = ("config", "result", "items", "index", "value", "buffer", "record", "session")
_CALLS = ("load", "parse", "merge", "render", "validate", "flush", "resolve", "encode")


def _source_lines(rng: random.Random, count: int) -> list[str]:
    return [
        f"    {rng.choice(_NAMES)}_{n} = {rng.choice(_CALLS)}({rng.choice(_NAMES)}, "
        f"limit={rng.randint(1, 999)})\n"
        for n in range(count)
    ]


def make_file_change(rng: random.Random, path: str) -> FileChange:
    """Edit random lines of a generated module until its diff reaches ~2.5 KB."""
    before = _source_lines(rng, 160)
    after = list(before)
    diff = ""
    while len(diff) < TARGET_DIFF_BYTES:
        line = rng.randrange(len(after))
        after[line] = f"    {rng.choice(_NAMES)} = {rng.choice(_CALLS)}(strict=True)  # {line}\n"
        diff = "".join(difflib.unified_diff(before, after, f"a/{path}", f"b/{path}"))
    body = diff.splitlines()[2:]
    return FileChange(
        before_hash=hashlib.sha256("".join(before).encode()).hexdigest(),
        after_hash=hashlib.sha256("".join(after).encode()).hexdigest(),
        diff=diff,
        insertions=sum(1 for text in body if text.startswith("+")),
        deletions=sum(1 for text in body if text.startswith("-")),
    )


def file_changes(count: int = 64, seed: int = 20240601) -> list[FileChange]:
    """A deterministic pool of distinct file changes to draw entries from."""
    rng = random.Random(seed)
    return [make_file_change(rng, module_path(n)) for n in range(count)]


def module_path(n: int) -> str:
    """A workspace-relative path of the kind agents edit."""
    return f"src/package_{n % 37}/module_{n}.py"


def make_entries(
    changeset_id: str, plan_id: str, count: int, pool: Sequence[FileChange], first: int = 0
) -> list[ChangeEntry]:
    """``count`` validated MODIFY entries of one changeset (built outside any timing)."""
    entries = []
    for n in range(first, first + count):
        change = pool[n % len(pool)]
        entries.append(
            ChangeEntry(
                changeset_id=changeset_id,
                plan_id=plan_id,
                path=module_path(n),
                operation=ChangeOperation.MODIFY,
                before_hash=change.before_hash,
                after_hash=change.after_hash,
                diff=change.diff,
                insertions=change.insertions,
                deletions=change.deletions,
                metadata={**METADATA, "sequence": n},
            )
        )
    return entries


# --- raw sqlite3 with the library's settings --------------------------------------------


def sqlite_timestamp(value: datetime) -> str:
    """A datetime as the library stores it in SQLite: naive UTC text to the microsecond."""
    utc = value.astimezone(UTC)
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d} "
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}.{utc.microsecond:06d}"
    )


def raw_row(entry: ChangeEntry) -> RawRow:
    """The row the library writes for ``entry``, made the way a raw client would."""
    return (
        entry.entry_id,
        entry.changeset_id,
        entry.plan_id,
        entry.path,
        entry.operation.value,
        entry.old_path,
        entry.before_hash,
        entry.after_hash,
        entry.diff,
        entry.insertions,
        entry.deletions,
        entry.tool_invocation_id,
        json.dumps(entry.metadata),
        sqlite_timestamp(entry.created_at),
    )


def connect_raw(path: Path) -> sqlite3.Connection:
    """A plain ``sqlite3`` connection with exactly the library's PRAGMAs (autocommit mode)."""
    connection = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    connection.execute("PRAGMA foreign_keys = ON")
    connection.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute(f"PRAGMA synchronous = {SQLITE_SYNCHRONOUS}")
    connection.execute(f"PRAGMA journal_size_limit = {SQLITE_JOURNAL_SIZE_LIMIT}")
    return connection


def create_schema(path: Path) -> None:
    """Create the library's schema (Alembic head) in the SQLite file ``path``."""
    factory = create_session_factory(f"sqlite:///{path}")
    bind = factory.kw["bind"]
    bind.dispose()


# --- the big table ------------------------------------------------------------------------


@dataclass(frozen=True)
class LargeTable:
    """A cached database holding ``rows`` entries in changesets of ``CHANGESET_SIZE``."""

    path: Path
    rows: int
    target_changeset_id: str
    target_plan_id: str


def changeset_key(n: int) -> tuple[str, str]:
    """The (changeset_id, plan_id) of background changeset ``n``."""
    return f"bench-cs-{n:07d}", f"bench-plan-{n:07d}"


def _background_rows(rows: int, pool: Sequence[FileChange]) -> Iterator[RawRow]:
    """Entries of ``rows // CHANGESET_SIZE`` changesets, recorded a group at a time."""
    changesets = rows // CHANGESET_SIZE
    metadata = json.dumps(METADATA)
    start = datetime(2024, 6, 1, tzinfo=UTC)
    serial = 0
    for group in range(0, changesets, CONCURRENT_CHANGESETS):
        members = range(group, min(group + CONCURRENT_CHANGESETS, changesets))
        for position in range(CHANGESET_SIZE):
            for n in members:
                changeset_id, plan_id = changeset_key(n)
                change = pool[serial % len(pool)]
                yield (
                    f"bench-entry-{serial:09d}",
                    changeset_id,
                    plan_id,
                    module_path(position),
                    ChangeOperation.MODIFY.value,
                    None,
                    change.before_hash,
                    change.after_hash,
                    change.diff,
                    change.insertions,
                    change.deletions,
                    None,
                    metadata,
                    sqlite_timestamp(start + timedelta(milliseconds=serial)),
                )
                serial += 1


@contextmanager
def bulk_load(path: Path) -> Iterator[sqlite3.Connection]:
    """A raw connection filling the library database at ``path`` in one transaction.

    Building is setup, not measurement: no journal and no fsync while filling. The
    file is left in WAL mode, as the library opens it.
    """
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode = OFF")
        connection.execute("PRAGMA synchronous = OFF")
        connection.execute("PRAGMA cache_size = -262144")
        connection.execute("BEGIN")
        yield connection
        connection.execute("COMMIT")
        connection.execute("PRAGMA journal_mode = WAL")
    finally:
        connection.close()


def _fill(path: Path, rows: int) -> None:
    changesets = rows // CHANGESET_SIZE
    start = sqlite_timestamp(datetime(2024, 6, 1, tzinfo=UTC))
    with bulk_load(path) as connection:
        connection.executemany(
            INSERT_CHANGESET_SQL, ((*changeset_key(n), start) for n in range(changesets))
        )
        connection.executemany(INSERT_ENTRY_SQL, _background_rows(rows, file_changes()))


def cache_dir() -> Path:
    """Where built databases are kept between runs."""
    folder = Path(tempfile.gettempdir()) / "cleveragents-bench"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def large_table(scale: Scale) -> LargeTable:
    """The big table of ``scale``, built on first use and cached in the temp folder."""
    rows = scale.table_rows
    name = f"changesets-{scale.name}-{rows}-rev{head_revision()}-v{WORKLOAD_VERSION}.db"
    path = cache_dir() / name
    if not path.exists():
        building = path.with_name(f"{path.name}.{os.getpid()}.building")
        building.unlink(missing_ok=True)
        began = time.perf_counter()
        create_schema(building)
        _fill(building, rows)
        building.replace(path)
        print(f"built {path} ({rows:,} entries) in {time.perf_counter() - began:.1f}s")
    changeset_id, plan_id = changeset_key(rows // CHANGESET_SIZE // 2)
    return LargeTable(path, rows, changeset_id, plan_id)


def copy_database(source: Path, target: Path) -> Path:
    """A private copy of a (checkpointed, closed) SQLite file."""
    shutil.copyfile(source, target)
    return target
