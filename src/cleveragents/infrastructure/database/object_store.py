"""The content-addressed objects in the database: reading and writing them.

Every function runs in the caller's session and transaction. Objects no
checkpoint reaches any more are deleted by :mod:`.checkpoint_removal`. Trees are
read and parsed by :mod:`.tree_reads`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from typing import Any, Final, cast

from sqlalchemy import Select, Table, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cleveragents._pacing import WRITE_PIECE, paced, pieces
from cleveragents.domain.errors import IntegrityCheckError
from cleveragents.infrastructure.database.models import (
    CheckpointModel,
    CheckpointObjectModel,
    CheckpointStatCacheModel,
)
from cleveragents.infrastructure.database.object_codec import (
    DELTA_HEAD,
    DELTA_MARK,
    ZLIB_DELTA_MARK,
    delta_base,
    unpack,
)
from cleveragents.infrastructure.database.sqlite_pages import leaf_order, record_size

_CHECKPOINTS = cast(Table, CheckpointModel.__table__)
_OBJECTS = cast(Table, CheckpointObjectModel.__table__)
_STAT_CACHE = cast(Table, CheckpointStatCacheModel.__table__)
BLOB: Final = "blob"
# Content above the chunk size: a list of its chunks' [sha256, size] (see content_objects).
CHUNKS: Final = "chunks"
_CHUNK: Final = 512  # keys per IN list; a power of two (see chunks)
_OBJECTS_LOCK_KEY: Final = 0x63686B70  # PostgreSQL advisory lock over checkpoint_objects


def chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    """``items`` in lists of at most ``_CHUNK`` keys for an ``IN``, each padded to a power
    of two by repeating its last key (an ``IN`` list is a set: the repeats change nothing).

    The driver keeps each distinct statement prepared, with its last bound keys, and an
    ``IN`` of n keys is a distinct statement for each n: batches of every length held
    megabytes of SQLite's memory after a restore. Padded, a query has ten forms.
    """
    for start in range(0, len(items), _CHUNK):
        chunk = items[start : start + _CHUNK]
        room = 1 << (len(chunk) - 1).bit_length()
        yield chunk if room == len(chunk) else [*chunk, *[chunk[-1]] * (room - len(chunk))]


def insert_ignoring_existing(session: Session, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    if session.connection().dialect.name == "postgresql":
        pg_insert = postgresql.insert(_OBJECTS).on_conflict_do_nothing(
            index_elements=["object_hash"]
        )
        for piece in pieces(rows, WRITE_PIECE):  # pause points between pieces: see _pacing
            session.execute(pg_insert, list(piece))
        return
    # Appended in an order that fills the table's leaf pages (see sqlite_pages).
    page_size = int(session.execute(text("PRAGMA page_size")).scalar_one())
    payloads = [
        record_size((bytes.fromhex(r["object_hash"]), r["kind"], r["size"], r["data"]))
        for r in rows
    ]
    ordered = leaf_order(rows, payloads, page_size)
    lite_insert = sqlite.insert(_OBJECTS).on_conflict_do_nothing(index_elements=["object_hash"])
    for piece in pieces(ordered):
        session.execute(lite_insert, list(piece))


def existing_objects(session: Session, hashes: Sequence[str]) -> set[str]:
    """Which of ``hashes`` are stored."""
    return objects_of_kind(session, hashes, None)


def objects_of_kind(session: Session, hashes: Sequence[str], kind: str | None) -> set[str]:
    """Which of ``hashes`` are stored as objects of ``kind`` (None: of any kind)."""
    found: set[str] = set()
    for chunk in chunks(hashes):
        query = select(_OBJECTS.c.object_hash).where(_OBJECTS.c.object_hash.in_(chunk))
        if kind is not None:
            query = query.where(_OBJECTS.c.kind == kind)
        found.update(session.execute(query).scalars())
    return found


def load_objects(
    session: Session, hashes: Sequence[str], bases: set[str] | None = None
) -> dict[str, tuple[str, bytes]]:
    """kind and decompressed bytes of each hash that is stored.

    Deltas are resolved through their bases (read by the same query, down each
    chain); the hashes of the bases used are added to ``bases``.
    """
    stored: dict[str, tuple[str, bytes]] = {}
    for chunk in chunks(sorted(set(hashes))):
        rows = session.execute(_with_their_bases(chunk))
        stored.update((object_hash, (kind, data)) for object_hash, kind, data in paced(rows))
    unpacked: dict[str, bytes] = {}
    alone = len(hashes) == 1  # no other object can share its chain's bases
    return {
        digest: (stored[digest][0], unpack(digest, stored, unpacked, bases, drop=alone))
        for digest in paced(hashes)
        if digest in stored
    }


def _with_their_bases(hashes: Sequence[str]) -> Select[Any]:
    """The rows of ``hashes`` and of every base down their delta chains, in one query.

    A recursive CTE follows each delta's head (its mark, then its base's raw sha256):
    one statement however deep the chains, where a query per link would cost a round
    trip for each. ``UNION`` keeps each object once, so even a cycle ends.
    """
    key = _OBJECTS.c.object_hash
    chain = select(key.label("digest")).where(key.in_(hashes)).cte("chain", recursive=True)
    delta = _OBJECTS.alias("delta")
    chain = chain.union(
        select(func.substr(delta.c.data, 2, DELTA_HEAD - 1)).where(
            delta.c.object_hash == chain.c.digest,
            func.substr(delta.c.data, 1, 1).in_([DELTA_MARK, ZLIB_DELTA_MARK]),
        )
    )
    return select(key, _OBJECTS.c.kind, _OBJECTS.c.data).where(key.in_(select(chain.c.digest)))


def load_intact(session: Session, hashes: Sequence[str]) -> dict[str, bytes]:
    """The content of each of ``hashes`` that is stored and reads back as its hash says.

    What is damaged is left out, not raised: a base to pack new content against is
    only a means to store it smaller (verify and restore report the damage).
    """
    try:
        loaded = load_objects(session, hashes)
    except IntegrityCheckError:
        loaded = {}
        for digest in hashes:  # one at a time: only the damaged ones are left out
            try:
                loaded.update(load_objects(session, [digest]))
            except IntegrityCheckError:
                continue
    return {
        digest: data
        for digest, (_, data) in loaded.items()
        if hashlib.sha256(data).hexdigest() == digest
    }


def delta_heads(session: Session, hashes: Sequence[str]) -> dict[str, tuple[int, bytes]]:
    """(content size, first stored bytes) of each stored object: enough to name a
    delta's base and depth without reading the object."""
    head = func.substr(_OBJECTS.c.data, 1, DELTA_HEAD + 1)
    found: dict[str, tuple[int, bytes]] = {}
    for chunk in chunks(sorted(set(hashes))):
        rows = session.execute(
            select(_OBJECTS.c.object_hash, _OBJECTS.c.size, head).where(
                _OBJECTS.c.object_hash.in_(chunk)
            )
        )
        found.update((digest, (int(size), bytes(start))) for digest, size, start in rows)
    return found


