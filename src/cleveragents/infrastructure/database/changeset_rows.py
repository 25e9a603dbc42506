"""Changeset rows: mapping entries and invocations to rows and back, and the prebuilt statements.

Statements are built once: rebuilding and re-keying them on every call cost
more than reading 100 rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import Table, bindparam, exists, insert, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.sql.dml import ReturningInsert

from cleveragents.domain.models.core.change import (
    ChangeEntry,
    ChangeOperation,
    EntryKind,
    SpecChangeSet,
    ToolInvocation,
)
from cleveragents.domain.models.trusted import from_trusted, trusted_builder
from cleveragents.infrastructure.database.models import (
    CancelledPlanModel,
    ChangeSetEntryModel,
    ChangeSetModel,
    ToolInvocationModel,
)

ENTRIES = cast(Table, ChangeSetEntryModel.__table__)
INVOCATIONS = cast(Table, ToolInvocationModel.__table__)
CHANGESETS = cast(Table, ChangeSetModel.__table__)
CANCELLED = cast(Table, CancelledPlanModel.__table__)


def entry_values(entry: ChangeEntry) -> tuple[Any, ...]:
    """The row of ``entry``, in the order of ``ROW_FIELDS``."""
    return (
        entry.entry_id,
        entry.changeset_id,
        entry.plan_id,
        entry.path,
        _OPERATION_TEXT[entry.operation],
        entry.old_path,
        entry.before_hash,
        entry.after_hash,
        entry.diff,
        entry.insertions,
        entry.deletions,
        entry.tool_invocation_id,
        entry.metadata,
        entry.created_at,
        _KIND_TEXT[entry.kind],
        entry.before_mode,
        entry.after_mode,
        entry.rolled_back_by,
    )


def entry_to_row(entry: ChangeEntry) -> dict[str, Any]:
    return dict(zip(ROW_FIELDS, entry_values(entry), strict=True))


_ENTRY_COLUMNS = [
    ENTRIES.c.entry_id,
    ENTRIES.c.changeset_id,
    ENTRIES.c.plan_id,
    ENTRIES.c.path,
    ENTRIES.c.operation,
    ENTRIES.c.old_path,
    ENTRIES.c.before_hash,
    ENTRIES.c.after_hash,
    ENTRIES.c.diff,
    ENTRIES.c.insertions,
    ENTRIES.c.deletions,
    ENTRIES.c.tool_invocation_id,
    ENTRIES.c.entry_metadata,
    ENTRIES.c.created_at,
    ENTRIES.c.kind,
    ENTRIES.c.before_mode,
    ENTRIES.c.after_mode,
    ENTRIES.c.rolled_back_by,
]


_OPERATIONS = {operation.value: operation for operation in ChangeOperation}
_OPERATION_TEXT = {operation: operation.value for operation in ChangeOperation}


_KINDS = {kind.value: kind for kind in EntryKind}
_KIND_TEXT = {kind: kind.value for kind in EntryKind}


def entry_builder() -> Callable[[Sequence[Any]], ChangeEntry]:
    """What makes the entries of one read from rows of ``_ENTRY_COLUMNS`` (rows that
    were validated when they were written)."""
    new_entry = trusted_builder(ChangeEntry)

    def entry_to_domain(row: Sequence[Any]) -> ChangeEntry:
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
        return new_entry(
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
            }
        )

    return entry_to_domain


def invocation_to_row(invocation: ToolInvocation) -> dict[str, Any]:
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
    INVOCATIONS.c.invocation_id,
    INVOCATIONS.c.plan_id,
    INVOCATIONS.c.changeset_id,
    INVOCATIONS.c.tool_name,
    INVOCATIONS.c.arguments,
    INVOCATIONS.c.result,
    INVOCATIONS.c.error,
    INVOCATIONS.c.started_at,
    INVOCATIONS.c.duration_ms,
    INVOCATIONS.c.change_ids,
    INVOCATIONS.c.resource_refs,
    INVOCATIONS.c.provider_metadata,
    INVOCATIONS.c.rolled_back_by,
]


# Statements built once: rebuilding and re-keying them cost more than reading 100 rows.
ENTRY_QUERIES = {
    column.name: select(*_ENTRY_COLUMNS).where(column == bindparam("key")).order_by(ENTRIES.c.seq)
    for column in (ENTRIES.c.changeset_id, ENTRIES.c.plan_id)
}


INVOCATION_QUERIES = {
    column.name: select(*_INVOCATION_COLUMNS)
    .where(column == bindparam("key"))
    .order_by(INVOCATIONS.c.seq)
    for column in (INVOCATIONS.c.changeset_id, INVOCATIONS.c.plan_id)
}


ROW_FIELDS = tuple(column.name for column in _ENTRY_COLUMNS)


_INVOCATION_FIELDS = [column.name for column in _INVOCATION_COLUMNS]


HEADER_QUERY = select(CHANGESETS.c.plan_id, CHANGESETS.c.created_at).where(
    CHANGESETS.c.changeset_id == bindparam("key")
)


STARTED_QUERY = select(CHANGESETS.c.seq).where(
    CHANGESETS.c.changeset_id == bindparam("changeset_id"),
    CHANGESETS.c.plan_id == bindparam("plan_id"),
    ~exists().where(CANCELLED.c.plan_id == bindparam("plan_id")),
)


INSERT_ENTRY = insert(ENTRIES).values({name: bindparam(name) for name in ROW_FIELDS})


PLAN_HEADERS_QUERY = (
    select(CHANGESETS.c.changeset_id, CHANGESETS.c.created_at)
    .where(CHANGESETS.c.plan_id == bindparam("key"))
    .order_by(CHANGESETS.c.seq)
)


def _insert_if_started(cast_json: bool) -> ReturningInsert[tuple[int]]:
    """``INSERT ... SELECT :values WHERE`` the changeset exists for the entry's plan.

    PostgreSQL types the selected parameters as text, so JSON ones are cast there
    (SQLite must not cast: a JSON cast has numeric affinity and would turn text into 0).
    """

    def value(name: str) -> Any:
        column_type = ENTRIES.c[name].type
        parameter = bindparam(name, type_=column_type)
        return (
            sql_cast(parameter, column_type)
            if cast_json and name == "entry_metadata"
            else parameter
        )

    return (
        insert(ENTRIES)
        .from_select(
            ROW_FIELDS,
            select(*[value(name) for name in ROW_FIELDS]).where(
                CHANGESETS.c.changeset_id == bindparam("changeset_id"),
                CHANGESETS.c.plan_id == bindparam("plan_id"),
                ~exists().where(CANCELLED.c.plan_id == bindparam("plan_id")),
            ),
        )
        .returning(ENTRIES.c.seq)
    )


INSERT_IF_STARTED = {False: _insert_if_started(False), True: _insert_if_started(True)}


def invocation_to_domain(row: Sequence[Any]) -> ToolInvocation:
    return from_trusted(ToolInvocation, dict(zip(_INVOCATION_FIELDS, row, strict=True)))


def changeset(
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
