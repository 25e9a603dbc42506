"""Which entries and tool invocations were live when a checkpoint was made, and rolling back to it.

Entries and invocations are numbered by the database (``seq``, never reused). A
checkpoint records the highest number of each when it is made (its *marks*) and
how many rollbacks of its plan came before it. Each rollback records the marks
of the checkpoint it went back to and its own marks when it ran. So the records
live when a checkpoint was made are, with no wall clock involved:

- without a rollback before it: every record numbered up to its mark;
- else, with R the last rollback before it: the records live at R's target
  checkpoint, plus those numbered after R's mark and up to the checkpoint's.

A rollback to a checkpoint makes exactly those live again (``rolled_back_by``
NULL) and marks every other live record of the plan with the rollback's
``pre_rollback`` safety checkpoint; records rolled back earlier keep their mark.
Rolling back to the safety checkpoint undoes the rollback.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from cleveragents.domain.models.core._types import utc_now
from cleveragents.infrastructure.database.errors import RecordNotFoundError
from cleveragents.infrastructure.database.models import (
    ChangeSetEntryModel,
    CheckpointModel,
    PlanRollbackModel,
    ToolInvocationModel,
)
from cleveragents.infrastructure.database.plan_lock import lock_plans

_ENTRIES = cast(Table, ChangeSetEntryModel.__table__)
_INVOCATIONS = cast(Table, ToolInvocationModel.__table__)
_CHECKPOINTS = cast(Table, CheckpointModel.__table__)
_ROLLBACKS = cast(Table, PlanRollbackModel.__table__)

Ranges = list[tuple[int, int]]  # (low, high]: the seq numbers low < seq <= high


@dataclass(frozen=True)
class Marks:
    """The highest entry and invocation seq at some moment, and the plan's rollbacks by then."""

    entries: int
    invocations: int
    rollbacks: int


@dataclass(frozen=True)
class Rollback:
    """One row of ``plan_rollbacks``: where it went back to, and its own marks."""

    target: Marks
    entries: int
    invocations: int


def live_ranges(marks: Marks, rollbacks: Mapping[int, Rollback]) -> tuple[Ranges, Ranges]:
    """The seq ranges of the entries and of the invocations live at ``marks``."""
    entries: Ranges = []
    invocations: Ranges = []
    while marks.rollbacks > 0:
        last = rollbacks[marks.rollbacks]
        entries.append((last.entries, marks.entries))
        invocations.append((last.invocations, marks.invocations))
        marks = last.target
    entries.append((-1, marks.entries))
    invocations.append((-1, marks.invocations))
    return entries, invocations


def is_live(seq: int, ranges: Ranges) -> bool:
    """True when ``seq`` lies in one of ``ranges``."""
    return any(low < seq <= high for low, high in ranges)


def current_marks(session: Session, plan_id: str) -> Marks:
    """The marks now (a checkpoint being made records these).

    On PostgreSQL the plan's lock is taken exclusively first, so no record of the
    plan is in flight: every record committed later gets a higher number.
    """
    lock_plans(session, [plan_id], exclusive=True)
    entries = session.execute(select(func.coalesce(func.max(_ENTRIES.c.seq), 0))).scalar_one()
    invocations = session.execute(
        select(func.coalesce(func.max(_INVOCATIONS.c.seq), 0))
    ).scalar_one()
    rollbacks = session.execute(
        select(func.coalesce(func.max(_ROLLBACKS.c.number), 0)).where(
            _ROLLBACKS.c.plan_id == plan_id
        )
    ).scalar_one()
    return Marks(int(entries), int(invocations), int(rollbacks))


def _rollbacks(session: Session, plan_id: str) -> dict[int, Rollback]:
    rows = session.execute(
        select(
            _ROLLBACKS.c.number,
            _ROLLBACKS.c.target_entry_mark,
            _ROLLBACKS.c.target_invocation_mark,
            _ROLLBACKS.c.target_rollbacks_before,
            _ROLLBACKS.c.entry_mark,
            _ROLLBACKS.c.invocation_mark,
        ).where(_ROLLBACKS.c.plan_id == plan_id)
    )
    return {
        int(number): Rollback(Marks(int(te), int(ti), int(tr)), int(e), int(i))
        for number, te, ti, tr, e, i in rows
    }


