"""What every repository shares: its session factory, its transactions, the SQLite fast path.

A repository takes a session factory and runs every public method as one
transaction, retried as a whole when the failure is transient (ADR 0007).
Hot read paths may run on the pooled SQLite driver connection instead of a
``Session`` (:mod:`.driver`); :meth:`Repository._read_rows` picks the path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from cleveragents._pacing import PIECE, is_paced, paced, pause
from cleveragents.infrastructure.database.driver import SqliteDriver
from cleveragents.infrastructure.database.session import (
    SessionFactory,
    check_session_factory,
    run_in_transaction,
)

T = TypeVar("T")


class Rows(Protocol):
    """Runs one statement of the current transaction and returns its rows."""

    def rows(self, statement: Executable, values: Mapping[str, Any]) -> Sequence[Sequence[Any]]: ...

    def built(
        self, statement: Executable, values: Mapping[str, Any], build: Callable[[Sequence[Any]], T]
    ) -> list[T]:
        """``build`` of each row, in one pass over the rows."""
        ...


class SessionRows:
    """:class:`Rows` on a ``Session``'s connection."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def rows(self, statement: Executable, values: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
        result = self._session.connection().execute(statement, values)
        if not is_paced():
            return result.all()
        rows: list[Sequence[Any]] = []
        for piece in result.partitions(PIECE):  # with pause points: see cleveragents._pacing
            rows += piece
            pause()
        return rows

    def built(
        self, statement: Executable, values: Mapping[str, Any], build: Callable[[Sequence[Any]], T]
    ) -> list[T]:
        return [build(row) for row in paced(self.rows(statement, values))]


class Repository:
    """Base of the repositories: a session factory and one transaction per call."""

    def __init__(self, session_factory: SessionFactory) -> None:
        self._session_factory = check_session_factory(session_factory)
        # The SQLite driver path, for a plain sessionmaker on SQLite; else None.
        self._driver = SqliteDriver.for_factory(self._session_factory)

    @property
    def session_factory(self) -> SessionFactory:
        """The session factory this repository works through."""
        return self._session_factory

    def _read(self, action: str, work: Callable[[Session], T]) -> T:
        """``work`` in one read-only transaction."""
        return run_in_transaction(self._session_factory, action, work, write=False)

    def _write(self, action: str, work: Callable[[Session], T], *, idempotent: bool = True) -> T:
        """``work`` in one write transaction (SQLite: ``BEGIN IMMEDIATE``).

        ``idempotent=False``: never repeated once its COMMIT may have happened.
        """
        return run_in_transaction(
            self._session_factory, action, work, write=True, idempotent=idempotent
        )

    def _read_rows(self, action: str, work: Callable[[Rows], T]) -> T:
        """``work`` in one read transaction: on the SQLite driver when there is one."""
        if self._driver is not None:
            return self._driver.run(action, work, write=False)
        return self._read(action, lambda session: work(SessionRows(session)))
