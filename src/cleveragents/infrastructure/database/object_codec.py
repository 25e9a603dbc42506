"""Stored objects, without SQL: zstd, deltas against a base, and a checkpoint's diff.

An object is stored zstd-compressed, or as a delta: zstd with the bytes of an
earlier version as its dictionary (the ``--patch-from`` idea). Reading one
follows its chain of deltas down to a whole object. Objects written before
(zlib, and zlib deltas with a preset dictionary) are still read.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Final, NamedTuple, Protocol, cast

import zstandard

from cleveragents._pacing import pause
from cleveragents.domain.errors import IntegrityCheckError
from cleveragents.domain.models.core.checkpoint import (
    DiffEntry,
    diff_canonical_bytes,
    diff_from_rows,
)

# zlib's default level: 4.8 MB (4%) smaller than git's level 1 on the 200 MB
# benchmark workspace, for about a second more of compression on a first snapshot.
# Still used for diffs (and read back for objects written before zstd).
COMPRESSION_LEVEL: Final = 6
# zstd's level for objects, whole or deltas: as small as zlib's level 6 whole and
# about as fast; higher levels cost several times the time for a percent or two
# (docs/adr/0011-deltas.md).
ZSTD_LEVEL: Final = 9
# A delta is this mark, the base's raw sha256, the chain depth (one byte), then a
# zstd frame whose dictionary is the base's bytes.
DELTA_MARK: Final = b"\x01"
# The mark of the deltas written before zstd: the base's raw sha256, then a zlib
# stream with the base's bytes as preset dictionary (read, never written).
ZLIB_DELTA_MARK: Final = b"\x00"
_HASH_BYTES: Final = 32
# The bytes that name a delta's base (mark and raw sha256): what garbage collection
# and retention read of an object, never its content.
DELTA_HEAD: Final = 1 + _HASH_BYTES
# A delta chain is at most this deep: restoring or verifying one object reads at
# most this many more objects. The next version of an object this deep is whole.
MAX_DELTA_CHAIN: Final = 16
# Content above this size is never a delta nor a delta's base (a delta would hold
# both versions in memory at once); such content is stored in chunks of this size
# instead (content_objects; CONTRACT 7.4 allows at most 16 MB).
LARGE_OBJECT_BYTES: Final = 4 * 1024 * 1024
_BOUNDED_TABLES_FROM: Final = 256 * 1024
_HASH_LOG: Final = 19
_CHAIN_LOG: Final = 18
_ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"
# Stored bytes taken from a reader at a time while decompressing (zstd's own default).
_READ_SIZE: Final = zstandard.DECOMPRESSION_RECOMMENDED_INPUT_SIZE
# The decompressed bytes of a stored diff handed out at once.
DIFF_PIECE: Final = 64 * 1024
_CLEARLY_SMALLER: Final = 8


class DeltaBase(NamedTuple):
    """The stored object a new version is packed against: its hash, bytes and chain depth."""

    digest: str
    data: bytes
    depth: int = 0


def is_delta(head: bytes) -> bool:
    """Whether stored bytes starting with ``head`` are a delta (of either format)."""
    return head[:1] in (DELTA_MARK, ZLIB_DELTA_MARK)


def delta_base(head: bytes) -> str | None:
    """The base's hash named by stored bytes starting with ``head`` (``DELTA_HEAD`` bytes)."""
    return bytes(head[1:DELTA_HEAD]).hex() if is_delta(head) else None


def delta_depth(data: bytes) -> int:
    """How many deltas deep a stored object is: 0 when whole.

    A zlib delta does not record its depth; it counts as full, so that nothing new
    is packed against it.
    """
    if data[:1] == DELTA_MARK:
        return data[DELTA_HEAD]
    return MAX_DELTA_CHAIN if data[:1] == ZLIB_DELTA_MARK else 0


def can_delta(data: bytes, base: DeltaBase | None) -> bool:
    """Whether ``data`` may be packed against ``base``: a short chain, and no large content."""
    return (
        base is not None
        and base.depth < MAX_DELTA_CHAIN
        and len(data) <= LARGE_OBJECT_BYTES
        and len(base.data) <= LARGE_OBJECT_BYTES
    )


def _dictionary(base: bytes) -> zstandard.ZstdCompressionDict:
    return zstandard.ZstdCompressionDict(base, dict_type=zstandard.DICT_TYPE_RAWCONTENT)


def pack_object(data: bytes, base: DeltaBase | None = None) -> bytes:
    """The stored form of an object: zstd, or a delta against ``base`` when that is smaller.

    A whole object is a zstd frame (it starts with zstd's magic number). A zlib
    stream never starts with a delta mark nor with zstd's magic number, so objects
    of every format ever written can be told apart. A delta of at most an eighth
    of the content is kept without packing the content whole to compare: whole
    content that small is rare, and the difference would be a few bytes.
    """
    delta = pack_delta(data, base) if base is not None and can_delta(data, base) else None
    return smaller_form(data, delta)


