"""Shared helpers for step definitions: factories, ids, sample records, raw counts."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from behave.runner import Context
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from cleveragents.domain.models.core.change import ChangeEntry, ChangeOperation
from cleveragents.infrastructure.database.models import Base
from cleveragents.infrastructure.database.session import create_session_factory


def factory(context: Context) -> sessionmaker[Session]:
    """The scenario's session factory (created once, disposed after the scenario)."""
    if getattr(context, "session_factory", None) is None:
        context.session_factory = create_session_factory(context.url)
        engine = context.session_factory.kw["bind"]
        context.cleanups.append(engine.dispose)
    made: sessionmaker[Session] = context.session_factory
    return made


TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


@contextmanager
def watching_sql(engine: Engine) -> Iterator[list[str]]:
    """Every statement the database is sent on ``engine`` meanwhile, in order.

    SQLite reports what it runs itself (``set_trace_callback`` on each connection
    the pool hands out), so statements run on the driver connection are seen as
    well as those run through SQLAlchemy; PostgreSQL is watched through SQLAlchemy.
    """
    statements: list[str] = []
    if engine.dialect.name == "sqlite":

        def checkout(dbapi_connection: Any, *_: Any) -> None:
            dbapi_connection.set_trace_callback(statements.append)

        def checkin(dbapi_connection: Any, *_: Any) -> None:
            dbapi_connection.set_trace_callback(None)

        hooks: list[tuple[str, Callable[..., None]]] = [
            ("checkout", checkout),
            ("checkin", checkin),
        ]
    else:

        def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            statements.append(statement)

        hooks = [("before_cursor_execute", before)]
    for name, hook in hooks:
        event.listen(engine, name, hook)
    try:
        yield statements
    finally:
        for name, hook in hooks:
            event.remove(engine, name, hook)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def ids(context: Context) -> dict[str, str]:
    """Scenario names (``"A"``) of changesets mapped to their real ids."""
    if not hasattr(context, "names"):
        context.names = {}
    names: dict[str, str] = context.names
    return names


def real_id(context: Context, name: str) -> str:
    return ids(context).get(name, name)


def make_entry(context: Context, changeset: str, plan: str, row: dict[str, str]) -> ChangeEntry:
    """An entry from a table row: path, operation and optional counts/old_path/entry_id."""
    operation = ChangeOperation(row.get("operation", "modify"))
    path = row["path"]
    before = sha(f"before {path}") if operation is not ChangeOperation.CREATE else None
    after = sha(f"after {path}") if operation is not ChangeOperation.DELETE else None
    fields: dict[str, Any] = {
        "changeset_id": real_id(context, changeset),
        "plan_id": plan,
        "path": path,
        "operation": operation,
        "before_hash": before,
        "after_hash": after,
        "diff": row.get("diff", f"--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-old\n+new\n"),
        "insertions": int(row.get("insertions") or 0),
        "deletions": int(row.get("deletions") or 0),
    }
    if operation is ChangeOperation.RENAME:
        fields["old_path"] = row.get("old_path") or f"old/{path}"
    if row.get("entry_id"):
        fields["entry_id"] = row["entry_id"]
    return ChangeEntry(**fields)


def table_rows(context: Context) -> list[dict[str, str]]:
    return [dict(zip(row.headings, row.cells, strict=True)) for row in context.table]


def row_count(context: Context, table: str) -> int:
    """Rows in ``table``, counted with plain SQL."""
    model_table = Base.metadata.tables[table]
    with factory(context)() as session:
        return int(session.execute(select(func.count()).select_from(model_table)).scalar_one())


def attempt(context: Context, action: Callable[[], Any]) -> None:
    """Run ``action`` and keep its result or the exception it raised."""
    context.error = None
    context.result = None
    try:
        context.result = action()
    except Exception as exc:
        context.error = exc


def run_python(code: str, *args: str) -> Any:
    """Run ``code`` in a new Python process; it prints JSON, which is returned."""
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[3] / "src")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    completed = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    if completed.returncode != 0:
        raise AssertionError(f"child process failed ({completed.returncode}):\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])
