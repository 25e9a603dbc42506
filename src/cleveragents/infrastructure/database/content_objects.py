"""A snapshot's content as objects, in bounded batches: written inside its one transaction,
read back a batch or a chunk at a time.

Content read from the sandbox (``SnapshotContent.sources``) is read, re-hashed,
packed (:func:`.object_codec.compress`) and inserted at most ``batch_bytes`` raw
bytes at a time, then dropped, so a snapshot's memory does not grow with its bytes.
Content above ``chunk_size`` is stored without a delta, as a *chunk list* (an object
of kind ``chunks`` keyed by the content's sha256, listing ``[chunk sha256, size]``)
and one blob per chunk: no writer or reader ever holds it whole.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from cleveragents._logging import get_logger
from cleveragents._pacing import pause
from cleveragents.domain.errors import IntegrityCheckError, SourceChangedError
from cleveragents.domain.models.core.checkpoint import ContentSource
from cleveragents.infrastructure.database.models import CheckpointObjectModel
from cleveragents.infrastructure.database.object_codec import (
    DELTA_HEAD,
    LARGE_OBJECT_BYTES,
    delta_base,
    unpack_pieces,
)
from cleveragents.infrastructure.database.object_compression import compress
from cleveragents.infrastructure.database.object_ranges import (
    Read,
    StoredRanges,
    read_range,
)
from cleveragents.infrastructure.database.object_store import (
    BLOB,
    CHUNKS,
    chunks,
    decode_chunk_list,
    insert_ignoring_existing,
    load_objects,
)

_OBJECTS = cast(Table, CheckpointObjectModel.__table__)
_log = get_logger(__name__)

# Raw bytes packed and inserted at once: what a snapshot's content costs in memory
# beyond the scan's own, whatever the workspace's size (two chunks: both cores pack).
BATCH_BYTES: Final = 8 * 1024 * 1024
# Raw bytes read back at once by a restore or a verify (which hold every path too). A
# batch is held about three times while it is read (PostgreSQL's client keeps the
# result, the driver copies it, then it is decompressed): 1 MiB keeps a restore of
# tens of thousands of files within 1 KiB per file there, for a few percent of CPU.
READ_BYTES: Final = 1024 * 1024
# The most of a large object decompressed at a time, as it is consumed (the reader and
# its caller each hold a piece); its stored bytes are read a range at a time too.
PIECE_BYTES: Final = 256 * 1024
# Content above this is stored in chunks of this size: the codec's one cap.
CHUNK_SIZE: Final = LARGE_OBJECT_BYTES
_CHUNK_LIST_JSON: Final = json.JSONEncoder(separators=(",", ":"))


@dataclass(frozen=True)
class ContentLimits:
    """How much raw content a batch written or read holds, and the size above which
    content is chunked."""

    batch_bytes: int = BATCH_BYTES
    chunk_size: int = CHUNK_SIZE
    read_bytes: int = READ_BYTES

    def __post_init__(self) -> None:
        for name in ("batch_bytes", "chunk_size", "read_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


class MemorySource:
    """Bytes already in memory, as a :class:`ContentSource` (to be chunked like a file)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    @property
    def size(self) -> int:
        return len(self._data)

    def pieces(self, size: int) -> Iterator[bytes]:
        view = memoryview(self._data)
        for start in range(0, len(view), size):
            yield bytes(view[start : start + size])


class _Batch:
    """Objects waiting to be packed and inserted together, at most ``limit`` raw bytes."""

    def __init__(self, session: Session, limit: int) -> None:
        self._session = session
        self._limit = limit
        self._items: dict[str, bytes] = {}
        self._kinds: dict[str, str] = {}
        self._held = 0

    def add(self, digest: str, data: bytes, kind: str = BLOB) -> None:
        if self._items and self._held + len(data) > self._limit:
            self.flush()
        self._items[digest] = data
        self._kinds[digest] = kind
        self._held += len(data)

    def flush(self) -> None:
        if not self._items:
            return
        packable = {digest for digest, kind in self._kinds.items() if kind == BLOB}
        rows = [
            {
                "object_hash": stored.digest,
                "kind": stored.kind or self._kinds[stored.digest],
                "size": stored.size,
                "data": stored.data,
            }
            for stored in compress(self._items, packable=packable)
        ]
        self._items, self._kinds, self._held = {}, {}, 0
        insert_ignoring_existing(self._session, rows)


def write_sources(
    session: Session, sources: Mapping[str, ContentSource], limits: ContentLimits
) -> None:
    """Read, check, pack and insert every source, a batch at a time, in ``session``.

    ``SourceChangedError`` when a source no longer matches its hash (or cannot be
    read): the caller's transaction must then be rolled back.
    """
    batch = _Batch(session, limits.batch_bytes)
    for digest, source in sources.items():
        pause()
        if source.size > limits.chunk_size:
            _add_chunked(batch, digest, source, limits.chunk_size)
        else:
            batch.add(digest, _read_whole(digest, source))
    batch.flush()


def _read_whole(digest: str, source: ContentSource) -> bytes:
    return b"".join(_checked_pieces(digest, source, 1 << 20))