def smaller_form(data: bytes, delta: bytes | None) -> bytes:
    """``delta`` (a delta of ``data``, or None) or ``data`` packed whole, whichever is
    smaller; a delta of at most an eighth of the content is kept without packing it whole."""
    if delta is not None and len(delta) * _CLEARLY_SMALLER <= len(data):
        return delta
    whole = _exact(_packer(len(data)).compress(data), len(data))
    return delta if delta is not None and len(delta) < len(whole) else whole


def _packer(size: int, base: bytes | None = None) -> zstandard.ZstdCompressor:
    """A compressor for ``size`` bytes, with ``base`` as its dictionary if given.

    Above ``_BOUNDED_TABLES_FROM`` bytes, zstd's tables stay those of a lower level
    (``_HASH_LOG`` / ``_CHAIN_LOG``): a context of about 3 MB instead of 11 at
    ``ZSTD_LEVEL``, for a fraction of a percent of size on such content.
    """
    dictionary = _dictionary(base) if base is not None else None
    if size < _BOUNDED_TABLES_FROM:
        return zstandard.ZstdCompressor(level=ZSTD_LEVEL, dict_data=dictionary)
    params = zstandard.ZstdCompressionParameters.from_level(
        ZSTD_LEVEL, source_size=size, hash_log=_HASH_LOG, chain_log=_CHAIN_LOG
    )
    return zstandard.ZstdCompressor(compression_params=params, dict_data=dictionary)


def _exact(frame: bytes, size: int) -> bytes:
    """``frame`` (packed from ``size`` bytes) in memory of its own size.

    python-zstandard's ``compress`` hands out bytes that keep the whole worst-case
    output buffer (about the input's size), which every packed object waiting for
    its insert would otherwise hold. A frame of at least half its input (content
    that hardly compresses) wastes less than it would cost to copy.
    """
    return frame if len(frame) * 2 >= size else bytes(memoryview(frame))


def pack_delta(data: bytes, base: DeltaBase) -> bytes:
    """``data`` as a delta of ``base``: ``DELTA_MARK``, the base's raw 32-byte sha256,
    the new chain depth, then a zstd frame compressed with the base's bytes as dictionary."""
    packer = _packer(len(data) + len(base.data), base.data)
    return delta_head(base) + packer.compress(data)


def delta_head(base: DeltaBase) -> bytes:
    """What a delta of ``base`` starts with: ``DELTA_MARK``, the base's raw sha256 and the
    new chain depth."""
    return DELTA_MARK + bytes.fromhex(base.digest) + bytes((base.depth + 1,))


def _decode(data: bytes, base: bytes | None) -> bytes:
    """The content of one stored object, its base's content given when it is a delta."""
    if data[:1] == DELTA_MARK:
        reader = zstandard.ZstdDecompressor(dict_data=_dictionary(base or b""))
        return reader.decompress(data[DELTA_HEAD + 1 :])
    if data[:4] == _ZSTD_MAGIC:
        return zstandard.ZstdDecompressor().decompress(data)
    if data[:1] == ZLIB_DELTA_MARK:
        inflater = zlib.decompressobj(zdict=base or b"")
        out = inflater.decompress(data[DELTA_HEAD:]) + inflater.flush()
        if not inflater.eof:
            raise zlib.error("incomplete or truncated stream")
        return out
    return zlib.decompress(data)


def unpack(
    digest: str,
    stored: Mapping[str, tuple[str, bytes]],
    unpacked: dict[str, bytes],
    bases: set[str] | None,
    *,
    drop: bool = False,
) -> bytes:
    """The bytes of ``digest``, following its chain of deltas down to a whole object.

    ``drop``: each base below ``digest`` goes from ``unpacked`` once the next version
    is decoded (nothing else needs it), so a chain costs two versions at a time.
    """
    chain: list[str] = []
    at = digest
    while at not in unpacked:
        if at in chain:
            raise IntegrityCheckError(f"object {digest} is a delta of itself")
        if at not in stored:
            raise IntegrityCheckError(f"object {chain[-1]} is a delta of {at}, which is missing")
        chain.append(at)
        base = delta_base(stored[at][1][:DELTA_HEAD])
        if base is None:
            break
        at = base
        if bases is not None:
            bases.add(at)
    for each in reversed(chain):
        data = stored[each][1]
        base = delta_base(data[:DELTA_HEAD])
        try:
            unpacked[each] = _decode(data, None if base is None else unpacked[base])
        except (zlib.error, zstandard.ZstdError) as exc:
            raise IntegrityCheckError(f"object {each} is corrupt: {exc}") from exc
        if drop and base is not None:
            del unpacked[base]
    return unpacked[digest]


def encode_diff(diff: Sequence[DiffEntry]) -> bytes:
    """How a checkpoint's diff is stored: zlib of its canonical form (``diff_canonical_bytes``)."""
    return zlib.compress(diff_canonical_bytes(diff), COMPRESSION_LEVEL)


