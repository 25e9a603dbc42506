"""Session factories: an engine (see :mod:`.engine`), migrated, and the sessions on it.

This module is the contract's path for ``create_session_factory``,
``default_database_url`` and ``SessionFactory``; the transaction helpers every
repository uses live in :mod:`.transactions` and are re-exported here.
"""

from __future__ import annotations

import os
from typing import cast

from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from cleveragents._logging import get_logger
from cleveragents.infrastructure.database.engine import (
    DATABASE_URL_ENV,
    POSTGRES_MAX_OVERFLOW,
    POSTGRES_POOL_SIZE,
    SQLITE_BUSY_TIMEOUT_MS,
    SQLITE_JOURNAL_SIZE_LIMIT,
    SQLITE_SYNCHRONOUS,
    WRITE_OPTION,
    create_database_engine,
    default_database_url,
    is_sqlite_memory,
)
from cleveragents.infrastructure.database.errors import DatabaseError, mask_url, translate
from cleveragents.infrastructure.database.schema_version import is_at_head
from cleveragents.infrastructure.database.transactions import (
    SessionFactory,
    commit_once,
    raise_if_damaged,
    run_in_transaction,
    with_retries,
)

__all__ = [
    "DATABASE_URL_ENV",
    "POSTGRES_MAX_OVERFLOW",
    "POSTGRES_POOL_SIZE",
    "SQLITE_BUSY_TIMEOUT_MS",
    "SQLITE_JOURNAL_SIZE_LIMIT",
    "SQLITE_SYNCHRONOUS",
    "WRITE_OPTION",
    "SessionFactory",
    "check_session_factory",
    "commit_once",
    "create_database_engine",
    "create_session_factory",
    "default_database_url",
    "is_sqlite_memory",
    "raise_if_damaged",
    "run_in_transaction",
    "same_database",
    "with_retries",
]

_log = get_logger(__name__)


def create_session_factory(
    url: str | None = None, *, migrate: bool = True
) -> sessionmaker[Session]:
    """An engine and session factory for ``url`` (default: :func:`default_database_url`).

    With ``migrate`` the schema is first brought to the Alembic head (safe when
    several processes do it at once). A database whose revision this version does
    not know is refused with :class:`DatabaseError`. A database at the head already
    is opened without Alembic and without the migration lock (:mod:`.schema_version`).
    """
    target = url if url is not None else default_database_url()
    if not isinstance(target, str) or not target.strip():
        raise ValueError("database URL must be a non-empty string")
    engine = create_database_engine(target)
    try:
        at_head = is_at_head(engine)
        if not at_head:
            # Alembic is imported only for a database that is not at the head already.
            from cleveragents.infrastructure.database import migrations

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
    _log.debug("database.ready", url=mask_url(target), migrated=migrate and not at_head)
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
