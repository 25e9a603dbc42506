"""Transactions: one session and one transaction per call, retried as a whole when transient."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from cleveragents._logging import get_logger
from cleveragents.infrastructure.database.engine import WRITE_OPTION
from cleveragents.infrastructure.database.errors import (
    SQLITE_NOT_COMMITTED,
    CommitOutcomeUnknownError,
    is_damaged_file,
    is_transient,
    translate,
)
from cleveragents.infrastructure.database.retry import DEFAULT_ATTEMPTS, database_retry

SessionFactory = Callable[[], Session]

T = TypeVar("T")

_log = get_logger(__name__)


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
