"""Each checkpoint's diff in its own row, compressed, instead of one row per path.

A first snapshot's diff lists every file of the sandbox: as ``checkpoint_diffs``
rows (checkpoint id, path and hex hash each, plus an index) it took 1.8 MB for a
10,000-file sandbox; as one zlib-compressed JSON value in ``checkpoints.diff_data``
it takes about 0.4 MB. The JSON is ``[[path, sha256 or null], ...]`` sorted by
path (the canonical form behind ``diff_hash``). The downgrade writes the rows back.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 15:00:00.000000
"""

from __future__ import annotations

import json
import zlib
from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEQUENCE_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_checkpoints = sa.table(
    "checkpoints", sa.column("checkpoint_id", sa.String), sa.column("diff_data", sa.LargeBinary)
)
_diffs = sa.table(
    "checkpoint_diffs",
    sa.column("checkpoint_id", sa.String),
    sa.column("path", sa.Text),
    sa.column("sha256", sa.String),
)


def _encode(pairs: list[list[str | None]]) -> bytes:
    pairs.sort(key=lambda pair: (pair[0], pair[1] or ""))
    text = json.dumps(pairs, ensure_ascii=False, separators=(",", ":"))
    return zlib.compress(text.encode(), 6)


def upgrade() -> None:
    op.add_column("checkpoints", sa.Column("diff_data", sa.LargeBinary(), nullable=True))
    connection = op.get_bind()
    by_checkpoint: dict[str, list[list[str | None]]] = defaultdict(list)
    rows = connection.execute(sa.select(_diffs.c.checkpoint_id, _diffs.c.path, _diffs.c.sha256))
    for checkpoint_id, path, sha256 in rows:
        by_checkpoint[checkpoint_id].append([path, sha256])
    for checkpoint_id, pairs in by_checkpoint.items():
        connection.execute(
            sa.update(_checkpoints)
            .where(_checkpoints.c.checkpoint_id == checkpoint_id)
            .values(diff_data=_encode(pairs))
        )
    with op.batch_alter_table("checkpoint_diffs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_checkpoint_diffs_checkpoint_id"))
    op.drop_table("checkpoint_diffs")


def downgrade() -> None:
    connection = op.get_bind()
    stored = connection.execute(
        sa.select(_checkpoints.c.checkpoint_id, _checkpoints.c.diff_data).where(
            _checkpoints.c.diff_data.is_not(None)
        )
    ).all()
    # SQLite copies the table to drop a column: do it before any row refers to it.
    with op.batch_alter_table("checkpoints", schema=None) as batch_op:
        batch_op.drop_column("diff_data")
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
    for checkpoint_id, data in stored:
        # Rows made since revision 0007 also carry kind and mode, which the old table lacks.
        rows = json.loads(zlib.decompress(data))
        if rows:
            connection.execute(
                sa.insert(_diffs),
                [{"checkpoint_id": checkpoint_id, "path": r[0], "sha256": r[1]} for r in rows],
            )
