"""Plan tombstones: a cancelled plan refuses late records.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 04:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cancelled_plans",
        sa.Column("plan_id", sa.String(length=64), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("plan_id", name=op.f("pk_cancelled_plans")),
    )


def downgrade() -> None:
    op.drop_table("cancelled_plans")
