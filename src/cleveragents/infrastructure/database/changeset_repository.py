"""Changeset persistence: entries, tool invocations and the ``ChangeSetStore``.

Every public method validates its arguments first, then runs as one transaction
(retried as a whole on transient failures). Batches are single executemany
inserts; a changeset is read in three statements whatever its size.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, case, func, insert, select
from sqlalchemy.orm import Session

from cleveragents.domain.models.core._types import new_id, require_id, utc_now
from cleveragents.domain.models.core.change import (
    ChangeEntry,
    ChangeOperation,
    ChangeSetSummary,
    SpecChangeSet,
    ToolInvocation,
)
from cleveragents.domain.redaction import DEFAULT_REDACTOR, SecretRedactor
from cleveragents.infrastructure.database.changeset_rows import (
    CANCELLED,
    CHANGESETS,
    ENTRIES,
    HEADER_QUERY,
    INVOCATIONS,
    PLAN_HEADERS_QUERY,
    changeset,
)
from cleveragents.infrastructure.database.changeset_writes import (
    check_entries,
    delete_plan,
    delete_rows,
    guard_plans,
    insert_invocation,
    record_entries,
    redact_invocation,
    require,
    select_entries,
    select_invocations,
)
from cleveragents.infrastructure.database.errors import RecordNotFoundError
from cleveragents.infrastructure.database.models import ChangeSetModel
from cleveragents.infrastructure.database.plan_lock import lock_plans
from cleveragents.infrastructure.database.repository_base import Repository, Rows
from cleveragents.infrastructure.database.rollback_marks import roll_back
from cleveragents.infrastructure.database.session import SessionFactory

__all__ = [
    "ChangeSetEntryRepository",
    "ChangeSetRepository",
    "SqliteChangeSetStore",
    "ToolInvocationRepository",
    "redact_invocation",
]


class ChangeSetEntryRepository(Repository):
    """Persistence of ``ChangeEntry`` records."""

    def save_entry(self, entry: ChangeEntry) -> ChangeEntry:
        """Persist one entry into its started changeset."""
        require(entry, ChangeEntry, "entry")
        record_entries(self._session_factory, self._driver, [entry], f"save entry {entry.entry_id}")
        return entry

    def save_entries(self, entries: Sequence[ChangeEntry]) -> int:
        """Persist a batch in one transaction, all or nothing; returns how many."""
        batch = check_entries(entries)
        if not batch:
            return 0
        return record_entries(
            self._session_factory, self._driver, batch, f"save {len(batch)} entries"
        )

    def get_entries_for_changeset(self, changeset_id: str) -> list[ChangeEntry]:
        """The changeset's entries in recording order."""
        key = require_id(changeset_id, "changeset_id")
        return self._read_rows(
            f"read entries of changeset {key}",
            lambda statements: select_entries(statements, ENTRIES.c.changeset_id, key),
        )

    def get_entries_for_plan(self, plan_id: str) -> list[ChangeEntry]:
        """Every entry of the plan in recording order."""
        key = require_id(plan_id, "plan_id")
        return self._read_rows(
            f"read entries of plan {key}",
            lambda statements: select_entries(statements, ENTRIES.c.plan_id, key),
        )

    def delete_for_changeset(self, changeset_id: str) -> int:
        """Delete the changeset's entries; returns how many."""
        key = require_id(changeset_id, "changeset_id")
        return self._write(
            f"delete entries of changeset {key}",
            lambda session: delete_rows(session, ENTRIES, ENTRIES.c.changeset_id, key),
        )

    def delete_for_plan(self, plan_id: str) -> int:
        """Delete every entry of the plan; returns how many."""
        key = require_id(plan_id, "plan_id")
        return self._write(
            f"delete entries of plan {key}",
            lambda session: delete_rows(session, ENTRIES, ENTRIES.c.plan_id, key),
        )


