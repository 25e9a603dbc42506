"""Changeset tables: headers, entries (file mutations) and tool invocations.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 00:47:33.979072
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
SEQUENCE_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "changesets",
        sa.Column("seq", SEQUENCE_KEY, autoincrement=True, nullable=False),
        sa.Column("changeset_id", sa.String(length=64), nullable=False),
        sa.Column("plan_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_changesets")),
        sa.UniqueConstraint("changeset_id", name=op.f("uq_changesets_changeset_id")),
    )
    with op.batch_alter_table("changesets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_changesets_plan_id"), ["plan_id"], unique=False)

    op.create_table(
        "changeset_entries",
        sa.Column("seq", SEQUENCE_KEY, autoincrement=True, nullable=False),
        sa.Column("entry_id", sa.String(length=64), nullable=False),
        sa.Column("changeset_id", sa.String(length=64), nullable=False),
        sa.Column("plan_id", sa.String(length=64), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("operation", sa.String(length=16), nullable=False),
        sa.Column("old_path", sa.Text(), nullable=True),
        sa.Column("before_hash", sa.String(length=64), nullable=True),
        sa.Column("after_hash", sa.String(length=64), nullable=True),
        sa.Column("diff", sa.Text(), nullable=False),
        sa.Column("insertions", sa.Integer(), nullable=False),
        sa.Column("deletions", sa.Integer(), nullable=False),
        sa.Column("tool_invocation_id", sa.String(length=64), nullable=True),
        sa.Column("entry_metadata", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["changeset_id"],
            ["changesets.changeset_id"],
            name=op.f("fk_changeset_entries_changeset_id_changesets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_changeset_entries")),
        sa.UniqueConstraint("entry_id", name=op.f("uq_changeset_entries_entry_id")),
    )
    with op.batch_alter_table("changeset_entries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_changeset_entries_changeset_id_seq"),
            ["changeset_id", "seq"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_changeset_entries_path"), ["path"], unique=False)
        batch_op.create_index(batch_op.f("ix_changeset_entries_plan_id"), ["plan_id"], unique=False)

    op.create_table(
        "tool_invocations",
        sa.Column("seq", SEQUENCE_KEY, autoincrement=True, nullable=False),
        sa.Column("invocation_id", sa.String(length=64), nullable=False),
        sa.Column("plan_id", sa.String(length=64), nullable=False),
        sa.Column("changeset_id", sa.String(length=64), nullable=True),
        sa.Column("tool_name", sa.String(length=200), nullable=False),
        sa.Column("arguments", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("change_ids", sa.JSON(), nullable=False),
        sa.Column("resource_refs", sa.JSON(), nullable=False),
        sa.Column("provider_metadata", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["changeset_id"],
            ["changesets.changeset_id"],
            name=op.f("fk_tool_invocations_changeset_id_changesets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_tool_invocations")),
        sa.UniqueConstraint("invocation_id", name=op.f("uq_tool_invocations_invocation_id")),
    )
    with op.batch_alter_table("tool_invocations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tool_invocations_changeset_id"), ["changeset_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_tool_invocations_plan_id"), ["plan_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_tool_invocations_tool_name"), ["tool_name"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("tool_invocations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tool_invocations_tool_name"))
        batch_op.drop_index(batch_op.f("ix_tool_invocations_plan_id"))
        batch_op.drop_index(batch_op.f("ix_tool_invocations_changeset_id"))

    op.drop_table("tool_invocations")
    with op.batch_alter_table("changeset_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_changeset_entries_plan_id"))
        batch_op.drop_index(batch_op.f("ix_changeset_entries_path"))
        batch_op.drop_index(batch_op.f("ix_changeset_entries_changeset_id_seq"))

    op.drop_table("changeset_entries")
    with op.batch_alter_table("changesets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_changesets_plan_id"))

    op.drop_table("changesets")
