"""A plan's writes: kept in order on PostgreSQL, and refused once the plan was cancelled."""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from cleveragents.infrastructure.database.errors import PlanCancelledError
from cleveragents.infrastructure.database.models import CancelledPlanModel

_CANCELLED = cast(Table, CancelledPlanModel.__table__)

PLAN_LOCK_CLASS = 0x706C616E  # PostgreSQL advisory lock class of per-plan locks ("plan")


def lock_plans(session: Session, plan_ids: Iterable[str], *, exclusive: bool = False) -> None:
    """Take each plan's advisory lock for the rest of the transaction (PostgreSQL only).

    Records take it shared; whatever must see every record committed before it and
    none after (a cancel, a checkpoint's marks, a rollback) takes it exclusive.
    SQLite needs nothing: ``BEGIN IMMEDIATE`` runs one writer at a time.
    """
    if session.connection().dialect.name != "postgresql":
        return
    function = func.pg_advisory_xact_lock if exclusive else func.pg_advisory_xact_lock_shared
    for plan_id in sorted(set(plan_ids)):
        session.execute(select(function(PLAN_LOCK_CLASS, func.hashtext(plan_id))))


def refuse_cancelled(session: Session, plan_ids: Iterable[str], what: str) -> None:
    """``PlanCancelledError`` when any of the plans was cancelled (its tombstone is there)."""
    wanted = set(plan_ids)
    cancelled = session.execute(
        select(_CANCELLED.c.plan_id).where(_CANCELLED.c.plan_id.in_(wanted))
    ).first()
    if cancelled is not None:
        raise PlanCancelledError(
            f"cannot record {what} for plan {cancelled.plan_id}: the plan was cancelled"
        )
