"""Changeset persistence: entries, tool invocations and the ``ChangeSetStore``.

Every public method validates its arguments first, then runs as one transaction
(retried as a whole on transient failures). Batches are single executemany
inserts; a changeset is read in three statements whatever its size.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import (
    CursorResult,
    Table,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    select,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningInsert

from cleveragents.domain.models.core._types import new_id, require_id, utc_now
from cleveragents.domain.models.core.change import (
    ChangeEntry,
    ChangeOperation,
    ChangeSetSummary,
    EntryKind,
    SpecChangeSet,
    ToolInvocation,
)
from cleveragents.domain.redaction import DEFAULT_REDACTOR, SecretRedactor
from cleveragents.infrastructure.database.driver import DriverTransaction, SqliteDriver
from cleveragents.infrastructure.database.errors import (
    DuplicateRecordError,
    RecordNotFoundError,
)
from cleveragents.infrastructure.database.models import (
    CancelledPlanModel,
    ChangeSetEntryModel,
    ChangeSetModel,
    ToolInvocationModel,
)
from cleveragents.infrastructure.database.plan_lock import lock_plans, refuse_cancelled
from cleveragents.infrastructure.database.repository_base import Repository, Rows
from cleveragents.infrastructure.database.rollback_marks import roll_back
from cleveragents.infrastructure.database.session import (
    SessionFactory,
    run_in_transaction,
)
from cleveragents.infrastructure.database.trusted import from_trusted

_ENTRIES = cast(Table, ChangeSetEntryModel.__table__)
_INVOCATIONS = cast(Table, ToolInvocationModel.__table__)
_CHANGESETS = cast(Table, ChangeSetModel.__table__)
_CANCELLED = cast(Table, CancelledPlanModel.__table__)

T = TypeVar("T")


# The id rule is the domain's; kept under this name for existing callers.
valid_id = require_id


def _require(value: object, kind: type[Any], name: str) -> None:
    if not isinstance(value, kind):
        raise ValueError(f"{name} must be a {kind.__name__}, got {type(value).__name__}")


# --- mapping between rows and domain models -------------------------------------------


def _entry_to_row(entry: ChangeEntry) -> dict[str, Any]:
    return {
        "entry_id": entry.entry_id,
        "changeset_id": entry.changeset_id,
        "plan_id": entry.plan_id,
        "path": entry.path,
        "operation": entry.operation.value,
        "old_path": entry.old_path,
        "before_hash": entry.before_hash,
        "after_hash": entry.after_hash,
        "diff": entry.diff,
        "insertions": entry.insertions,
        "deletions": entry.deletions,
        "tool_invocation_id": entry.tool_invocation_id,
        "entry_metadata": entry.metadata,
        "created_at": entry.created_at,
        "kind": entry.kind.value,
        "before_mode": entry.before_mode,
        "after_mode": entry.after_mode,
        "rolled_back_by": entry.rolled_back_by,
    }


_ENTRY_COLUMNS = [
    _ENTRIES.c.entry_id,
    _ENTRIES.c.changeset_id,
    _ENTRIES.c.plan_id,
    _ENTRIES.c.path,
    _ENTRIES.c.operation,
    _ENTRIES.c.old_path,
    _ENTRIES.c.before_hash,
    _ENTRIES.c.after_hash,
    _ENTRIES.c.diff,
    _ENTRIES.c.insertions,
    _ENTRIES.c.deletions,
    _ENTRIES.c.tool_invocation_id,
    _ENTRIES.c.entry_metadata,
    _ENTRIES.c.created_at,
    _ENTRIES.c.kind,
    _ENTRIES.c.before_mode,
    _ENTRIES.c.after_mode,
    _ENTRIES.c.rolled_back_by,
]


_OPERATIONS = {operation.value: operation for operation in ChangeOperation}
_KINDS = {kind.value: kind for kind in EntryKind}


def _entry_to_domain(row: Sequence[Any]) -> ChangeEntry:
    (
        entry_id,
        changeset_id,
        plan_id,
        path,
        operation,
        old_path,
        before_hash,
        after_hash,
        diff,
        insertions,
        deletions,
        tool_invocation_id,
        metadata,
        created_at,
        kind,
        before_mode,
        after_mode,
        rolled_back_by,
    ) = row
    return from_trusted(
        ChangeEntry,
        {
            "entry_id": entry_id,
            "changeset_id": changeset_id,
            "plan_id": plan_id,
            "path": path,
            "operation": _OPERATIONS[operation],
            "old_path": old_path,
            "before_hash": before_hash,
            "after_hash": after_hash,
            "diff": diff,
            "insertions": insertions,
            "deletions": deletions,
            "tool_invocation_id": tool_invocation_id,
            "metadata": metadata,
            "created_at": created_at,
            "kind": _KINDS[kind],
            "before_mode": before_mode,
            "after_mode": after_mode,
            "rolled_back_by": rolled_back_by,
        },
    )


def _invocation_to_row(invocation: ToolInvocation) -> dict[str, Any]:
    return {
        "invocation_id": invocation.invocation_id,
        "plan_id": invocation.plan_id,
        "changeset_id": invocation.changeset_id,
        "tool_name": invocation.tool_name,
        "arguments": invocation.arguments,
        "result": invocation.result,
        "error": invocation.error,
        "started_at": invocation.started_at,
        "duration_ms": invocation.duration_ms,
        "change_ids": invocation.change_ids,
        "resource_refs": invocation.resource_refs,
        "provider_metadata": invocation.provider_metadata,
        "rolled_back_by": invocation.rolled_back_by,
    }


_INVOCATION_COLUMNS = [
    _INVOCATIONS.c.invocation_id,
    _INVOCATIONS.c.plan_id,
    _INVOCATIONS.c.changeset_id,
    _INVOCATIONS.c.tool_name,
    _INVOCATIONS.c.arguments,
    _INVOCATIONS.c.result,
    _INVOCATIONS.c.error,
    _INVOCATIONS.c.started_at,
    _INVOCATIONS.c.duration_ms,
    _INVOCATIONS.c.change_ids,
    _INVOCATIONS.c.resource_refs,
    _INVOCATIONS.c.provider_metadata,
    _INVOCATIONS.c.rolled_back_by,
]


# Statements built once: rebuilding and re-keying them cost more than reading 100 rows.
_ENTRY_QUERIES = {
    column.name: select(*_ENTRY_COLUMNS).where(column == bindparam("key")).order_by(_ENTRIES.c.seq)
    for column in (_ENTRIES.c.changeset_id, _ENTRIES.c.plan_id)
}
_INVOCATION_QUERIES = {
    column.name: select(*_INVOCATION_COLUMNS)
    .where(column == bindparam("key"))
    .order_by(_INVOCATIONS.c.seq)
    for column in (_INVOCATIONS.c.changeset_id, _INVOCATIONS.c.plan_id)
}
_ROW_FIELDS = [column.name for column in _ENTRY_COLUMNS]
_INVOCATION_FIELDS = [column.name for column in _INVOCATION_COLUMNS]
_HEADER_QUERY = select(_CHANGESETS.c.plan_id, _CHANGESETS.c.created_at).where(
    _CHANGESETS.c.changeset_id == bindparam("key")
)
_STARTED_QUERY = select(_CHANGESETS.c.seq).where(
    _CHANGESETS.c.changeset_id == bindparam("changeset_id"),
    _CHANGESETS.c.plan_id == bindparam("plan_id"),
    ~exists().where(_CANCELLED.c.plan_id == bindparam("plan_id")),
)
_INSERT_ENTRY = insert(_ENTRIES).values({name: bindparam(name) for name in _ROW_FIELDS})
_PLAN_HEADERS_QUERY = (
    select(_CHANGESETS.c.changeset_id, _CHANGESETS.c.created_at)
    .where(_CHANGESETS.c.plan_id == bindparam("key"))
    .order_by(_CHANGESETS.c.seq)
)


def _insert_if_started(cast_json: bool) -> ReturningInsert[tuple[int]]:
    """``INSERT ... SELECT :values WHERE`` the changeset exists for the entry's plan.

    PostgreSQL types the selected parameters as text, so JSON ones are cast there
    (SQLite must not cast: a JSON cast has numeric affinity and would turn text into 0).
    """

    def value(name: str) -> Any:
        column_type = _ENTRIES.c[name].type
        parameter = bindparam(name, type_=column_type)
        return (
            sql_cast(parameter, column_type)
            if cast_json and name == "entry_metadata"
            else parameter
        )

    return (
        insert(_ENTRIES)
        .from_select(
            _ROW_FIELDS,
            select(*[value(name) for name in _ROW_FIELDS]).where(
                _CHANGESETS.c.changeset_id == bindparam("changeset_id"),
                _CHANGESETS.c.plan_id == bindparam("plan_id"),
                ~exists().where(_CANCELLED.c.plan_id == bindparam("plan_id")),
            ),
        )
        .returning(_ENTRIES.c.seq)
    )


_INSERT_IF_STARTED = {False: _insert_if_started(False), True: _insert_if_started(True)}


def _invocation_to_domain(row: Sequence[Any]) -> ToolInvocation:
    return from_trusted(ToolInvocation, dict(zip(_INVOCATION_FIELDS, row, strict=True)))


def _changeset(
    changeset_id: str,
    plan_id: str,
    created_at: Any,
    entries: list[ChangeEntry],
    invocations: list[ToolInvocation],
) -> SpecChangeSet:
    return from_trusted(
        SpecChangeSet,
        {
            "changeset_id": changeset_id,
            "plan_id": plan_id,
            "created_at": created_at,
            "entries": entries,
            "invocations": invocations,
        },
    )


# --- shared queries ---------------------------------------------------------------------


def _record_entries(
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
    _refuse_repeated_ids(entries)
    targets = {(entry.changeset_id, entry.plan_id) for entry in entries}
    if driver is not None and len(targets) == 1:
        ((changeset_id, plan_id),) = targets

        def insert_all(transaction: DriverTransaction) -> bool:
            if len(entries) == 1:
                return bool(transaction.rows(_INSERT_IF_STARTED[False], _entry_to_row(entries[0])))
            target = {"changeset_id": changeset_id, "plan_id": plan_id}
            if not transaction.rows(_STARTED_QUERY, target):
                return False
            transaction.execute_many(_INSERT_ENTRY, [_entry_to_row(entry) for entry in entries])
            return True

        if driver.run(action, insert_all, write=True):
            return len(entries)
    return run_in_transaction(
        session_factory, action, lambda session: _insert_entries(session, entries), write=True
    )


def _plans_of_changesets(session: Session, changeset_ids: Iterable[str]) -> dict[str, str]:
    rows = session.execute(
        select(_CHANGESETS.c.changeset_id, _CHANGESETS.c.plan_id).where(
            _CHANGESETS.c.changeset_id.in_(set(changeset_ids))
        )
    )
    return {str(changeset_id): str(plan_id) for changeset_id, plan_id in rows}


def _guard_plans(session: Session, plan_ids: Iterable[str], what: str) -> None:
    plans = set(plan_ids)
    lock_plans(session, plans)
    refuse_cancelled(session, plans, what)


def _check_targets(session: Session, pairs: Iterable[tuple[str, str]], what: str) -> None:
    """Every (changeset_id, plan_id) pair names a started changeset of that plan."""
    wanted = dict(pairs)
    known = _plans_of_changesets(session, wanted)
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


def _refuse_rolled_back(record: ChangeEntry | ToolInvocation) -> None:
    """``rolled_back_by`` is the store's to set (by a rollback), never the caller's."""
    if record.rolled_back_by is not None:
        raise ValueError("rolled_back_by is set by a rollback, never when recording")


def _refuse_repeated_ids(entries: Sequence[ChangeEntry]) -> None:
    seen: set[str] = set()
    for entry in entries:
        _refuse_rolled_back(entry)
        if entry.entry_id in seen:
            raise DuplicateRecordError(f"entry id {entry.entry_id} appears twice in one batch")
        seen.add(entry.entry_id)


def _insert_entries(session: Session, entries: Sequence[ChangeEntry]) -> int:
    if len(entries) == 1:
        # One statement: the insert happens only when the changeset exists for this plan
        # and the plan was not cancelled (PostgreSQL takes the plan's lock first).
        connection = session.connection()
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            lock_plans(session, [entries[0].plan_id])
        statement = _INSERT_IF_STARTED[postgres]
        if connection.execute(statement, _entry_to_row(entries[0])).first() is not None:
            return 1
    _guard_plans(session, (e.plan_id for e in entries), "entries")
    _check_targets(session, ((e.changeset_id, e.plan_id) for e in entries), "entries")
    # Core insert (executemany), not the ORM bulk path: no per-row ORM bookkeeping.
    session.execute(insert(_ENTRIES), [_entry_to_row(entry) for entry in entries])
    return len(entries)


def _check_entries(entries: object) -> list[ChangeEntry]:
    if isinstance(entries, str | bytes) or not isinstance(entries, Sequence | Iterable):
        raise ValueError("entries must be a sequence of ChangeEntry")
    batch = list(entries)
    for index, entry in enumerate(batch):
        _require(entry, ChangeEntry, f"entries[{index}]")
    return batch


def _select_entries(statements: Rows, column: Any, value: str) -> list[ChangeEntry]:
    rows = statements.rows(_ENTRY_QUERIES[column.name], {"key": value})
    return [_entry_to_domain(row) for row in rows]


def _select_invocations(statements: Rows, column: Any, value: str) -> list[ToolInvocation]:
    rows = statements.rows(_INVOCATION_QUERIES[column.name], {"key": value})
    return [_invocation_to_domain(row) for row in rows]


def _delete_rows(session: Session, table: Any, column: Any, value: str) -> int:
    result = cast(CursorResult[Any], session.execute(delete(table).where(column == value)))
    return result.rowcount


def _delete_plan(session: Session, plan_id: str) -> int:
    return (
        _delete_rows(session, _ENTRIES, _ENTRIES.c.plan_id, plan_id)
        + _delete_rows(session, _INVOCATIONS, _INVOCATIONS.c.plan_id, plan_id)
        + _delete_rows(session, _CHANGESETS, _CHANGESETS.c.plan_id, plan_id)
    )


# --- repositories -----------------------------------------------------------------------


class ChangeSetEntryRepository(Repository):
    """Persistence of ``ChangeEntry`` records."""

    def save_entry(self, entry: ChangeEntry) -> ChangeEntry:
        """Persist one entry into its started changeset."""
        _require(entry, ChangeEntry, "entry")
        _record_entries(
            self._session_factory, self._driver, [entry], f"save entry {entry.entry_id}"
        )
        return entry

    def save_entries(self, entries: Sequence[ChangeEntry]) -> int:
        """Persist a batch in one transaction, all or nothing; returns how many."""
        batch = _check_entries(entries)
        if not batch:
            return 0
        return _record_entries(
            self._session_factory, self._driver, batch, f"save {len(batch)} entries"
        )

    def get_entries_for_changeset(self, changeset_id: str) -> list[ChangeEntry]:
        """The changeset's entries in recording order."""
        key = valid_id(changeset_id, "changeset_id")
        return self._read_rows(
            f"read entries of changeset {key}",
            lambda statements: _select_entries(statements, _ENTRIES.c.changeset_id, key),
        )

    def get_entries_for_plan(self, plan_id: str) -> list[ChangeEntry]:
        """Every entry of the plan in recording order."""
        key = valid_id(plan_id, "plan_id")
        return self._read_rows(
            f"read entries of plan {key}",
            lambda statements: _select_entries(statements, _ENTRIES.c.plan_id, key),
        )

    def delete_for_changeset(self, changeset_id: str) -> int:
        """Delete the changeset's entries; returns how many."""
        key = valid_id(changeset_id, "changeset_id")
        return self._write(
            f"delete entries of changeset {key}",
            lambda session: _delete_rows(session, _ENTRIES, _ENTRIES.c.changeset_id, key),
        )

    def delete_for_plan(self, plan_id: str) -> int:
        """Delete every entry of the plan; returns how many."""
        key = valid_id(plan_id, "plan_id")
        return self._write(
            f"delete entries of plan {key}",
            lambda session: _delete_rows(session, _ENTRIES, _ENTRIES.c.plan_id, key),
        )


