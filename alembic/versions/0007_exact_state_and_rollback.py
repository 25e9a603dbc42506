"""Exact state and rollback: entry kinds and modes, rollback marks, monotonic sequences.

- ``changeset_entries`` gains ``kind`` (file or symlink), ``before_mode``,
  ``after_mode`` and ``rolled_back_by``; ``tool_invocations`` gains
  ``rolled_back_by``.
- Both tables get SQLite ``AUTOINCREMENT``: without it SQLite reuses the ``seq``
  of deleted rows at the top, and a rollback tells "recorded after a checkpoint"
  by comparing ``seq`` with the checkpoint's mark. (PostgreSQL's sequences never
  go back.)
- ``checkpoints`` gains ``entry_mark``, ``invocation_mark`` (the highest ``seq``
  when it was made) and ``rollbacks_before``. Checkpoints made before this
  revision get the highest ``seq`` recorded no later than their ``created_at``:
  the only order they have.
- ``plan_rollbacks`` records each rollback of a plan.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 21:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEQUENCE_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_checkpoints = sa.table(
    "checkpoints",
    sa.column("checkpoint_id", sa.String),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("entry_mark", sa.BigInteger),
    sa.column("invocation_mark", sa.BigInteger),
)
_entries = sa.table(
    "changeset_entries", sa.column("seq", sa.BigInteger), sa.column("created_at", sa.DateTime)
)
_invocations = sa.table(
    "tool_invocations", sa.column("seq", sa.BigInteger), sa.column("started_at", sa.DateTime)
)


def _autoincrement(table: str, on: bool) -> None:
    """SQLite: rebuild ``table`` with (or without) AUTOINCREMENT; nothing elsewhere."""
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        table, recreate="always", table_kwargs={"sqlite_autoincrement": on}
    ) as batch_op:
        batch_op.alter_column("seq", existing_type=sa.Integer(), autoincrement=True)


def upgrade() -> None:
    with op.batch_alter_table("changeset_entries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), server_default="file", nullable=False)
        )
        batch_op.add_column(sa.Column("before_mode", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("after_mode", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("rolled_back_by", sa.String(length=64), nullable=True))
    with op.batch_alter_table("tool_invocations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rolled_back_by", sa.String(length=64), nullable=True))
    _autoincrement("changeset_entries", True)
    _autoincrement("tool_invocations", True)
    with op.batch_alter_table("checkpoints", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("entry_mark", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("invocation_mark", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("rollbacks_before", sa.Integer(), server_default="0", nullable=False)
        )
    entry_mark = (
        sa.select(sa.func.coalesce(sa.func.max(_entries.c.seq), 0))
        .where(_entries.c.created_at <= _checkpoints.c.created_at)
        .scalar_subquery()
    )
    invocation_mark = (
        sa.select(sa.func.coalesce(sa.func.max(_invocations.c.seq), 0))
        .where(_invocations.c.started_at <= _checkpoints.c.created_at)
        .scalar_subquery()
    )
    op.execute(
        sa.update(_checkpoints).values(entry_mark=entry_mark, invocation_mark=invocation_mark)
    )
    op.create_table(
        "plan_rollbacks",
        sa.Column("seq", SEQUENCE_KEY, autoincrement=True, nullable=False),
        sa.Column("plan_id", sa.String(length=64), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("safety_checkpoint_id", sa.String(length=64), nullable=False),
        sa.Column("target_checkpoint_id", sa.String(length=64), nullable=False),
        sa.Column("target_entry_mark", sa.BigInteger(), nullable=False),
        sa.Column("target_invocation_mark", sa.BigInteger(), nullable=False),
        sa.Column("target_rollbacks_before", sa.Integer(), nullable=False),
        sa.Column("entry_mark", sa.BigInteger(), nullable=False),
        sa.Column("invocation_mark", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_plan_rollbacks")),
        sa.UniqueConstraint("plan_id", "number", name=op.f("uq_plan_rollbacks_plan_id_number")),
    )


def downgrade() -> None:
    op.drop_table("plan_rollbacks")
    with op.batch_alter_table("checkpoints", schema=None) as batch_op:
        batch_op.drop_column("rollbacks_before")
        batch_op.drop_column("invocation_mark")
        batch_op.drop_column("entry_mark")
    _autoincrement("tool_invocations", False)
    _autoincrement("changeset_entries", False)
    with op.batch_alter_table("tool_invocations", schema=None) as batch_op:
        batch_op.drop_column("rolled_back_by")
    with op.batch_alter_table("changeset_entries", schema=None) as batch_op:
        batch_op.drop_column("rolled_back_by")
        batch_op.drop_column("after_mode")
        batch_op.drop_column("before_mode")
        batch_op.drop_column("kind")
