"""Changeset writes and reads run inside one transaction: checks, inserts, selects, deletes.

Every function runs in the caller's session (or on the SQLite driver's
transaction) and raises the contract's errors: an unknown changeset is
``RecordNotFoundError``, a plan mismatch ``ValueError``, a cancelled plan
``PlanCancelledError``, a repeated id in a batch ``DuplicateRecordError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, delete, insert, select
from sqlalchemy.orm import Session

from cleveragents._pacing import WRITE_PIECE, paced, pieces
from cleveragents.domain.models.core.change import ChangeEntry, ToolInvocation
from cleveragents.domain.redaction import SecretRedactor
from cleveragents.infrastructure.database.changeset_rows import (
    CHANGESETS,
    ENTRIES,
    ENTRY_QUERIES,
    INSERT_ENTRY,
    INSERT_IF_STARTED,
    INVOCATION_QUERIES,
    INVOCATIONS,
    ROW_FIELDS,
    STARTED_QUERY,
    entry_builder,
    entry_to_row,
    entry_values,
    invocation_to_domain,
    invocation_to_row,
)
from cleveragents.infrastructure.database.driver import DriverTransaction, SqliteDriver
from cleveragents.infrastructure.database.errors import (
    DuplicateRecordError,
    RecordNotFoundError,
)
from cleveragents.infrastructure.database.models import ToolInvocationModel
from cleveragents.infrastructure.database.plan_lock import lock_plans, refuse_cancelled
from cleveragents.infrastructure.database.repository_base import Rows
from cleveragents.infrastructure.database.session import SessionFactory, run_in_transaction

T = TypeVar("T")


def require(value: object, kind: type[Any], name: str) -> None:
    if not isinstance(value, kind):
        raise ValueError(f"{name} must be a {kind.__name__}, got {type(value).__name__}")


def record_entries(
    session_factory: SessionFactory,
    driver: SqliteDriver | None,
    entries: Sequence[ChangeEntry],
    action: str,
) -> int:
    """Persist entries in one transaction, all or nothing; returns how many.

    On the SQLite driver, a batch into one changeset is one check and one
    ``executemany`` (one entry: a single ``INSERT … SELECT``). When the check fails,
    or the batch spans changesets, the ``Session`` path runs the full checks and
    raises the precise error (unknown changeset, plan mismatch, cancelled plan).
    """
    refuse_repeated_ids(entries)
    targets = {(entry.changeset_id, entry.plan_id) for entry in entries}
    if driver is not None and len(targets) == 1:
        ((changeset_id, plan_id),) = targets

        def insert_all(transaction: DriverTransaction) -> bool:
            if len(entries) == 1:
                return bool(transaction.rows(INSERT_IF_STARTED[False], entry_to_row(entries[0])))
            target = {"changeset_id": changeset_id, "plan_id": plan_id}
            if not transaction.rows(STARTED_QUERY, target):
                return False
            transaction.execute_many(
                INSERT_ENTRY, ROW_FIELDS, [entry_values(entry) for entry in paced(entries)]
            )
            return True

        if driver.run(action, insert_all, write=True):
            return len(entries)
    return run_in_transaction(
        session_factory, action, lambda session: insert_entries(session, entries), write=True
    )


def plans_of_changesets(session: Session, changeset_ids: Iterable[str]) -> dict[str, str]:
    rows = session.execute(
        select(CHANGESETS.c.changeset_id, CHANGESETS.c.plan_id).where(
            CHANGESETS.c.changeset_id.in_(set(changeset_ids))
        )
    )
    return {str(changeset_id): str(plan_id) for changeset_id, plan_id in rows}


def guard_plans(session: Session, plan_ids: Iterable[str], what: str) -> None:
    plans = set(plan_ids)
    lock_plans(session, plans)
    refuse_cancelled(session, plans, what)


def check_targets(session: Session, pairs: Iterable[tuple[str, str]], what: str) -> None:
    """Every (changeset_id, plan_id) pair names a started changeset of that plan."""
    wanted = dict(pairs)
    known = plans_of_changesets(session, wanted)
    for changeset_id, plan_id in wanted.items():
        if changeset_id not in known:
            raise RecordNotFoundError(
                f"cannot record {what} into changeset {changeset_id}: it was never started"
            )
        if known[changeset_id] != plan_id:
            raise ValueError(
                f"cannot record {what} of plan {plan_id} into changeset {changeset_id}, "
                f"which belongs to plan {known[changeset_id]}"
            )


def refuse_rolled_back(record: ChangeEntry | ToolInvocation) -> None:
    """``rolled_back_by`` is the store's to set (by a rollback), never the caller's."""
    if record.rolled_back_by is not None:
        raise ValueError("rolled_back_by is set by a rollback, never when recording")


def refuse_repeated_ids(entries: Sequence[ChangeEntry]) -> None:
    seen: set[str] = set()
    for entry in paced(entries):
        refuse_rolled_back(entry)
        if entry.entry_id in seen:
            raise DuplicateRecordError(f"entry id {entry.entry_id} appears twice in one batch")
        seen.add(entry.entry_id)


def insert_entries(session: Session, entries: Sequence[ChangeEntry]) -> int:
    if len(entries) == 1:
        # One statement: the insert happens only when the changeset exists for this plan
        # and the plan was not cancelled (PostgreSQL takes the plan's lock first).
        connection = session.connection()
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            lock_plans(session, [entries[0].plan_id])
        statement = INSERT_IF_STARTED[postgres]
        if connection.execute(statement, entry_to_row(entries[0])).first() is not None:
            return 1
    guard_plans(session, (e.plan_id for e in entries), "entries")
    check_targets(session, ((e.changeset_id, e.plan_id) for e in entries), "entries")
    # Core insert (executemany), not the ORM bulk path: no per-row ORM bookkeeping.
    for piece in pieces(entries, WRITE_PIECE):  # one transaction; pause points between pieces
        session.execute(insert(ENTRIES), [entry_to_row(entry) for entry in piece])
    return len(entries)


def check_entries(entries: object) -> list[ChangeEntry]:
    if isinstance(entries, str | bytes) or not isinstance(entries, Sequence | Iterable):
        raise ValueError("entries must be a sequence of ChangeEntry")
    batch = list(entries)
    for index, entry in enumerate(batch):
        require(entry, ChangeEntry, f"entries[{index}]")
    return batch


def select_entries(statements: Rows, column: Any, value: str) -> list[ChangeEntry]:
    return statements.built(ENTRY_QUERIES[column.name], {"key": value}, entry_builder())


def select_invocations(statements: Rows, column: Any, value: str) -> list[ToolInvocation]:
    rows = statements.rows(INVOCATION_QUERIES[column.name], {"key": value})
    return [invocation_to_domain(row) for row in paced(rows)]


def delete_rows(session: Session, table: Any, column: Any, value: str) -> int:
    result = cast(CursorResult[Any], session.execute(delete(table).where(column == value)))
    return result.rowcount


def delete_plan(session: Session, plan_id: str) -> int:
    return (
        delete_rows(session, ENTRIES, ENTRIES.c.plan_id, plan_id)
        + delete_rows(session, INVOCATIONS, INVOCATIONS.c.plan_id, plan_id)
        + delete_rows(session, CHANGESETS, CHANGESETS.c.plan_id, plan_id)
    )


def redact_invocation(invocation: ToolInvocation, redactor: SecretRedactor) -> ToolInvocation:
    """The invocation as it is stored: secrets in arguments, result, error and
    provider metadata replaced (see :mod:`cleveragents.domain.redaction`)."""
    refuse_rolled_back(invocation)
    if not redactor.enabled:
        return invocation
    return invocation.model_copy(
        update={
            "arguments": redactor.value(invocation.arguments),
            "result": redactor.value(invocation.result),
            "error": None if invocation.error is None else redactor.text(invocation.error),
            "provider_metadata": redactor.value(invocation.provider_metadata),
        }
    )


def insert_invocation(session: Session, invocation: ToolInvocation) -> None:
    guard_plans(session, [invocation.plan_id], "a tool invocation")
    if invocation.changeset_id is not None:
        check_targets(session, [(invocation.changeset_id, invocation.plan_id)], "a tool invocation")
    session.execute(insert(ToolInvocationModel), [invocation_to_row(invocation)])
