"""Each checkpoint names the snapshot its diff is against: ``checkpoints.baseline_id``.

A restore needs to know every path any stored checkpoint of the plan holds (a
path the plan knows may be replaced; an untracked one is kept). With the
baseline named, that set is the first snapshot's paths plus the paths each diff
added, read from the diffs alone instead of from every stored tree. Checkpoints
made before this revision keep ``NULL``: for them the trees are read as before.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("checkpoints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("baseline_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("checkpoints", schema=None) as batch_op:
        batch_op.drop_column("baseline_id")