def needed_bases(session: Session, reachable: set[str]) -> set[str]:
    """Every delta base that objects of ``reachable`` need, down their chains (headers only)."""
    found: set[str] = set()
    wanted = reachable
    while wanted:
        bases = {
            base
            for _, head in delta_heads(session, sorted(wanted)).values()
            if (base := delta_base(head))
        }
        wanted = bases - found - reachable
        found |= bases
    return found


def decode_chunk_list(digest: str, data: bytes) -> list[tuple[str, int]]:
    """The ``(chunk sha256, size)`` of a chunk list; ``IntegrityCheckError`` if damaged."""
    try:
        return [(str(chunk), int(size)) for chunk, size in json.loads(data)]
    except (ValueError, TypeError) as exc:
        raise IntegrityCheckError(f"the chunk list of {digest} is corrupt") from exc


def chunk_lists(session: Session) -> dict[str, list[str]]:
    """The chunks of every chunk list stored."""
    query = select(_OBJECTS.c.object_hash).where(_OBJECTS.c.kind == CHUNKS)
    return chunks_of(session, sorted(session.execute(query).scalars()))


def chunks_of(session: Session, lists: Sequence[str]) -> dict[str, list[str]]:
    """The chunks of each of these chunk lists."""
    found: dict[str, list[str]] = {}
    for part in chunks(lists):
        for digest, (_, data) in load_objects(session, part).items():
            found[digest] = [chunk for chunk, _ in decode_chunk_list(digest, data)]
    return found


def lock_objects(session: Session, *, exclusive: bool) -> None:
    """Keep garbage collection and snapshot writes apart.

    SQLite serializes writers already (``BEGIN IMMEDIATE``); PostgreSQL takes an
    advisory lock: shared for writers that reuse stored objects, exclusive to collect.
    """
    if session.connection().dialect.name == "postgresql":
        function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        session.execute(select(getattr(func, function)(_OBJECTS_LOCK_KEY)))


def checkpoint_exists(session: Session, checkpoint_id: str) -> bool:
    query = select(_CHECKPOINTS.c.seq).where(_CHECKPOINTS.c.checkpoint_id == checkpoint_id)
    return session.execute(query).first() is not None


def stored_bytes(session: Session, hashes: Sequence[str] | None = None) -> int:
    """The stored (compressed) bytes of these objects, or of every object."""
    total = func.coalesce(func.sum(func.length(_OBJECTS.c.data)), 0)
    if hashes is None:
        return int(session.execute(select(total)).scalar_one())
    return sum(
        int(session.execute(select(total).where(_OBJECTS.c.object_hash.in_(chunk))).scalar_one())
        for chunk in chunks(hashes)
    )
