"""The hottest paths on SQLite, run on the pooled driver connection.

Recording one changeset entry is one ``INSERT`` and one ``COMMIT`` for SQLite,
reading a changeset three indexed ``SELECT``\\ s, counting an error occurrence one
``UPDATE``. Through a ``Session`` each call also pays for the Session, the
``Connection``, an execution context per statement and a ``Row`` per row: 2.5x
the raw ``sqlite3`` cost of a single write and 4x a read (``docs/performance.md``).
Here the same SQLAlchemy Core statements are compiled once for the engine's
dialect and run on the connection the engine's pool hands out, with the dialect's
own bind and result processors, so what is written and read is exactly what the
``Session`` path writes and reads. The callers: the changeset store's ``record``,
``record_many`` into one changeset and reads, and ``record_occurrence``.

Only SQLite takes this path, and only with a plain ``sessionmaker`` of ``Session``
bound to an engine: a custom session factory (a ``Session`` subclass, a function)
is always honoured, and PostgreSQL, where the network dominates, keeps the
``Session`` path. Errors are wrapped the way SQLAlchemy wraps them, so retries,
translation and the damaged-file message are the same on both paths.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler

from cleveragents._pacing import PIECE, is_paced, pause, pieces
from cleveragents.infrastructure.database.session import (
    SessionFactory,
    commit_once,
    raise_if_damaged,
    with_retries,
)

T = TypeVar("T")

Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class CompiledStatement:
    """One Core statement as the dialect renders it, with its parameters' processors."""

    sql: str
    names: tuple[str, ...]
    fixed: Mapping[str, Any]
    binds: tuple[tuple[int, Processor], ...]
    results: tuple[tuple[int, Processor], ...]

    @classmethod
    def build(cls, statement: Executable, dialect: Dialect) -> CompiledStatement:
        compiled = cast(ClauseElement, statement).compile(dialect=dialect)
        if not isinstance(compiled, SQLCompiler) or compiled.positiontup is None:
            raise ValueError(f"cannot run {statement!r} with positional parameters")
        names = tuple(compiled.positiontup)
        # Parameters the statement carries itself (``frequency + 1``): not the caller's.
        fixed = {
            name: bind.effective_value
            for name, bind in compiled.binds.items()
            if not bind.required and name in names
        }
        binds = _processors(
            compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in names
        )
        # A SELECT's columns, or an INSERT's RETURNING columns; nothing for other DML.
        results = _processors(
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in getattr(statement, "exported_columns", ())
        )
        return cls(str(compiled), names, fixed, binds, results)

    def parameters(self, values: Mapping[str, Any]) -> list[Any]:
        """The positional parameters for ``values`` (by bind name), processed."""
        if self.fixed:
            values = {**self.fixed, **values}
        parameters = [values[name] for name in self.names]
        for index, process in self.binds:
            parameters[index] = process(parameters[index])
        return parameters

    def positional(
        self, names: tuple[str, ...], rows: Sequence[Sequence[Any]]
    ) -> Sequence[Sequence[Any]]:
        """``rows`` of the values of parameters ``names`` (the statement's order), processed."""
        if names != self.names or self.fixed:
            raise ValueError(f"{self.sql!r} takes its parameters {self.names} by name")
        binds = self.binds
        processed: list[list[Any]] = []
        append = processed.append
        for row in rows:
            values = list(row)
            for index, process in binds:
                values[index] = process(values[index])
            append(values)
        return processed

    def build_all(self, rows: list[Any], build: Callable[[Sequence[Any]], T]) -> list[T]:
        """``build`` of each row once processed: one pass, no list of processed rows."""
        results = self.results
        if not results:
            return [build(row) for row in rows]
        built: list[T] = []
        append = built.append
        for row in rows:
            values = list(row)
            for index, process in results:
                values[index] = process(values[index])
            append(build(values))
        return built


def _same(row: Sequence[Any]) -> Sequence[Any]:
    return row


def _processors(processors: Iterable[Processor | None]) -> tuple[tuple[int, Processor], ...]:
    return tuple((index, process) for index, process in enumerate(processors) if process)


