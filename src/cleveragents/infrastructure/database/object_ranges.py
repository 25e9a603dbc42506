"""One stored object's bytes read a range at a time, each range in a read transaction of its own.

A large object (up to the chunk size) fetched as one column value is held whole
twice while it is read: SQLite assembles the value from its overflow pages, and
the driver copies it into Python. Read by ranges, only a range is held: SQLite's
incremental blob I/O reads just the pages of that range, and PostgreSQL's
``substr`` of an uncompressed ``bytea`` (the stored forms are compressed already)
reads just the TOAST chunks of that range. A restore or verify then decompresses
as it reads (:func:`.object_codec.unpack_pieces`).

Each range is looked up by the object's hash again, so an object removed (by a
prune) between two ranges is reported, never another row's bytes read instead.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, Final, cast

from sqlalchemy import Table, func, literal_column, select
from sqlalchemy.orm import Session

from cleveragents.domain.errors import IntegrityCheckError
from cleveragents.infrastructure.database.models import CheckpointObjectModel

_OBJECTS = cast(Table, CheckpointObjectModel.__table__)
# Stored bytes a range holds when its reader does not say.
RANGE_BYTES: Final = 256 * 1024

# ``read(action, work)`` runs ``work`` in a read transaction and returns what it returns.
Read = Callable[[str, Callable[[Session], Any]], Any]


def stored_range(session: Session, digest: str, offset: int, size: int) -> bytes | None:
    """``size`` stored bytes of the object ``digest`` from ``offset`` (fewer at its end, none
    past it); None if the object is not stored."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        query = select(func.substr(_OBJECTS.c.data, offset + 1, size)).where(
            _OBJECTS.c.object_hash == digest
        )
        row = session.execute(query).first()
        return None if row is None else bytes(row[0])
    query = select(literal_column("rowid")).where(_OBJECTS.c.object_hash == digest)
    rowid = session.execute(query).scalar()
    if rowid is None:
        return None
    raw = cast(sqlite3.Connection, connection.connection.dbapi_connection)
    with raw.blobopen(_OBJECTS.name, "data", int(rowid), readonly=True) as blob:
        blob.seek(min(offset, len(blob)))
        return blob.read(size)


def read_range(read: Read, digest: str, offset: int, size: int) -> bytes | None:
    """:func:`stored_range` in a read transaction of its own."""
    return cast(
        bytes | None,
        read(
            "read checkpoint content",
            lambda session: stored_range(session, digest, offset, size),
        ),
    )


class StoredRanges:
    """The stored bytes of one object from ``offset`` on, as a reader (``read(size)``).

    ``IntegrityCheckError`` if the object is no longer stored when a range is read.
    """

    def __init__(self, read: Read, digest: str, offset: int) -> None:
        self._read = read
        self._digest = digest
        self._offset = offset

    def read(self, size: int = -1) -> bytes:
        """The next ``size`` stored bytes (``RANGE_BYTES`` when negative); empty at the end."""
        wanted = RANGE_BYTES if size < 0 else size
        data = read_range(self._read, self._digest, self._offset, wanted)
        if data is None:
            raise IntegrityCheckError(f"object {self._digest} was removed while it was read")
        self._offset += len(data)
        return data