class ToolInvocationRepository(Repository):
    """Persistence of ``ToolInvocation`` records (the audit trail of tool calls).

    Secrets are redacted before an invocation is stored (``redactor``; see
    :mod:`cleveragents.domain.redaction`).
    """

    def __init__(
        self, session_factory: SessionFactory, *, redactor: SecretRedactor = DEFAULT_REDACTOR
    ) -> None:
        super().__init__(session_factory)
        require(redactor, SecretRedactor, "redactor")
        self._redactor = redactor

    def save_invocation(self, invocation: ToolInvocation) -> ToolInvocation:
        """Persist one invocation (into its changeset, when it names one); returns it as stored."""
        require(invocation, ToolInvocation, "invocation")
        stored = redact_invocation(invocation, self._redactor)
        self._write(
            f"save tool invocation {invocation.invocation_id}",
            lambda session: insert_invocation(session, stored),
        )
        return stored

    def get_invocations_for_plan(self, plan_id: str) -> list[ToolInvocation]:
        """Every invocation of the plan in recording order."""
        key = require_id(plan_id, "plan_id")
        return self._read_rows(
            f"read tool invocations of plan {key}",
            lambda statements: select_invocations(statements, INVOCATIONS.c.plan_id, key),
        )

    def get_invocations_for_changeset(self, changeset_id: str) -> list[ToolInvocation]:
        """The changeset's invocations in recording order."""
        key = require_id(changeset_id, "changeset_id")
        return self._read_rows(
            f"read tool invocations of changeset {key}",
            lambda statements: select_invocations(statements, INVOCATIONS.c.changeset_id, key),
        )

    def delete_for_plan(self, plan_id: str) -> int:
        """Delete every invocation of the plan; returns how many."""
        key = require_id(plan_id, "plan_id")
        return self._write(
            f"delete tool invocations of plan {key}",
            lambda session: delete_rows(session, INVOCATIONS, INVOCATIONS.c.plan_id, key),
        )


