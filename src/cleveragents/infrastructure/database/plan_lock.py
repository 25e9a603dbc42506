"""Keeping the writes of one plan in order on PostgreSQL (SQLite serializes writers already)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

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