def added_paths(checkpoint_id: str, data: bytes | None) -> list[str]:
    """The paths a stored diff says are there now (without building its entries).

    Folders' shown paths lose their trailing ``/``. ``IntegrityCheckError`` if damaged.
    """
    if data is None:
        return []
    try:
        rows = json.loads(zlib.decompress(data))
        return [str(row[0]).removesuffix("/") for row in rows if row[1] is not None]
    except (zlib.error, ValueError, TypeError, IndexError) as exc:
        raise IntegrityCheckError(f"the diff of checkpoint {checkpoint_id} is corrupt") from exc


def diff_pieces(checkpoint_id: str, data: bytes | None) -> Iterator[bytes]:
    """The canonical bytes :func:`encode_diff` stored, decompressed a piece at a time.

    ``IntegrityCheckError`` (after the pieces before the damage) if it is damaged.
    """
    if data is None:
        yield diff_canonical_bytes([])
        return
    try:
        yield from _inflate(data, DIFF_PIECE)
    except zlib.error as exc:
        raise IntegrityCheckError(f"the diff of checkpoint {checkpoint_id} is corrupt") from exc


def _inflate(data: bytes, size: int, base: bytes = b"") -> Iterator[bytes]:
    """A zlib stream's content (``base`` its preset dictionary) in pieces of at most
    ``size`` bytes (``zlib.error`` if damaged)."""
    inflater = zlib.decompressobj(zdict=base) if base else zlib.decompressobj()
    pending = data
    while True:
        piece = inflater.decompress(pending, size)
        pending = inflater.unconsumed_tail
        if piece:
            pause()  # see cleveragents._pacing
            yield piece
        if inflater.eof:
            break
        if not piece and not pending:
            raise zlib.error("incomplete or truncated stream")
    if inflater.unused_data:
        raise zlib.error("data after the end of the stream")


class Reader(Protocol):
    """Where the rest of a stored form is read from (``read(size)``: empty at the end)."""

    def read(self, size: int = -1) -> bytes: ...


class _Joined:
    """``first``, then what ``rest`` reads: a stored form read from where its head ends.

    Never more than ``size`` bytes at a time: zstandard copies what ``read`` returns
    into a buffer of the size it asked for.
    """

    def __init__(self, first: bytes, rest: Reader) -> None:
        self._pending = memoryview(first)
        self._rest = rest

    def read(self, size: int = -1) -> bytes:
        if not self._pending:
            self._pending = memoryview(self._rest.read(size))
        taken = self._pending if size < 0 else self._pending[:size]
        self._pending = self._pending[len(taken) :]
        return bytes(taken)


def _source(first: bytes, rest: Reader | None) -> bytes | IO[bytes]:
    """What zstd decompresses: ``first`` alone, or joined with what ``rest`` reads."""
    if rest is None:
        return first
    # zstandard only ever calls ``read(size)`` on a source; its stubs ask for a whole IO.
    return cast(IO[bytes], _Joined(first, rest))


def _all_of(rest: Reader) -> bytes:
    pieces = []
    while piece := rest.read():
        pieces.append(piece)
    return b"".join(pieces)


def unpack_pieces(
    digest: str, data: bytes, size: int, base: bytes | None = None, rest: Reader | None = None
) -> Iterator[bytes]:
    """A stored object's content in pieces of at most ``size`` bytes, decompressed as
    they are consumed: a large object is never held whole twice. A delta needs its
    base's content, ``base``. With ``rest``, ``data`` is the stored form's first bytes
    and ``rest`` reads the others as they are needed (a form of zlib, from before
    zstd, is read whole first).

    ``IntegrityCheckError`` if it cannot be decompressed (callers re-hash what they read).
    """
    pieces: Iterator[bytes]
    try:
        if data[:1] == DELTA_MARK:
            reader = zstandard.ZstdDecompressor(dict_data=_dictionary(base or b""))
            frame = data[DELTA_HEAD + 1 :]
            pieces = reader.read_to_iter(
                _source(frame, rest), read_size=_READ_SIZE, write_size=size
            )
        elif data[:4] == _ZSTD_MAGIC:
            pieces = zstandard.ZstdDecompressor().read_to_iter(
                _source(data, rest), read_size=_READ_SIZE, write_size=size
            )
        else:
            whole = data if rest is None else data + _all_of(rest)
            if whole[:1] == ZLIB_DELTA_MARK:
                pieces = _inflate(whole[DELTA_HEAD:], size, base or b"")
            else:
                pieces = _inflate(whole, size)
        for piece in pieces:
            pause()  # see cleveragents._pacing
            yield piece
    except (zlib.error, zstandard.ZstdError) as exc:
        raise IntegrityCheckError(f"object {digest} is corrupt: {exc}") from exc


def decode_diff(checkpoint_id: str, data: bytes | None) -> list[DiffEntry]:
    """The diff :func:`encode_diff` stored; ``IntegrityCheckError`` if it is damaged."""
    if data is None:
        return []
    try:
        return diff_from_rows(json.loads(zlib.decompress(data)))
    except (zlib.error, ValueError, TypeError) as exc:
        raise IntegrityCheckError(f"the diff of checkpoint {checkpoint_id} is corrupt") from exc
