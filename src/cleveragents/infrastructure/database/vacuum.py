"""Giving the space of deleted rows back to the file system (SQLite files)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from cleveragents.infrastructure.database.session import is_sqlite_memory


def file_bytes(database: Path) -> int:
    """The size of a SQLite database file and its write-ahead log."""
    paths = (database, database.with_name(f"{database.name}-wal"))
    return sum(path.stat().st_size for path in paths if path.exists())


def vacuum(engine: Engine) -> int:
    """Rewrite a SQLite file without its free pages; returns the bytes given back.

    0 for an in-memory database and for PostgreSQL, whose autovacuum keeps freed
    space in the table files for new rows (see docs/reference/database.md).
    """
    if engine.dialect.name != "sqlite" or is_sqlite_memory(engine.url):
        return 0
    database = Path(engine.url.database or "")
    before = file_bytes(database)
    # VACUUM cannot run inside a transaction: the raw connection, in autocommit.
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cursor.execute("VACUUM")
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cursor.close()
    finally:
        connection.close()
    return max(0, before - file_bytes(database))


__all__ = ["file_bytes", "vacuum"]
