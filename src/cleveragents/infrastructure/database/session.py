"""Engines and session factories: the only place connections are configured.

SQLite files run in WAL mode with ``synchronous=FULL`` (a committed transaction
survives a power cut), a busy timeout and foreign keys on. Write transactions
start with ``BEGIN IMMEDIATE`` so two writers never deadlock upgrading a read
lock. PostgreSQL engines use a small pool with pre-ping; see docs/reference/database.md.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar, cast

from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from cleveragents._logging import get_logger
from cleveragents.infrastructure.database.errors import (
    SQLITE_NOT_COMMITTED,
    CommitOutcomeUnknownError,
    DatabaseError,
    is_damaged_file,
    is_transient,
    mask_url,
    translate,
)
from cleveragents.infrastructure.database.retry import DEFAULT_ATTEMPTS, database_retry

SessionFactory = Callable[[], Session]

T = TypeVar("T")

DATABASE_URL_ENV: Final = "CLEVERAGENTS_DATABASE_URL"
SQLITE_BUSY_TIMEOUT_MS: Final = 15_000
SQLITE_SYNCHRONOUS: Final = "FULL"
# SQLite keeps its WAL file at the size of the largest transaction (a first workspace
# snapshot: the whole workspace) unless it is truncated when the log restarts.
SQLITE_JOURNAL_SIZE_LIMIT: Final = 4 * 1024 * 1024
POSTGRES_POOL_SIZE: Final = 5
POSTGRES_MAX_OVERFLOW: Final = 5
WRITE_OPTION: Final = "cleveragents_write"

_log = get_logger(__name__)


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


# The C scanner json.loads itself runs; an instance attribute the stubs do not declare.
_scan_json: Callable[[str, int], tuple[Any, int]] = getattr(json.JSONDecoder(), "scan_once")  # noqa: B009


def _loads_json_column(text: str) -> Any:
    """Decode a JSON column: what ``json.dumps`` wrote, read at less than half the cost.

    ``json.loads`` wraps the C scanner in two whitespace regexes and a trailing-data
    check: 2.5 µs of the 4.4 µs it takes per small dict. Anything the scanner does not
    consume whole goes to ``json.loads``, which returns it or raises its usual error.
    """
    try:
        value, end = _scan_json(text, 0)
    except StopIteration:
        return json.loads(text)
    return value if end == len(text) else json.loads(text)


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


def create_session_factory(
    url: str | None = None, *, migrate: bool = True
) -> sessionmaker[Session]:
    """An engine and session factory for ``url`` (default: :func:`default_database_url`).

    With ``migrate`` the schema is first brought to the Alembic head (safe when
    several processes do it at once). A database whose revision this version does
    not know is refused with :class:`DatabaseError`.
    """
    from cleveragents.infrastructure.database import migrations

    target = url if url is not None else default_database_url()
    if not isinstance(target, str) or not target.strip():
        raise ValueError("database URL must be a non-empty string")
    engine = create_database_engine(target)
    try:
        if migrate:
            migrations.upgrade_engine(engine, "head")
        else:
            migrations.check_schema_version(engine)
    except DatabaseError:
        engine.dispose()
        raise
    except sa_exc.SQLAlchemyError as exc:
        engine.dispose()
        raise translate(exc, f"open database {mask_url(target)}") from exc
    _log.debug("database.ready", url=mask_url(target), migrated=migrate)
    return sessionmaker(bind=engine, expire_on_commit=False)


def same_database(first: SessionFactory, second: SessionFactory) -> bool:
    """True when both factories' sessions reach the same database.

    The same factory or engine; else the same URL, except for in-memory SQLite
    (each engine has its own) and SQLite files compared by their real path.
    Factories that are not a bound ``sessionmaker`` can only match themselves.
    """
    if first is second:
        return True
    engines = [getattr(f, "kw", {}).get("bind") for f in (first, second)]
    if not all(isinstance(engine, Engine) for engine in engines):
        return False
    one, two = cast(list[Engine], engines)
    if one is two:
        return True
    if is_sqlite_memory(one.url) or is_sqlite_memory(two.url):
        return False
    if one.url.get_backend_name() == two.url.get_backend_name() == "sqlite":
        return os.path.realpath(one.url.database or "") == os.path.realpath(two.url.database or "")
    return one.url == two.url


def check_session_factory(session_factory: object) -> SessionFactory:
    """Refuse a missing or non-callable session factory."""
    if session_factory is None:
        raise ValueError("session_factory is required (got None)")
    if not callable(session_factory):
        raise ValueError("session_factory must be a callable returning a Session")
    return cast(SessionFactory, session_factory)


def commit_once(commit: Callable[[], object], action: str) -> None:
    """``commit()``, refusing to let a retry repeat the work when its outcome is unknown.

    SQLite reports busy/locked before anything is committed, so those stay
    retryable; any other failure of the COMMIT itself may have happened after the
    server committed.
    """
    try:
        commit()
    except sa_exc.SQLAlchemyError as exc:
        message = str(getattr(exc, "orig", exc)).lower()
        if any(text in message for text in SQLITE_NOT_COMMITTED):
            raise
        raise CommitOutcomeUnknownError(
            f"{action}: the connection failed during COMMIT; the change may or may not "
            "have been applied, and it is not retried so that it cannot apply twice"
        ) from exc


def run_in_transaction(
    session_factory: SessionFactory,
    action: str,
    work: Callable[[Session], T],
    *,
    write: bool,
    idempotent: bool = True,
) -> T:
    """Run ``work`` in one session and one transaction, retried as a whole when transient.

    Write transactions take SQLite's write lock up front (``BEGIN IMMEDIATE``).
    ``idempotent=False`` marks work that must not run twice (an increment): when
    its COMMIT fails in a way that leaves the outcome unknown (the connection was
    lost while committing), it raises :class:`DatabaseError` instead of retrying.
    """

    def attempt() -> T:
        with session_factory() as session:
            try:
                if write:
                    session.connection(execution_options={WRITE_OPTION: True})
                try:
                    result = work(session)
                    if write and idempotent:
                        session.commit()
                    elif write:
                        commit_once(session.commit, action)
                    else:
                        session.rollback()
                except BaseException:
                    session.rollback()
                    raise
            except sa_exc.DatabaseError as exc:
                raise_if_damaged(exc, action, session.get_bind().engine)
                raise
            return result

    return with_retries(attempt, action)


def raise_if_damaged(exc: sa_exc.DatabaseError, action: str, engine: Engine) -> None:
    """Raise :class:`DatabaseError` naming the file when ``exc`` says it is damaged.

    The file is named because the process may have opened it long before it broke.
    """
    if is_damaged_file(exc):
        where = engine.url.render_as_string(hide_password=True)
        raise translate(exc, f"{action} on database {where}") from exc


def with_retries(attempt: Callable[[], T], action: str) -> T:
    """``attempt()``, run again as a whole while it fails transiently; errors translated."""
    # The first attempt runs bare: building tenacity's retry loop on every call cost
    # more than a whole single-row insert. Only a transient failure enters the loop.
    try:
        return attempt()
    except sa_exc.SQLAlchemyError as exc:
        if not is_transient(exc):
            raise translate(exc, action) from exc
        _log.warning("database.retry", attempt=1, action=action, error=type(exc).__name__)
    return database_retry(attempts=DEFAULT_ATTEMPTS - 1, action=action)(attempt)()
