"""Steps for retries, error translation, URL masking and concurrent writers."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from behave import given, then, when
from behave.runner import Context
from changeset_steps import store
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from support import parse_types  # noqa: F401  (registers {name:Text})
from support.world import attempt, factory, real_id, run_python

from cleveragents.domain.models.core.change import ChangeEntry, ChangeOperation
from cleveragents.infrastructure.database.changeset_repository import SqliteChangeSetStore
from cleveragents.infrastructure.database.errors import mask_url
from cleveragents.infrastructure.database.retry import database_retry
from cleveragents.infrastructure.database.session import create_session_factory


class _DriverError(Exception):
    """Stands in for a DB-API exception carrying a PostgreSQL SQLSTATE."""

    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


class SqliteDriverError(Exception):
    pass


SqliteDriverError.__module__ = "sqlite3"


def _failure(kind: str) -> BaseException:
    """A SQLAlchemy exception as the named driver failure would raise it."""
    failures: dict[str, Callable[[], BaseException]] = {
        "sqlite locked": lambda: sa_exc.OperationalError(
            "INSERT", {}, SqliteDriverError("database is locked")
        ),
        "sqlite busy": lambda: sa_exc.OperationalError(
            "INSERT", {}, SqliteDriverError("database is busy")
        ),
        "sqlite disk io": lambda: sa_exc.OperationalError(
            "INSERT", {}, SqliteDriverError("disk I/O error")
        ),
        "postgres serialization": lambda: sa_exc.OperationalError(
            "UPDATE", {}, _DriverError("could not serialize", "40001")
        ),
        "postgres deadlock": lambda: sa_exc.OperationalError(
            "UPDATE", {}, _DriverError("deadlock detected", "40P01")
        ),
        "postgres connection lost": lambda: sa_exc.OperationalError(
            "SELECT", {}, _DriverError("server closed the connection unexpectedly")
        ),
        "postgres syntax": lambda: sa_exc.ProgrammingError(
            "SELEC", {}, _DriverError("syntax error", "42601")
        ),
        "connection invalidated": lambda: sa_exc.DBAPIError(
            "SELECT", {}, _DriverError("gone"), connection_invalidated=True
        ),
        "pool timeout": lambda: sa_exc.TimeoutError("QueuePool limit reached"),
        "unique violation": lambda: sa_exc.IntegrityError(
            "INSERT", {}, SqliteDriverError("UNIQUE constraint failed: t.id")
        ),
        "postgres unique": lambda: sa_exc.IntegrityError(
            "INSERT", {}, _DriverError("duplicate key value violates unique constraint", "23505")
        ),
        "foreign key violation": lambda: sa_exc.IntegrityError(
            "INSERT", {}, SqliteDriverError("FOREIGN KEY constraint failed")
        ),
        "other integrity": lambda: sa_exc.IntegrityError(
            "INSERT", {}, SqliteDriverError("NOT NULL constraint failed: t.x")
        ),
        "programming error": lambda: sa_exc.ProgrammingError(
            "SELECT", {}, SqliteDriverError("no such table: t")
        ),
        "value error": lambda: ValueError("not a database problem"),
    }
    return failures[kind]()


@given('a function that fails {times:d} times with "{kind}" before succeeding')
def step_failing_function(context: Context, times: int, kind: str) -> None:
    context.calls = 0
    context.raised = []

    def flaky() -> str:
        context.calls += 1
        if context.calls <= times:
            failure = _failure(kind)
            context.raised.append(failure)
            raise failure
        return "done"

    context.flaky = flaky


@when("I call it through database_retry")
def step_call_retry(context: Context) -> None:
    context.result = database_retry(context.flaky)()


@when("I try to call it through database_retry")
def step_try_call_retry(context: Context) -> None:
    attempt(context, database_retry(context.flaky))


@when("I try to call it through database_retry with {attempts:d} attempts")
def step_try_call_attempts(context: Context, attempts: int) -> None:
    attempt(context, database_retry(attempts=attempts, action="flaky work")(context.flaky))


@when("I try to configure database_retry with {attempts:d} attempts")
def step_configure_attempts(context: Context, attempts: int) -> None:
    attempt(context, lambda: database_retry(attempts=attempts))


@when("I try to configure database_retry with a deadline of {seconds:d} seconds")
def step_configure_deadline(context: Context, seconds: int) -> None:
    attempt(context, lambda: database_retry(deadline=seconds))


@then("it was called {times:d} times")
def step_called(context: Context, times: int) -> None:
    assert context.calls == times, context.calls


@then('it returned "{value}"')
def step_returned(context: Context, value: str) -> None:
    assert context.result == value


@then("the original exception is its cause")
def step_cause(context: Context) -> None:
    assert context.error.__cause__ is context.raised[-1], context.error.__cause__


@then('the URL "{url}" is shown as "{shown}"')
def step_mask(context: Context, url: str, shown: str) -> None:
    assert mask_url(url) == shown, mask_url(url)


@then('the URL "{url}" is shown without "{secret}"')
def step_mask_secret(context: Context, url: str, secret: str) -> None:
    assert secret not in mask_url(url), mask_url(url)


@when("another connection holds the write lock on the entries for {seconds:d} second")
def step_hold_lock(context: Context, seconds: int) -> None:
    engine = factory(context).kw["bind"]
    locked = threading.Event()

    def hold() -> None:
        with engine.connect() as plain:
            connection = plain.execution_options(cleveragents_write=True)
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.execute(text("LOCK TABLE changeset_entries IN EXCLUSIVE MODE"))
                else:
                    connection.execute(text("DELETE FROM changeset_entries WHERE 1 = 0"))
                locked.set()
                time.sleep(seconds)

    context.holder = threading.Thread(target=hold)
    context.holder.start()
    context.cleanups.append(context.holder.join)
    assert locked.wait(10), "the lock holder never got the lock"
    context.lock_started = time.monotonic()


_CONCURRENT_WRITER = """
import json, sys
from cleveragents.infrastructure.database.session import create_session_factory
from cleveragents.infrastructure.database.changeset_repository import SqliteChangeSetStore
from cleveragents.domain.models.core.change import ChangeEntry
url, changeset_id, plan, worker, count = sys.argv[1:6]
store = SqliteChangeSetStore(create_session_factory(url))
for i in range(int(count)):
    store.record(ChangeEntry(changeset_id=changeset_id, plan_id=plan, path=f"w{worker}/{i:04d}.txt",
                             operation="create", after_hash=f"{i:064x}"))
