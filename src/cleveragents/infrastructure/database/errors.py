"""The one place driver errors become the library's own (``cleveragents.domain.errors``).

The error classes are the domain's; they are re-exported here under the module
path older code imports them from.
"""

from __future__ import annotations

import re

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from cleveragents.domain.errors import (
    BaselineGoneError,
    CommitOutcomeUnknownError,
    DatabaseError,
    DuplicateRecordError,
    IntegrityCheckError,
    PlanCancelledError,
    RecordNotFoundError,
)

__all__ = [
    "BaselineGoneError",
    "CommitOutcomeUnknownError",
    "DatabaseError",
    "DuplicateRecordError",
    "IntegrityCheckError",
    "MissingDatabaseError",
    "PlanCancelledError",
    "RecordNotFoundError",
    "is_damaged_file",
    "is_transient",
    "mask_url",
    "sqlstate",
    "translate",
]


class MissingDatabaseError(DatabaseError):
    """A database opened with ``create=False`` whose SQLite file does not exist."""

    def __init__(self, path: str) -> None:
        super().__init__(f"database file {path} does not exist")
        self.path = path


# SQLSTATE classes of PostgreSQL errors that go away when the work is tried again.
_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "55P03", "57P01", "57P02", "57P03"})
_TRANSIENT_SQLITE_MESSAGES = ("database is locked", "database table is locked", "database is busy")
# SQLite reports these before a COMMIT takes effect: the transaction is still open.
SQLITE_NOT_COMMITTED = _TRANSIENT_SQLITE_MESSAGES
_UNIQUE_MESSAGES = ("unique constraint", "duplicate key", "23505")
_FOREIGN_KEY_MESSAGES = ("foreign key constraint", "23503")
# SQLite's words for a file that is damaged, or that is not a database at all.
_DAMAGED_FILE_MESSAGES = ("file is not a database", "database disk image is malformed")


def mask_url(url: str) -> str:
    """The URL with its password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (sa_exc.ArgumentError, ValueError):
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a PostgreSQL driver error, if there is one."""
    orig = getattr(exc, "orig", exc)
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return state if isinstance(state, str) else None


def is_transient(exc: BaseException) -> bool:
    """True for failures that a retry can cure: busy/locked, lost connection, serialization."""
    if isinstance(exc, sa_exc.IntegrityError | sa_exc.ProgrammingError):
        return False
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        state = sqlstate(exc)
        if state is not None:
            return state in _TRANSIENT_SQLSTATES or state.startswith("08")
        if isinstance(exc, sa_exc.OperationalError):
            message = str(exc.orig).lower()
            if any(text in message for text in _TRANSIENT_SQLITE_MESSAGES):
                return True
            # psycopg raises OperationalError without a SQLSTATE when the server goes away.
            return "connection" in message and "sqlite" not in type(exc.orig).__module__
    return isinstance(exc, sa_exc.TimeoutError | sa_exc.DisconnectionError)


def is_damaged_file(exc: BaseException) -> bool:
    """True when SQLite says the database file is corrupt or is not a database."""
    message = str(getattr(exc, "orig", None) or exc).lower()
    return any(text in message for text in _DAMAGED_FILE_MESSAGES)


def translate(exc: BaseException, action: str) -> DatabaseError:
    """Turn a SQLAlchemy/driver exception into the library's hierarchy.

    The caller raises the result ``from exc`` so the original stays the ``__cause__``.
    """
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    if isinstance(exc, sa_exc.IntegrityError):
        lowered = f"{detail} {sqlstate(exc) or ''}".lower()
        if any(text in lowered for text in _UNIQUE_MESSAGES):
            return DuplicateRecordError(f"{action}: a record with this id already exists")
        if any(text in lowered for text in _FOREIGN_KEY_MESSAGES):
            return RecordNotFoundError(f"{action}: a referenced record does not exist")
    return DatabaseError(f"{action} failed: {detail}")