class DriverTransaction:
    """What work run by :meth:`SqliteDriver.run` uses: one transaction's statements."""

    def __init__(self, driver: SqliteDriver, cursor: Any) -> None:
        self._driver = driver
        self._cursor = cursor

    def rows(self, statement: Executable, values: Mapping[str, Any]) -> list[Sequence[Any]]:
        """Every row ``statement`` returns for ``values``, processed like SQLAlchemy would."""
        return self.built(statement, values, _same)

    def built(
        self, statement: Executable, values: Mapping[str, Any], build: Callable[[Sequence[Any]], T]
    ) -> list[T]:
        """``build`` of every row ``statement`` returns for ``values``, processed like
        SQLAlchemy would."""
        compiled = self._driver.compiled(statement)
        parameters = compiled.parameters(values)
        built: list[T] = []
        try:
            cursor = self._cursor.execute(compiled.sql, parameters)
            if not is_paced():
                return compiled.build_all(cursor.fetchall(), build)
            # In pieces, with pause points: see cleveragents._pacing.
            while piece := cursor.fetchmany(PIECE):
                built += compiled.build_all(piece, build)
                pause()
        except self._driver.dbapi_error as exc:
            raise self._driver.wrap(exc, compiled.sql, parameters) from exc
        return built

    def execute_many(
        self, statement: Executable, names: tuple[str, ...], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Run ``statement`` once per row of ``rows`` (the driver's ``executemany``).

        Each row holds the values of the bind parameters ``names``, in that order,
        which must be the order the statement takes them in. In pieces of the one
        transaction, with pause points between them.
        """
        compiled = self._driver.compiled(statement)
        try:
            for piece in pieces(rows):
                self._cursor.executemany(compiled.sql, compiled.positional(names, piece))
        except self._driver.dbapi_error as exc:
            raise self._driver.wrap(exc, compiled.sql, None) from exc


class SqliteDriver:
    """Runs transactions of compiled statements on the engine's pooled sqlite3 connections."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._dialect = engine.dialect
        self.dbapi_error: type[Exception] = engine.dialect.loaded_dbapi.Error
        self._compiled: dict[Executable, CompiledStatement] = {}

    @classmethod
    def for_factory(cls, session_factory: SessionFactory) -> SqliteDriver | None:
        """A driver when ``session_factory`` is a plain ``sessionmaker`` of a SQLite engine."""
        if not isinstance(session_factory, sessionmaker):
            return None
        # sessionmaker(class_=X) makes its own subclass of X: Session itself, or a plain copy.
        if session_factory.class_ is not Session and session_factory.class_.__bases__ != (Session,):
            return None
        bind = session_factory.kw.get("bind")
        if not isinstance(bind, Engine) or bind.dialect.name != "sqlite":
            return None
        return cls(bind)

    def compiled(self, statement: Executable) -> CompiledStatement:
        found = self._compiled.get(statement)
        if found is None:
            found = self._compiled[statement] = CompiledStatement.build(statement, self._dialect)
        return found

    def wrap(self, exc: Exception, sql: str | None, parameters: Any) -> sa_exc.StatementError:
        """``exc`` as the SQLAlchemy exception the ``Session`` path would have raised."""
        return sa_exc.DBAPIError.instance(
            sql, parameters, exc, self.dbapi_error, dialect=self._dialect
        )

    def run(
        self,
        action: str,
        work: Callable[[DriverTransaction], T],
        *,
        write: bool,
        idempotent: bool = True,
    ) -> T:
        """``work`` in one transaction (``BEGIN IMMEDIATE`` when it writes), retried whole.

        ``idempotent=False`` as in :func:`run_in_transaction`: a COMMIT whose outcome
        is unknown raises :class:`CommitOutcomeUnknownError` instead of a retry.
        """

        def attempt() -> T:
            connection = self._engine.raw_connection()
            try:
                cursor = connection.cursor()
                try:
                    begin = "BEGIN IMMEDIATE" if write else "BEGIN"
                    self._call(lambda: cursor.execute(begin), begin)
                    try:
                        result = work(DriverTransaction(self, cursor))
                        if write and idempotent:
                            self._call(connection.commit, "COMMIT")
                        elif write:
                            commit_once(lambda: self._call(connection.commit, "COMMIT"), action)
                    finally:
                        # Nothing to undo after a COMMIT; otherwise ends the transaction.
                        self._call(connection.rollback, "ROLLBACK")
                finally:
                    cursor.close()
            except sa_exc.DatabaseError as exc:
                raise_if_damaged(exc, action, self._engine)
                raise
            finally:
                connection.close()
            return result

        return with_retries(attempt, action)

    def _call(self, call: Callable[[], object], sql: str) -> None:
        """``call()`` (BEGIN, COMMIT, ROLLBACK), driver errors wrapped like SQLAlchemy's."""
        try:
            call()
        except self.dbapi_error as exc:
            raise self.wrap(exc, sql, None) from exc