print(json.dumps(int(count)))
"""


@when(
    '{workers:d} processes each record {count:d} entries into "{name}" for plan "{plan}" one by one'
)
def step_concurrent_writers(
    context: Context, workers: int, count: int, name: str, plan: str
) -> None:
    changeset_id = real_id(context, name)
    with ThreadPoolExecutor(workers) as pool:
        futures = [
            pool.submit(
                run_python, _CONCURRENT_WRITER, context.url, changeset_id, plan, str(w), str(count)
            )
            for w in range(workers)
        ]
        results: list[Any] = [f.result() for f in futures]
    assert results == [count] * workers, results
    context.workers = workers


@then('changeset "{name}" holds {count:d} entries')
def step_holds(context: Context, name: str, count: int) -> None:
    changeset = store(context).get(real_id(context, name))
    assert changeset is not None
    assert len(changeset.entries) == count, len(changeset.entries)
    assert len({e.path for e in changeset.entries}) == count
    context.changeset = changeset


@then("each process's entries are in its recording order")
def step_per_process_order(context: Context) -> None:
    for worker in range(context.workers):
        paths = [e.path for e in context.changeset.entries if e.path.startswith(f"w{worker}/")]
        assert paths == sorted(paths), paths[:5]


@when('a unit of work fails once with "{kind}" and then succeeds')
def step_unit_of_work(context: Context, kind: str) -> None:
    from sqlalchemy.orm import Session

    from cleveragents.infrastructure.database.session import run_in_transaction

    runs = {"n": 0}

    def work(session: Session) -> str:
        runs["n"] += 1
        session.execute(text("SELECT 1"))
        if runs["n"] == 1:
            raise _failure(kind)
        return "written"

    context.runs = runs
    attempt(context, lambda: run_in_transaction(factory(context), "test work", work, write=True))


@then("the unit of work ran {times:d} times")
def step_unit_runs(context: Context, times: int) -> None:
    assert context.runs["n"] == times, context.runs


@then("its result is returned")
def step_unit_result(context: Context) -> None:
    assert context.error is None, context.error
    assert context.result == "written"


@given("a SQLite database file of its own")
def step_own_sqlite(context: Context) -> None:
    context.own_sqlite = context.tmp / "own.db"
    context.own_factory = create_session_factory(f"sqlite:///{context.own_sqlite}")
    context.cleanups.append(context.own_factory.kw["bind"].dispose)


@when("a {megabytes:d} MB changeset batch and then one small entry are recorded in it")
def step_large_then_small(context: Context, megabytes: int) -> None:
    own = SqliteChangeSetStore(context.own_factory)
    changeset = own.start("plan-wal")

    def entry(path: str, size: int) -> ChangeEntry:
        return ChangeEntry(
            changeset_id=changeset.changeset_id,
            plan_id="plan-wal",
            path=path,
            operation=ChangeOperation.CREATE,
            after_hash=hashlib.sha256(path.encode()).hexdigest(),
            diff="+" + os.urandom(size // 2).hex(),
        )

    own.record_many([entry(f"big/{n}.txt", 1024 * 1024) for n in range(megabytes)])
    wal = Path(f"{context.own_sqlite}-wal")
    context.largest_wal = wal.stat().st_size
    own.record(entry("small.txt", 100))  # the log restarts here, after the checkpoint


@then("its journal mode is WAL, synchronous FULL, with foreign keys on")
def step_own_pragmas(context: Context) -> None:
    with context.own_factory() as session:
        found = [
            session.execute(text(f"PRAGMA {name}")).scalar_one()
            for name in ("journal_mode", "synchronous", "foreign_keys")
        ]
    assert found == ["wal", 2, 1], found


@then("its write-ahead log file is at most {mebibytes:d} MiB")
def step_wal_bounded(context: Context, mebibytes: int) -> None:
    size = Path(f"{context.own_sqlite}-wal").stat().st_size
    assert context.largest_wal > mebibytes * 1024 * 1024, context.largest_wal  # it did grow
    assert size <= mebibytes * 1024 * 1024, (size, context.largest_wal)