def redact_invocation(invocation: ToolInvocation, redactor: SecretRedactor) -> ToolInvocation:
    """The invocation as it is stored: secrets in arguments, result, error and
    provider metadata replaced (see :mod:`cleveragents.domain.redaction`)."""
    _refuse_rolled_back(invocation)
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


def _insert_invocation(session: Session, invocation: ToolInvocation) -> None:
    _guard_plans(session, [invocation.plan_id], "a tool invocation")
    if invocation.changeset_id is not None:
        _check_targets(
            session, [(invocation.changeset_id, invocation.plan_id)], "a tool invocation"
        )
    session.execute(insert(ToolInvocationModel), [_invocation_to_row(invocation)])


class ToolInvocationRepository(Repository):
    """Persistence of ``ToolInvocation`` records (the audit trail of tool calls).

    Secrets are redacted before an invocation is stored (``redactor``; see
    :mod:`cleveragents.domain.redaction`).
    """

    def __init__(
        self, session_factory: SessionFactory, *, redactor: SecretRedactor = DEFAULT_REDACTOR
    ) -> None:
        super().__init__(session_factory)
        _require(redactor, SecretRedactor, "redactor")
        self._redactor = redactor

    def save_invocation(self, invocation: ToolInvocation) -> ToolInvocation:
        """Persist one invocation (into its changeset, when it names one); returns it as stored."""
        _require(invocation, ToolInvocation, "invocation")
        stored = redact_invocation(invocation, self._redactor)
        self._write(
            f"save tool invocation {invocation.invocation_id}",
            lambda session: _insert_invocation(session, stored),
        )
        return stored

    def get_invocations_for_plan(self, plan_id: str) -> list[ToolInvocation]:
        """Every invocation of the plan in recording order."""
        key = valid_id(plan_id, "plan_id")
        return self._read_rows(
            f"read tool invocations of plan {key}",
            lambda statements: _select_invocations(statements, _INVOCATIONS.c.plan_id, key),
        )

    def get_invocations_for_changeset(self, changeset_id: str) -> list[ToolInvocation]:
        """The changeset's invocations in recording order."""
        key = valid_id(changeset_id, "changeset_id")
        return self._read_rows(
            f"read tool invocations of changeset {key}",
            lambda statements: _select_invocations(statements, _INVOCATIONS.c.changeset_id, key),
        )

    def delete_for_plan(self, plan_id: str) -> int:
        """Delete every invocation of the plan; returns how many."""
        key = valid_id(plan_id, "plan_id")
        return self._write(
            f"delete tool invocations of plan {key}",
            lambda session: _delete_rows(session, _INVOCATIONS, _INVOCATIONS.c.plan_id, key),
        )


