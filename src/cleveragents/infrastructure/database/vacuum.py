"""Giving the space of deleted rows back to the file system (SQLite files).

New SQLite files are made with ``auto_vacuum = INCREMENTAL`` (see :mod:`.engine`):
the pages a prune or a plan deletion frees go to SQLite's free list, and
:func:`give_back` returns them to the file system in steps of
``VACUUM_STEP_PAGES`` pages, each its own short write transaction followed by
as long a pause, so that other writers wait for a step (milliseconds), never
for the whole of it. Each
step is checkpointed into the database file at once (the file shrinks and the
write-ahead log restarts instead of growing), and the log is truncated at the
end. :func:`vacuum` rewrites the whole file (``VACUUM``); it also switches a
database made before ``auto_vacuum`` was set (that needs a full rewrite).

PostgreSQL keeps freed space inside its table files (autovacuum marks it
reusable for new rows; only ``VACUUM FULL`` returns it, under an exclusive
lock, which the library never runs): 0 bytes there, and for in-memory SQLite.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, cast

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from cleveragents.infrastructure.database.engine import SQLITE_BUSY_TIMEOUT_MS, is_sqlite_memory
from cleveragents.infrastructure.database.errors import DatabaseError

# 1 MiB at SQLite's 4 KiB pages: a step holds the write lock for a few milliseconds.
VACUUM_STEP_PAGES: Final = 256
# How long the final log truncation may wait for the write lock and for readers, and
# how many times it tries.
TRUNCATE_WAIT_MS: Final = 100
TRUNCATE_ATTEMPTS: Final = 40
# Between two attempts the lock is let go this long, so that waiting writers go first.
TRUNCATE_PAUSE_S: Final = 0.005
AUTO_VACUUM_INCREMENTAL: Final = 2
SECURE_DELETE_ON: Final = 1


def file_bytes(database: Path) -> int:
    """The size of a SQLite database file and its write-ahead log."""
    paths = (database, database.with_name(f"{database.name}-wal"))
    return sum(path.stat().st_size for path in paths if path.exists())


def engine_of(session_factory: object) -> Engine | None:
    """The engine a ``sessionmaker`` is bound to; None for any other factory."""
    bind = getattr(session_factory, "kw", {}).get("bind")
    return bind if isinstance(bind, Engine) else None


def sqlite_file_of(engine: Engine | None) -> Path | None:
    """The file of a SQLite file engine; None for in-memory SQLite and other backends."""
    if engine is None or engine.dialect.name != "sqlite" or is_sqlite_memory(engine.url):
        return None
    return Path(engine.url.database or "")


@contextmanager
def _driver(engine: Engine, database: Path, action: str) -> Iterator[sqlite3.Connection]:
    """A pooled ``sqlite3`` connection in autocommit; its errors become ``DatabaseError``."""
    pooled = engine.raw_connection()
    try:
        connection = cast(sqlite3.Connection, pooled.driver_connection)
        try:
            yield connection
        except sqlite3.Error as exc:
            if connection.in_transaction:
                connection.rollback()
            raise DatabaseError(f"{action} of database {database} failed: {exc}") from exc
    finally:
        pooled.close()


def _pragma(connection: sqlite3.Connection, name: str) -> Any:
    return connection.execute(f"PRAGMA {name}").fetchone()[0]


@contextmanager
def deleting_in_place(session: Session) -> Iterator[None]:
    """Deletes in this session's transaction leave freed pages unwritten (SQLite).

    Many SQLite builds default to ``secure_delete = ON``, which overwrites every
    freed page with zeros: a prune would first write all it deletes to the WAL,
    growing the file by that much. With ``FAST`` only pages written anyway are
    cleared. Used only on files with incremental auto-vacuum, where
    :func:`give_back` releases the freed pages (moved-in pages overwrite them, or
    the file is truncated) right after the commit; elsewhere nothing changes.
    """
    if session.get_bind().dialect.name != "sqlite":
        yield
        return
    previous = int(session.execute(text("PRAGMA secure_delete")).scalar_one())
    incremental = session.execute(text("PRAGMA auto_vacuum")).scalar_one()
    if previous != SECURE_DELETE_ON or incremental != AUTO_VACUUM_INCREMENTAL:
        yield
        return
    session.execute(text("PRAGMA secure_delete = FAST"))
    try:
        yield
    finally:
        session.execute(text(f"PRAGMA secure_delete = {previous}"))


def give_back(engine: Engine | None, *, step_pages: int = VACUUM_STEP_PAGES) -> int:
    """Return a SQLite file's free pages to the file system in short steps; the bytes.

    Stops when the free list is empty or a step makes no progress; a database
    made with ``auto_vacuum`` off only has its log truncated (``vacuum`` switches it).
    """
    database = sqlite_file_of(engine)
    if engine is None or database is None:
        return 0
    before = file_bytes(database)
    with _driver(engine, database, "give back free pages") as connection:
        if _pragma(connection, "auto_vacuum") == AUTO_VACUUM_INCREMENTAL:
            free = _pragma(connection, "freelist_count")
            while free > 0:
                began = time.monotonic()
                # executescript steps the pragma to its end (execute frees one page).
                connection.executescript(
                    f"BEGIN IMMEDIATE; PRAGMA incremental_vacuum({step_pages}); COMMIT;"
                )
                held = time.monotonic() - began
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                left = _pragma(connection, "freelist_count")
                if left >= free:
                    break
                free = left
                if free:
                    # A waiting writer polls for the lock (SQLite's busy handler sleeps
                    # between tries): taken again at once, the lock would be free too
                    # briefly for it to notice, and it would wait for every step.
                    time.sleep(held)
        _truncate_log(connection)
    return max(0, before - file_bytes(database))


def _truncate_log(connection: sqlite3.Connection) -> None:
    """Fold the write-ahead log into the file and empty it, waiting only briefly.

    The truncation needs a moment when no reader is on an older snapshot; it
    waits up to ``TRUNCATE_WAIT_MS`` for one (holding the write lock meanwhile),
    ``TRUNCATE_ATTEMPTS`` times, letting waiting writers go in between (a busy
    writer can make a few attempts in a row find a reader on an older snapshot).
    Failing that, SQLite truncates the log to ``journal_size_limit`` when a later
    writer restarts it.
    """
    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()  # the bulk, lock-free
    connection.execute(f"PRAGMA busy_timeout = {TRUNCATE_WAIT_MS}")
    try:
        for _ in range(TRUNCATE_ATTEMPTS):
            busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                return
            time.sleep(TRUNCATE_PAUSE_S)
    finally:
        connection.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")


def vacuum(engine: Engine) -> int:
    """Rewrite a SQLite file without its free pages; returns the bytes given back.

    A database made before ``auto_vacuum = INCREMENTAL`` was the default gets it
    here (the rewrite applies it). 0 for in-memory SQLite and for PostgreSQL,
    whose autovacuum keeps freed space in the table files for new rows (see
    docs/reference/database.md).
    """
    database = sqlite_file_of(engine)
    if database is None:
        return 0
    before = file_bytes(database)
    # VACUUM cannot run inside a transaction: the driver connection, in autocommit.
    with _driver(engine, database, "vacuum") as connection:
        connection.execute("PRAGMA auto_vacuum = INCREMENTAL")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        connection.execute("VACUUM")
        _truncate_log(connection)
    return max(0, before - file_bytes(database))


__all__ = [
    "AUTO_VACUUM_INCREMENTAL",
    "SECURE_DELETE_ON",
    "TRUNCATE_ATTEMPTS",
    "TRUNCATE_WAIT_MS",
    "VACUUM_STEP_PAGES",
    "deleting_in_place",
    "engine_of",
    "file_bytes",
    "give_back",
    "sqlite_file_of",
    "vacuum",
]
