"""Checkpoint objects are keyed by their sha256's 32 raw bytes instead of 64 hex digits.

The key is stored in the table and again in its primary key's index: half the
bytes in both, for every object (issue #14, storage against git). Python still
sees lowercase hex (``models.Sha256Key``).

PostgreSQL converts the column in place (``decode(..., 'hex')``). SQLite cannot
change a column's type: the table is copied into a new one with the key
converted by a function registered on the connection for the copy (SQLite 3.40
has no ``unhex``), a few MB at a time, each batch's old rows deleted and their
pages given back before the next: the file never holds the table twice. The
stored forms (``data``) are copied as they are, inside SQLite. The old table,
empty, is then dropped and the new one renamed.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 12:00:00.000000
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, cast

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE = "checkpoint_objects"
_CONVERT = "cleveragents_0009_key"
# Stored bytes copied at a time: about what the file grows by while the table is copied.
_BATCH_BYTES = 4 * 1024 * 1024
_INCREMENTAL = 2  # PRAGMA auto_vacuum


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"ALTER TABLE {_TABLE} ALTER COLUMN object_hash TYPE bytea "
            "USING decode(object_hash, 'hex')"
        )
        return
    _copy_sqlite(sa.LargeBinary(), bytes.fromhex)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"ALTER TABLE {_TABLE} ALTER COLUMN object_hash TYPE varchar(64) "
            "USING encode(object_hash, 'hex')"
        )
        return
    _copy_sqlite(sa.String(length=64), bytes.hex)


def _copy_sqlite(key: sa.types.TypeEngine[Any], convert: Callable[[Any], object]) -> None:
    """Copy the table into one whose key has the type ``key``, each key through ``convert``."""
    raw = cast(sqlite3.Connection, op.get_bind().connection.dbapi_connection)
    raw.create_function(_CONVERT, 1, convert, deterministic=True)
    op.create_table(
        f"{_TABLE}_0009",
        sa.Column("object_hash", key, nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("object_hash", name=f"pk_{_TABLE}"),
    )
    sizes = raw.execute(f"SELECT rowid, length(data) FROM {_TABLE} ORDER BY rowid").fetchall()
    incremental = raw.execute("PRAGMA auto_vacuum").fetchone()[0] == _INCREMENTAL
    for first, last in _batches(sizes):
        where = f"WHERE rowid BETWEEN {first} AND {last}"
        op.execute(
            f"INSERT INTO {_TABLE}_0009 (object_hash, kind, size, data) "
            f"SELECT {_CONVERT}(object_hash), kind, size, data FROM {_TABLE} {where} ORDER BY rowid"
        )
        op.execute(f"DELETE FROM {_TABLE} {where}")
        if incremental:
            _give_back(raw)
    op.drop_table(_TABLE)
    op.rename_table(f"{_TABLE}_0009", _TABLE)


def _batches(sizes: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """(first rowid, last rowid) of consecutive rows holding at most ``_BATCH_BYTES`` (or one
    row, if larger)."""
    batches: list[list[int]] = []
    held = 0
    for rowid, size in sizes:
        if not batches or held + size > _BATCH_BYTES:
            batches.append([rowid, rowid])
            held = 0
        batches[-1][1] = rowid
        held += size
    return [(first, last) for first, last in batches]


def _give_back(raw: sqlite3.Connection) -> None:
    """Return the free pages to the end of the file, in the migration's transaction.

    Without this an incremental auto-vacuum file (every file the library made)
    puts each batch's new rows after its end and keeps the old rows' pages free:
    the file would hold the table twice. ``execute`` steps the pragma once, which
    moves one page (``executescript`` would commit the transaction).
    """
    for _ in range(raw.execute("PRAGMA freelist_count").fetchone()[0]):
        raw.execute("PRAGMA incremental_vacuum")
