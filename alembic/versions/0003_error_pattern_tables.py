"""Error pattern tables: the patterns and the term index ``match_context`` looks up.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 04:34:22.547869
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "error_patterns",
        sa.Column("pattern_id", sa.String(length=64), nullable=False),
        sa.Column("pattern", sa.Text(), nullable=False),
        sa.Column("pattern_folded", sa.Text(), nullable=False),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("frequency", sa.BigInteger(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("category", sa.String(length=200), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("pattern_metadata", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("pattern_id", name=op.f("pk_error_patterns")),
    )
    with op.batch_alter_table("error_patterns", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_error_patterns_category"), ["category"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_error_patterns_frequency_last_seen"),
            ["frequency", "last_seen"],
            unique=False,
        )

    op.create_table(
        "error_pattern_terms",
        sa.Column("kind", sa.SmallInteger(), nullable=False),
        sa.Column("term", sa.Text(), nullable=False),
        sa.Column("pattern_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["pattern_id"],
            ["error_patterns.pattern_id"],
            name=op.f("fk_error_pattern_terms_pattern_id_error_patterns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("kind", "term", "pattern_id", name=op.f("pk_error_pattern_terms")),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("error_pattern_terms", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_error_pattern_terms_pattern_id"), ["pattern_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("error_pattern_terms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_error_pattern_terms_pattern_id"))
    op.drop_table("error_pattern_terms")
    with op.batch_alter_table("error_patterns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_error_patterns_frequency_last_seen"))
        batch_op.drop_index(batch_op.f("ix_error_patterns_category"))
    op.drop_table("error_patterns")