class SqliteChangeSetStore(Repository):
    """``ChangeSetStore`` on any supported backend (SQLite or PostgreSQL).

    Secrets in tool invocations are redacted before they are stored (``redactor``).
    """

    def __init__(
        self, session_factory: SessionFactory, *, redactor: SecretRedactor = DEFAULT_REDACTOR
    ) -> None:
        super().__init__(session_factory)
        _require(redactor, SecretRedactor, "redactor")
        self._redactor = redactor

    def start(self, plan_id: str) -> SpecChangeSet:
        """Persist and return a new, empty changeset for ``plan_id``."""
        changeset = SpecChangeSet(
            changeset_id=new_id(), plan_id=valid_id(plan_id, "plan_id"), created_at=utc_now()
        )

        def work(session: Session) -> None:
            _guard_plans(session, [changeset.plan_id], "a new changeset")
            session.execute(
                insert(ChangeSetModel),
                [
                    {
                        "changeset_id": changeset.changeset_id,
                        "plan_id": changeset.plan_id,
                        "created_at": changeset.created_at,
                    }
                ],
            )

        self._write(f"start a changeset for plan {plan_id}", work)
        return changeset

    def record(self, entry: ChangeEntry) -> ChangeEntry:
        """Persist one entry into its started changeset."""
        _require(entry, ChangeEntry, "entry")
        _record_entries(
            self._session_factory, self._driver, [entry], f"record entry {entry.entry_id}"
        )
        return entry

    def record_many(self, entries: Sequence[ChangeEntry]) -> int:
        """Persist entries in one transaction, all or nothing; returns how many."""
        batch = _check_entries(entries)
        if not batch:
            return 0
        return _record_entries(
            self._session_factory, self._driver, batch, f"record {len(batch)} entries"
        )

    def record_invocation(self, invocation: ToolInvocation) -> ToolInvocation:
        """Persist one tool invocation; returns it as stored (secrets redacted)."""
        _require(invocation, ToolInvocation, "invocation")
        stored = redact_invocation(invocation, self._redactor)
        self._write(
            f"record tool invocation {invocation.invocation_id}",
            lambda session: _insert_invocation(session, stored),
        )
        return stored

    def get(self, changeset_id: str) -> SpecChangeSet | None:
        """The changeset with its entries and invocations (three statements), or None."""
        key = valid_id(changeset_id, "changeset_id")

        def work(statements: Rows) -> SpecChangeSet | None:
            headers = statements.rows(_HEADER_QUERY, {"key": key})
            if not headers:
                return None
            plan_id, created_at = headers[0]
            return _changeset(
                key,
                plan_id,
                created_at,
                _select_entries(statements, _ENTRIES.c.changeset_id, key),
                _select_invocations(statements, _INVOCATIONS.c.changeset_id, key),
            )

        return self._read_rows(f"read changeset {key}", work)

    def get_for_plan(self, plan_id: str) -> list[SpecChangeSet]:
        """Every changeset of the plan, oldest first (three statements)."""
        key = valid_id(plan_id, "plan_id")

        def work(statements: Rows) -> list[SpecChangeSet]:
            changesets = {
                changeset_id: _changeset(changeset_id, key, created_at, [], [])
                for changeset_id, created_at in statements.rows(_PLAN_HEADERS_QUERY, {"key": key})
            }
            for entry in _select_entries(statements, _ENTRIES.c.plan_id, key):
                changesets[entry.changeset_id].entries.append(entry)
            for invocation in _select_invocations(statements, _INVOCATIONS.c.plan_id, key):
                if invocation.changeset_id in changesets:
                    changesets[invocation.changeset_id].invocations.append(invocation)
            return list(changesets.values())

        return self._read_rows(f"read changesets of plan {key}", work)

    def summarize(self, changeset_id: str) -> ChangeSetSummary:
        """Counts over one changeset, computed by the database."""
        key = valid_id(changeset_id, "changeset_id")

        def work(session: Session) -> ChangeSetSummary:
            plan_id = session.execute(
                select(_CHANGESETS.c.plan_id).where(_CHANGESETS.c.changeset_id == key)
            ).scalar_one_or_none()
            if plan_id is None:
                raise RecordNotFoundError(f"cannot summarize changeset {key}: it does not exist")
            live_entry = and_(_ENTRIES.c.changeset_id == key, _ENTRIES.c.rolled_back_by.is_(None))
            by_operation: dict[str, int] = {
                str(op): int(count)
                for op, count in session.execute(
                    select(_ENTRIES.c.operation, func.count())
                    .where(live_entry)
                    .group_by(_ENTRIES.c.operation)
                )
            }
            totals = session.execute(
                select(
                    func.coalesce(func.sum(_ENTRIES.c.insertions), 0),
                    func.coalesce(func.sum(_ENTRIES.c.deletions), 0),
                ).where(live_entry)
            ).one()
            rolled_back = session.execute(
                select(func.count()).where(
                    _ENTRIES.c.changeset_id == key, _ENTRIES.c.rolled_back_by.is_not(None)
                )
            ).scalar_one()
            paths = list(
                session.execute(
                    select(_ENTRIES.c.path).where(live_entry).distinct().order_by(_ENTRIES.c.path)
                ).scalars()
            )
            calls, failed = session.execute(
                select(
                    func.count(),
                    func.coalesce(
                        func.sum(case((_INVOCATIONS.c.error.is_not(None), 1), else_=0)), 0
                    ),
                ).where(_INVOCATIONS.c.changeset_id == key, _INVOCATIONS.c.rolled_back_by.is_(None))
            ).one()
            return ChangeSetSummary(
                changeset_id=key,
                plan_id=plan_id,
                files_changed=len(paths),
                created=by_operation.get(ChangeOperation.CREATE.value, 0),
                modified=by_operation.get(ChangeOperation.MODIFY.value, 0),
                deleted=by_operation.get(ChangeOperation.DELETE.value, 0),
                renamed=by_operation.get(ChangeOperation.RENAME.value, 0),
                insertions=int(totals[0]),
                deletions=int(totals[1]),
                tool_invocations=int(calls),
                failed_invocations=int(failed),
                paths=sorted(paths),
                rolled_back=int(rolled_back),
            )

        return self._read(f"summarize changeset {key}", work)

    def delete_for_plan(self, plan_id: str) -> int:
        """Delete the plan's entries, invocations and changeset headers; returns rows deleted."""
        key = valid_id(plan_id, "plan_id")

        return self._write(
            f"delete changesets of plan {key}", lambda session: _delete_plan(session, key)
        )

    def cancel_plan(self, plan_id: str) -> int:
        """Tombstone the plan and delete its records in one transaction; returns rows deleted.

        Afterwards ``start`` and every ``record*`` for the plan raise
        :class:`PlanCancelledError`. Cancelling twice is harmless (the tombstone stays).
        """
        key = valid_id(plan_id, "plan_id")

        def work(session: Session) -> int:
            lock_plans(session, [key], exclusive=True)
            if (
                session.execute(
                    select(_CANCELLED.c.plan_id).where(_CANCELLED.c.plan_id == key)
                ).first()
                is None
            ):
                session.execute(insert(_CANCELLED), [{"plan_id": key, "cancelled_at": utc_now()}])
            return _delete_plan(session, key)

        return self._write(f"cancel plan {key}", work)

    def roll_back(
        self,
        plan_id: str,
        checkpoint_id: str,
        safety_checkpoint_id: str | None,
        *,
        dry_run: bool = False,
    ) -> tuple[int, int]:
        """Make live exactly the plan's records that were live when the checkpoint was made.

        Every other live entry and invocation gets ``rolled_back_by =
        safety_checkpoint_id``, in one transaction; returns how many of each. A dry
        run writes nothing. ``ValueError`` for a checkpoint of another plan,
        ``RecordNotFoundError`` for an unknown one.
        """
        key = valid_id(plan_id, "plan_id")
        target = valid_id(checkpoint_id, "checkpoint_id")
        safety = (
            None
            if safety_checkpoint_id is None
            else valid_id(safety_checkpoint_id, "safety_checkpoint_id")
        )
        action = f"roll plan {key} back to checkpoint {target}"

        def work(session: Session) -> tuple[int, int]:
            return roll_back(session, key, target, safety, dry_run=dry_run)

        return self._read(action, work) if dry_run else self._write(action, work)

    def is_cancelled(self, plan_id: str) -> bool:
        """True once :meth:`cancel_plan` ran for the plan."""
        key = valid_id(plan_id, "plan_id")

        def work(session: Session) -> bool:
            query = select(_CANCELLED.c.plan_id).where(_CANCELLED.c.plan_id == key)
            return session.execute(query).first() is not None

        return self._read(f"read the state of plan {key}", work)
