"""Engines: the only place connections are configured.

SQLite files run in WAL mode with ``synchronous=FULL`` (a committed transaction
survives a power cut), a busy timeout and foreign keys on; new files are made with
``auto_vacuum=INCREMENTAL`` so that freed pages can go back to the file system
(:mod:`.vacuum`). Write transactions
start with ``BEGIN IMMEDIATE`` so two writers never deadlock upgrading a read
lock. PostgreSQL engines use a small pool with pre-ping; see docs/reference/database.md.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic_core import from_json
from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

from cleveragents.infrastructure.database.errors import (
    DatabaseError,
    MissingDatabaseError,
    mask_url,
)

DATABASE_URL_ENV: Final = "CLEVERAGENTS_DATABASE_URL"
SQLITE_BUSY_TIMEOUT_MS: Final = 15_000
SQLITE_SYNCHRONOUS: Final = "FULL"
# SQLite keeps its WAL file at the size of the largest transaction (a first workspace
# snapshot: the whole workspace) unless it is truncated when the log restarts.
SQLITE_JOURNAL_SIZE_LIMIT: Final = 4 * 1024 * 1024
POSTGRES_POOL_SIZE: Final = 5
POSTGRES_MAX_OVERFLOW: Final = 5
WRITE_OPTION: Final = "cleveragents_write"


def default_database_url() -> str:
    """``$CLEVERAGENTS_DATABASE_URL``, else a SQLite file under ``$XDG_DATA_HOME/cleveragents``."""
    configured = os.environ.get(DATABASE_URL_ENV, "").strip()
    if configured:
        return configured
    data_home = os.environ.get("XDG_DATA_HOME", "").strip()
    base = Path(data_home) if data_home else Path.home() / ".local" / "share"
    return f"sqlite:///{base / 'cleveragents' / 'cleveragents.db'}"


def is_sqlite_memory(url: URL) -> bool:
    """True for ``sqlite://`` and ``sqlite:///:memory:`` style URLs."""
    database = url.database or ""
    return url.get_backend_name() == "sqlite" and database in ("", ":memory:")


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL opens, as SQLite finds it (relative to the working folder).

    None for in-memory SQLite (``sqlite://``, ``:memory:``, a ``mode=memory`` URI)
    and for every other backend.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or is_sqlite_memory(parsed):
        return None
    database = parsed.database or ""
    if parsed.query.get("uri") and database.startswith("file:"):
        # SQLAlchemy passes the URL's other query keys to SQLite as URI parameters.
        uri = urlsplit(database)
        mode = [*parse_qs(uri.query).get("mode", []), str(parsed.query.get("mode", ""))]
        path = unquote(uri.path)
        if "memory" in mode or path in ("", ":memory:"):
            return None
        return Path(path)
    return Path(database)


def require_existing_database(url: str) -> None:
    """Refuse a SQLite file URL whose file does not exist, before anything is created.

    Raises :class:`MissingDatabaseError` naming the absolute path. In-memory SQLite,
    other backends and URLs that cannot be parsed pass (opening them reports the rest).
    """
    try:
        path = sqlite_file(url)
    except (sa_exc.ArgumentError, ValueError):
        return
    if path is not None and not path.exists():
        raise MissingDatabaseError(str(path.absolute()))


def create_database_engine(url: str) -> Engine:
    """An engine for ``url`` with the library's connection settings applied."""
    try:
        parsed = make_url(url)
        backend = parsed.get_backend_name()
        if backend == "sqlite":
            engine = _sqlite_engine(parsed)
        elif backend == "postgresql":
            engine = create_engine(
                parsed,
                pool_pre_ping=True,
                pool_size=POSTGRES_POOL_SIZE,
                max_overflow=POSTGRES_MAX_OVERFLOW,
            )
            event.listen(engine, "connect", _postgres_session_in_utc)
        else:
            raise DatabaseError(f"unsupported database URL {mask_url(url)}")
    except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, ImportError) as exc:
        raise DatabaseError(f"cannot use database URL {mask_url(url)}: {exc}") from exc
    return engine


def _postgres_session_in_utc(dbapi_connection: Any, _record: Any) -> None:
    """Every PostgreSQL session reads timestamps in UTC, whatever the server's TimeZone.

    The server sends ``timestamptz`` values in the session's time zone: at +05:45,
    ``9999-12-31 23:59 UTC`` arrives as year 10000, which no driver can read, so a
    row written fine could never be read back.
    """
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SET TIME ZONE 'UTC'")
    finally:
        cursor.close()
        dbapi_connection.autocommit = autocommit


def _loads_json_column(text: str) -> Any:
    """Decode a JSON column: what ``json.dumps`` wrote, without ``json.loads``'s Python layers.

    pydantic-core's parser (Rust) builds the same values as ``json.loads`` for
    everything ``json.dumps`` writes, except what it refuses (a lone surrogate,
    nesting beyond its depth limit): that goes to ``json.loads``, which returns
    it or raises its usual error. Only keys go to its process-wide string cache: a
    value cached there (a first snapshot's ``diff_paths`` lists every path) would
    stay in memory for the life of the process.
    """
    try:
        return from_json(text, cache_strings="keys")
    except ValueError:
        return json.loads(text)


def _sqlite_engine(url: URL) -> Engine:
    memory = is_sqlite_memory(url)
    if memory:
        # One shared connection: every session must see the same in-memory database.
        engine = create_engine(
            url,
            poolclass=StaticPool,
            connect_args={"check_same_thread": False},
            json_deserializer=_loads_json_column,
        )
    else:
        database = Path(url.database or "")
        if not url.query.get("uri") and not str(database).startswith("file:"):
            database.expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            json_deserializer=_loads_json_column,
        )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # We issue BEGIN ourselves (see _begin) instead of the driver's implicit one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            if not memory:
                # Only a new, empty file takes it (an older one gets it from `db vacuum`),
                # before the switch to WAL writes the file's header. Never on a file with
                # pages: there the pragma would open a write transaction on every connect.
                cursor.execute("PRAGMA page_count")
                if cursor.fetchone()[0] == 0:
                    cursor.execute("PRAGMA auto_vacuum = INCREMENTAL")
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute(f"PRAGMA synchronous = {SQLITE_SYNCHRONOUS}")
                cursor.execute(f"PRAGMA journal_size_limit = {SQLITE_JOURNAL_SIZE_LIMIT}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