class ChangeSetRepository(Repository):
    """``ChangeSetStore`` on any supported backend (SQLite or PostgreSQL).

    ``SqliteChangeSetStore`` is the same class under its upstream name.

    Secrets in tool invocations are redacted before they are stored (``redactor``).
    """

    def __init__(
        self, session_factory: SessionFactory, *, redactor: SecretRedactor = DEFAULT_REDACTOR
    ) -> None:
        super().__init__(session_factory)
        require(redactor, SecretRedactor, "redactor")
        self._redactor = redactor

    def start(self, plan_id: str) -> SpecChangeSet:
        """Persist and return a new, empty changeset for ``plan_id``."""
        changeset = SpecChangeSet(
            changeset_id=new_id(), plan_id=require_id(plan_id, "plan_id"), created_at=utc_now()
        )

        def work(session: Session) -> None:
            guard_plans(session, [changeset.plan_id], "a new changeset")
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
        require(entry, ChangeEntry, "entry")
        record_entries(
            self._session_factory, self._driver, [entry], f"record entry {entry.entry_id}"
        )
        return entry

    def record_many(self, entries: Sequence[ChangeEntry]) -> int:
        """Persist entries in one transaction, all or nothing; returns how many."""
        batch = check_entries(entries)
        if not batch:
            return 0
        return record_entries(
            self._session_factory, self._driver, batch, f"record {len(batch)} entries"
        )

    def record_invocation(self, invocation: ToolInvocation) -> ToolInvocation:
        """Persist one tool invocation; returns it as stored (secrets redacted)."""
        require(invocation, ToolInvocation, "invocation")
        stored = redact_invocation(invocation, self._redactor)
        self._write(
            f"record tool invocation {invocation.invocation_id}",
            lambda session: insert_invocation(session, stored),
        )
        return stored

    def get(self, changeset_id: str) -> SpecChangeSet | None:
        """The changeset with its entries and invocations (three statements), or None."""
        key = require_id(changeset_id, "changeset_id")

        def work(statements: Rows) -> SpecChangeSet | None:
            headers = statements.rows(HEADER_QUERY, {"key": key})
            if not headers:
                return None
            plan_id, created_at = headers[0]
            return changeset(
                key,
                plan_id,
                created_at,
                select_entries(statements, ENTRIES.c.changeset_id, key),
                select_invocations(statements, INVOCATIONS.c.changeset_id, key),
            )

        return self._read_rows(f"read changeset {key}", work)

    def get_for_plan(self, plan_id: str) -> list[SpecChangeSet]:
        """Every changeset of the plan, oldest first (three statements)."""
        key = require_id(plan_id, "plan_id")

        def work(statements: Rows) -> list[SpecChangeSet]:
            changesets = {
                changeset_id: changeset(changeset_id, key, created_at, [], [])
                for changeset_id, created_at in statements.rows(PLAN_HEADERS_QUERY, {"key": key})
            }
            for entry in select_entries(statements, ENTRIES.c.plan_id, key):
                changesets[entry.changeset_id].entries.append(entry)
            for invocation in select_invocations(statements, INVOCATIONS.c.plan_id, key):
                if invocation.changeset_id in changesets:
                    changesets[invocation.changeset_id].invocations.append(invocation)
            return list(changesets.values())

        return self._read_rows(f"read changesets of plan {key}", work)

    def summarize(self, changeset_id: str) -> ChangeSetSummary:
        """Counts over one changeset, computed by the database."""
        key = require_id(changeset_id, "changeset_id")

        def work(session: Session) -> ChangeSetSummary:
            plan_id = session.execute(
                select(CHANGESETS.c.plan_id).where(CHANGESETS.c.changeset_id == key)
            ).scalar_one_or_none()
            if plan_id is None:
                raise RecordNotFoundError(f"cannot summarize changeset {key}: it does not exist")
            live_entry = and_(ENTRIES.c.changeset_id == key, ENTRIES.c.rolled_back_by.is_(None))
            by_operation: dict[str, int] = {
                str(op): int(count)
                for op, count in session.execute(
                    select(ENTRIES.c.operation, func.count())
                    .where(live_entry)
                    .group_by(ENTRIES.c.operation)
                )
            }
            totals = session.execute(
                select(
                    func.coalesce(func.sum(ENTRIES.c.insertions), 0),
                    func.coalesce(func.sum(ENTRIES.c.deletions), 0),
                ).where(live_entry)
            ).one()
            rolled_back = session.execute(
                select(func.count()).where(
                    ENTRIES.c.changeset_id == key, ENTRIES.c.rolled_back_by.is_not(None)
                )
            ).scalar_one()
            paths = list(
                session.execute(
                    select(ENTRIES.c.path).where(live_entry).distinct().order_by(ENTRIES.c.path)
                ).scalars()
            )
            calls, failed = session.execute(
                select(
                    func.count(),
                    func.coalesce(
                        func.sum(case((INVOCATIONS.c.error.is_not(None), 1), else_=0)), 0
                    ),
                ).where(INVOCATIONS.c.changeset_id == key, INVOCATIONS.c.rolled_back_by.is_(None))
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
        key = require_id(plan_id, "plan_id")

        return self._write(
            f"delete changesets of plan {key}", lambda session: delete_plan(session, key)
        )

    def cancel_plan(self, plan_id: str) -> int:
        """Tombstone the plan and delete its records in one transaction; returns rows deleted.

        Afterwards ``start`` and every ``record*`` for the plan raise
        :class:`PlanCancelledError`. Cancelling twice is harmless (the tombstone stays).
        """
        key = require_id(plan_id, "plan_id")

        def work(session: Session) -> int:
            lock_plans(session, [key], exclusive=True)
            if (
                session.execute(
                    select(CANCELLED.c.plan_id).where(CANCELLED.c.plan_id == key)
                ).first()
                is None
            ):
                session.execute(insert(CANCELLED), [{"plan_id": key, "cancelled_at": utc_now()}])
            return delete_plan(session, key)

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
        key = require_id(plan_id, "plan_id")
        target = require_id(checkpoint_id, "checkpoint_id")
        safety = (
            None
            if safety_checkpoint_id is None
            else require_id(safety_checkpoint_id, "safety_checkpoint_id")
        )
        action = f"roll plan {key} back to checkpoint {target}"

        def work(session: Session) -> tuple[int, int]:
            return roll_back(session, key, target, safety, dry_run=dry_run)

        return self._read(action, work) if dry_run else self._write(action, work)

    def is_cancelled(self, plan_id: str) -> bool:
        """True once :meth:`cancel_plan` ran for the plan."""
        key = require_id(plan_id, "plan_id")

        def work(session: Session) -> bool:
            query = select(CANCELLED.c.plan_id).where(CANCELLED.c.plan_id == key)
            return session.execute(query).first() is not None

        return self._read(f"read the state of plan {key}", work)


# The upstream name (it works on PostgreSQL too).
SqliteChangeSetStore = ChangeSetRepository