def _add_chunked(batch: _Batch, digest: str, source: ContentSource, size: int) -> None:
    listing: list[list[Any]] = []
    pending = b""
    for piece in _checked_pieces(digest, source, size):
        pending += piece
        while len(pending) >= size:
            listing.append(_add_chunk(batch, pending[:size]))
            pending = pending[size:]
    if pending or not listing:
        listing.append(_add_chunk(batch, pending))
    batch.add(digest, _CHUNK_LIST_JSON.encode(listing).encode(), CHUNKS)


def _add_chunk(batch: _Batch, data: bytes) -> list[Any]:
    chunk = hashlib.sha256(data).hexdigest()
    batch.add(chunk, data)
    return [chunk, len(data)]


def _checked_pieces(digest: str, source: ContentSource, size: int) -> Iterator[bytes]:
    """The source's pieces; ``SourceChangedError`` after the last if they are not ``digest``."""
    hashed = hashlib.sha256()
    length = 0
    try:
        for piece in source.pieces(size):
            hashed.update(piece)
            length += len(piece)
            yield piece
    except OSError as exc:
        raise SourceChangedError(f"content {digest} could not be read again: {exc}") from exc
    if hashed.hexdigest() != digest:
        _log.warning("snapshot.source_changed", sha256=digest, size=length)
        raise SourceChangedError(
            f"content {digest} changed between the scan and the write ({length} bytes now)"
        )


# --- reading -------------------------------------------------------------------------------


def read_pieces(
    read: Read, hashes: Sequence[str], limits: ContentLimits
) -> Iterator[tuple[str, Iterator[bytes]]]:
    """(hash, pieces) of each stored object of ``hashes`` (sorted, each once); missing ones
    are skipped.

    Whole objects are read a batch of at most ``limits.read_bytes`` at a time (one
    piece each); one larger than that alone, decompressed in pieces of at most that
    size and ``PIECE_BYTES`` as they are consumed; a chunk list's chunks one at a time.
    ``read(action, work)`` runs ``work`` in a read transaction.
    """
    piece_bytes = min(limits.read_bytes, PIECE_BYTES)
    for part in chunks(hashes):
        rows = cast(list[tuple[str, str, int]], read("read checkpoint content sizes", _sizes(part)))
        batch: list[str] = []
        held = 0
        listed: list[str] = []
        for digest, kind, size in sorted(rows):
            if kind == CHUNKS:
                listed.append(digest)
                continue
            if size > limits.read_bytes:  # alone, and decompressed as it is consumed
                yield from _streamed(read, digest, piece_bytes)
                continue
            if batch and held + size > limits.read_bytes:
                yield from _whole(read, batch)
                batch, held = [], 0
            batch.append(digest)
            held += size
        yield from _whole(read, batch)
        for digest, listing in _load(read, listed).items():  # a few bytes each
            pieces = _chunks_of(read, digest, decode_chunk_list(digest, listing), piece_bytes)
            yield digest, pieces


def _sizes(hashes: Sequence[str]) -> Callable[[Session], list[tuple[str, str, int]]]:
    query = select(_OBJECTS.c.object_hash, _OBJECTS.c.kind, _OBJECTS.c.size).where(
        _OBJECTS.c.object_hash.in_(hashes)
    )
    return lambda session: [(row[0], row[1], int(row[2])) for row in session.execute(query)]


def _load(read: Read, hashes: Sequence[str]) -> dict[str, bytes]:
    loaded = cast(
        dict[str, tuple[str, bytes]],
        read("read checkpoint content", lambda session: load_objects(session, hashes)),
    )
    return {digest: data for digest, (_, data) in loaded.items()}


def _whole(read: Read, batch: Sequence[str]) -> Iterator[tuple[str, Iterator[bytes]]]:
    if not batch:
        return
    for digest, data in _load(read, batch).items():
        yield digest, iter((data,))


def _streamed(read: Read, digest: str, size: int) -> Iterator[tuple[str, Iterator[bytes]]]:
    """One large object (none if it is gone) in pieces of ``size`` bytes (see
    :func:`_object_pieces`)."""
    pieces = _object_pieces(read, digest, size)
    if pieces is not None:
        yield digest, pieces


def _object_pieces(read: Read, digest: str, size: int) -> Iterator[bytes] | None:
    """One stored object's content in pieces of ``size`` bytes, its stored form read a
    range (of at most ``size`` bytes, or as much as zstd asks for) at a time as they are
    consumed; None if it is not stored. A delta's base is read whole first (a
    dictionary is used whole)."""
    head = read_range(read, digest, 0, size)
    if head is None:
        return None
    base: bytes | None = None
    named = delta_base(head[:DELTA_HEAD])
    if named is not None:
        base = _load(read, [named]).get(named)
        if base is None:
            raise IntegrityCheckError(f"object {digest} is a delta of {named}, which is missing")
    rest = StoredRanges(read, digest, len(head)) if len(head) == size else None
    return unpack_pieces(digest, head, size, base, rest)


def _chunks_of(
    read: Read, digest: str, listing: Sequence[tuple[str, int]], size: int
) -> Iterator[bytes]:
    for chunk, _ in listing:
        pieces = _object_pieces(read, chunk, size)
        if pieces is None:
            raise IntegrityCheckError(f"chunk {chunk} of {digest} is missing from the store")
        yield from pieces
        del pieces  # let go before the next chunk is read