def checkpoint_marks(session: Session, checkpoint_id: str) -> tuple[str, Marks]:
    """(plan id, marks) of a checkpoint; ``RecordNotFoundError`` when it does not exist."""
    row = session.execute(
        select(
            _CHECKPOINTS.c.plan_id,
            _CHECKPOINTS.c.entry_mark,
            _CHECKPOINTS.c.invocation_mark,
            _CHECKPOINTS.c.rollbacks_before,
        ).where(_CHECKPOINTS.c.checkpoint_id == checkpoint_id)
    ).first()
    if row is None:
        raise RecordNotFoundError(f"checkpoint {checkpoint_id} does not exist")
    plan_id, entries, invocations, rollbacks = row
    return str(plan_id), Marks(int(entries), int(invocations), int(rollbacks))


def _changes(
    session: Session, table: Table, plan_id: str, ranges: Ranges, safety_id: str
) -> tuple[list[dict[str, Any]], int]:
    """The ``rolled_back_by`` updates that bring the plan's records of ``table`` to ``ranges``."""
    updates: list[dict[str, Any]] = []
    newly = 0
    rows = session.execute(
        select(table.c.seq, table.c.rolled_back_by).where(table.c.plan_id == plan_id)
    )
    for seq, rolled_back_by in rows:
        live = is_live(int(seq), ranges)
        if live and rolled_back_by is not None:
            updates.append({"key": seq, "mark": None})
        elif not live and rolled_back_by is None:
            updates.append({"key": seq, "mark": safety_id})
            newly += 1
    return updates, newly


def roll_back(
    session: Session,
    plan_id: str,
    checkpoint_id: str,
    safety_id: str | None,
    *,
    dry_run: bool,
) -> tuple[int, int]:
    """Make live exactly what was live at ``checkpoint_id``; the rest is marked ``safety_id``.

    Returns how many entries and invocations this rollback marked. A dry run (or
    ``safety_id`` None) computes the counts and writes nothing.
    """
    now = current_marks(session, plan_id)
    owner, target = checkpoint_marks(session, checkpoint_id)
    if owner != plan_id:
        raise ValueError(f"checkpoint {checkpoint_id} belongs to plan {owner}, not to {plan_id}")
    rollbacks = _rollbacks(session, plan_id)
    entry_ranges, invocation_ranges = live_ranges(target, rollbacks)
    mark = safety_id or ""
    entry_updates, entries = _changes(session, _ENTRIES, plan_id, entry_ranges, mark)
    invocation_updates, invocations = _changes(
        session, _INVOCATIONS, plan_id, invocation_ranges, mark
    )
    if dry_run or safety_id is None:
        return entries, invocations
    for table, updates in ((_ENTRIES, entry_updates), (_INVOCATIONS, invocation_updates)):
        _apply_updates(session, table, updates)
    session.execute(
        insert(_ROLLBACKS),
        [
            {
                "plan_id": plan_id,
                "number": now.rollbacks + 1,
                "safety_checkpoint_id": safety_id,
                "target_checkpoint_id": checkpoint_id,
                "target_entry_mark": target.entries,
                "target_invocation_mark": target.invocations,
                "target_rollbacks_before": target.rollbacks,
                "entry_mark": now.entries,
                "invocation_mark": now.invocations,
                "created_at": utc_now(),
            }
        ],
    )
    return entries, invocations


def _apply_updates(session: Session, table: Table, updates: Sequence[dict[str, Any]]) -> None:
    if not updates:
        return
    statement = (
        update(table)
        .where(table.c.seq == bindparam("key"))
        .values(rolled_back_by=bindparam("mark"))
    )
    session.connection().execute(statement, list(updates))
