"""Plans as a whole: listing them with their counts, and deleting everything of one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Table, delete, func, select, union
from sqlalchemy.orm import Session

from cleveragents.domain.models.core._types import require_id, to_utc
from cleveragents.domain.models.core.plan import PlanDeletion, PlanInfo
from cleveragents.infrastructure.database.checkpoint_repository import delete_checkpoints
from cleveragents.infrastructure.database.errors import RecordNotFoundError
from cleveragents.infrastructure.database.models import (
    CancelledPlanModel,
    ChangeSetEntryModel,
    ChangeSetModel,
    CheckpointModel,
    PlanRollbackModel,
    ToolInvocationModel,
)
from cleveragents.infrastructure.database.plan_lock import lock_plans
from cleveragents.infrastructure.database.repository_base import Repository
from cleveragents.infrastructure.database.vacuum import deleting_in_place, engine_of, give_back

_CHANGESETS = cast(Table, ChangeSetModel.__table__)
_ENTRIES = cast(Table, ChangeSetEntryModel.__table__)
_INVOCATIONS = cast(Table, ToolInvocationModel.__table__)
_CHECKPOINTS = cast(Table, CheckpointModel.__table__)
_CANCELLED = cast(Table, CancelledPlanModel.__table__)
_ROLLBACKS = cast(Table, PlanRollbackModel.__table__)

# Each table that holds something of a plan, and the column that tells when.
_ACTIVITY: tuple[tuple[Table, str], ...] = (
    (_CHANGESETS, "created_at"),
    (_ENTRIES, "created_at"),
    (_INVOCATIONS, "started_at"),
    (_CHECKPOINTS, "created_at"),
    (_CANCELLED, "cancelled_at"),
)
MAX_PAGE = 10_000


def _count(table: Table, plan: ColumnElement[Any]) -> Any:
    return select(func.count()).select_from(table).where(table.c.plan_id == plan).scalar_subquery()


def _latest(table: Table, column: str, plan: ColumnElement[Any]) -> Any:
    return select(func.max(table.c[column])).where(table.c.plan_id == plan).scalar_subquery()


def _list(session: Session, limit: int, after: str | None) -> list[PlanInfo]:
    ids = union(*(select(table.c.plan_id) for table, _ in _ACTIVITY)).subquery()
    plan = ids.c.plan_id
    query = select(
        plan,
        _count(_CHANGESETS, plan),
        _count(_ENTRIES, plan),
        _count(_INVOCATIONS, plan),
        _count(_CHECKPOINTS, plan),
        _count(_CANCELLED, plan),
        *(_latest(table, column, plan) for table, column in _ACTIVITY),
    ).order_by(plan)
    if after is not None:
        query = query.where(plan > after)
    plans: list[PlanInfo] = []
    for row in session.execute(query.limit(limit)):
        plan_id, changesets, entries, invocations, checkpoints, cancelled, *times = row
        moments = [_aware(moment) for moment in times if moment is not None]
        plans.append(
            PlanInfo(
                plan_id=plan_id,
                changesets=changesets,
                entries=entries,
                tool_invocations=invocations,
                checkpoints=checkpoints,
                cancelled=bool(cancelled),
                last_activity=max(moments) if moments else None,
            )
        )
    return plans


def _aware(moment: datetime | str) -> datetime:
    """A timestamp from a correlated MAX(): SQLite hands back its text, PostgreSQL a datetime."""
    if isinstance(moment, str):
        return datetime.fromisoformat(f"{moment}+00:00")
    return to_utc(moment)


def _deleted(session: Session, table: Table, plan_id: str) -> int:
    result = cast(
        CursorResult[Any], session.execute(delete(table).where(table.c.plan_id == plan_id))
    )
    return result.rowcount


def _delete(session: Session, plan_id: str) -> PlanDeletion:
    lock_plans(session, [plan_id], exclusive=True)
    tombstones = _deleted(session, _CANCELLED, plan_id)
    deletion = PlanDeletion(
        plan_id=plan_id,
        entries=_deleted(session, _ENTRIES, plan_id),
        tool_invocations=_deleted(session, _INVOCATIONS, plan_id),
        changesets=_deleted(session, _CHANGESETS, plan_id),
        checkpoints=delete_checkpoints(session, plan_id),
    )
    _deleted(session, _ROLLBACKS, plan_id)
    counts: Sequence[int] = (
        tombstones,
        deletion.entries,
        deletion.tool_invocations,
        deletion.changesets,
        deletion.checkpoints,
    )
    if not any(counts):
        raise RecordNotFoundError(f"plan {plan_id} does not exist")
    return deletion


def _deleted_in_place(session: Session, plan_id: str) -> PlanDeletion:
    with deleting_in_place(session):
        return _delete(session, plan_id)


class PlanRepository(Repository):
    """Every plan the database holds something of (records, checkpoints or a tombstone)."""

    def list_plans(self, *, limit: int = 100, after: str | None = None) -> list[PlanInfo]:
        """Plans ordered by id, those after ``after``, at most ``limit`` (1 to 10,000)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise ValueError(f"limit must be an integer from 1 to {MAX_PAGE}, got {limit!r}")
        start = None if after is None else require_id(after, "after")
        return self._read("list plans", lambda session: _list(session, limit, start))

    def delete_plan(self, plan_id: str) -> PlanDeletion:
        """Delete everything of the plan in one transaction (``RecordNotFoundError`` if none).

        Its entries, invocations, changesets, checkpoints with their stat cache and
        the stored content no other checkpoint needs, its rollbacks and its
        tombstone. On a SQLite file the freed pages go back to the file system
        (in short steps, see :mod:`.vacuum`) before it returns.
        """
        key = require_id(plan_id, "plan_id")
        deletion = self._write(
            f"delete plan {key}", lambda session: _deleted_in_place(session, key)
        )
        give_back(engine_of(self.session_factory))  # a SQLite file shrinks before we return
        return deletion
