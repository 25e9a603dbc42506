"""Checkpoint tables: headers, per-checkpoint diffs, content objects and the stat cache.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 01:49:46.648278
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
SEQUENCE_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "checkpoint_objects",
        sa.Column("object_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("object_hash", name=op.f("pk_checkpoint_objects")),
    )
    op.create_table(
        "checkpoint_stat_cache",
        sa.Column("plan_id", sa.String(length=64), nullable=False),
        sa.Column("checkpoint_id", sa.String(length=64), nullable=False),
        sa.Column("scan_started_ns", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("plan_id", name=op.f("pk_checkpoint_stat_cache")),
    )
    op.create_table(
        "checkpoints",
        sa.Column("seq", SEQUENCE_KEY, autoincrement=True, nullable=False),
        sa.Column("checkpoint_id", sa.String(length=64), nullable=False),
        sa.Column("plan_id", sa.String(length=64), nullable=False),
        sa.Column("sandbox_ref", sa.Text(), nullable=False),
        sa.Column("checkpoint_type", sa.String(length=64), nullable=False),
        sa.Column("parent_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checkpoint_metadata", sa.JSON(), nullable=False),
        sa.Column("root_tree", sa.String(length=64), nullable=True),
        sa.Column("file_count", sa.Integer(), nullable=False),
        sa.Column("total_size", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_checkpoints")),
        sa.UniqueConstraint("checkpoint_id", name=op.f("uq_checkpoints_checkpoint_id")),
    )
    with op.batch_alter_table("checkpoints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_checkpoints_plan_id"), ["plan_id"], unique=False)

    op.create_table(
        "checkpoint_diffs",
        sa.Column("seq", SEQUENCE_KEY, autoincrement=True, nullable=False),
        sa.Column("checkpoint_id", sa.String(length=64), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["checkpoint_id"],
            ["checkpoints.checkpoint_id"],
            name=op.f("fk_checkpoint_diffs_checkpoint_id_checkpoints"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_checkpoint_diffs")),
    )
    with op.batch_alter_table("checkpoint_diffs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_checkpoint_diffs_checkpoint_id"), ["checkpoint_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("checkpoint_diffs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_checkpoint_diffs_checkpoint_id"))

    op.drop_table("checkpoint_diffs")
    with op.batch_alter_table("checkpoints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_checkpoints_plan_id"))

    op.drop_table("checkpoints")
    op.drop_table("checkpoint_stat_cache")
    op.drop_table("checkpoint_objects")
