"""Stored objects, without SQL: zlib, deltas against a base, and a checkpoint's diff.

An object is stored zlib-compressed, or as a delta: zlib with the bytes of an
earlier version as preset dictionary. Reading one follows its chain of deltas
down to a whole object.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Final

from cleveragents._pacing import mapped, pause
from cleveragents.domain.errors import IntegrityCheckError
from cleveragents.domain.models.core.checkpoint import (
    DiffEntry,
    diff_canonical_bytes,
    diff_from_rows,
)

# zlib's default level: 4.8 MB (4%) smaller than git's level 1 on the 200 MB
# benchmark workspace, for about a second more of compression on a first snapshot.
COMPRESSION_LEVEL: Final = 6
DELTA_MARK: Final = b"\x00"


def pack_object(data: bytes, base: tuple[str, bytes] | None = None) -> bytes:
    """The stored form of an object: zlib, or a delta against ``base`` (hash, bytes).

    A delta is ``DELTA_MARK``, the base's raw 32-byte sha256, then a zlib stream
    compressed with the base's bytes as preset dictionary (``zdict``). No zlib
    stream starts with a zero byte, so the two forms cannot be confused.
    """
    if base is None:
        return zlib.compress(data, COMPRESSION_LEVEL)
    packer = zlib.compressobj(COMPRESSION_LEVEL, zdict=base[1])
    return DELTA_MARK + bytes.fromhex(base[0]) + packer.compress(data) + packer.flush()


def compress(
    items: Mapping[str, bytes], bases: Mapping[str, tuple[str, bytes]] | None = None
) -> list[tuple[str, int, bytes]]:
    """(hash, size, stored form) for each item; zlib releases the GIL, so use every core."""
    keys = list(items)
    deltas = bases or {}

    def pack_one(key: str) -> bytes:
        pause()  # see cleveragents._pacing
        return pack_object(items[key], deltas.get(key))

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        packed = mapped(pool, pack_one, keys)
        return [(key, len(items[key]), data) for key, data in zip(keys, packed, strict=True)]


def unpack(
    digest: str,
    stored: Mapping[str, tuple[str, bytes]],
    unpacked: dict[str, bytes],
    bases: set[str] | None,
) -> bytes:
    """The bytes of ``digest``, following its chain of deltas down to a whole object."""
    chain: list[str] = []
    at = digest
    while at not in unpacked:
        if at in chain:
            raise IntegrityCheckError(f"object {digest} is a delta of itself")
        if at not in stored:
            raise IntegrityCheckError(f"object {chain[-1]} is a delta of {at}, which is missing")
        chain.append(at)
        data = stored[at][1]
        if data[:1] != DELTA_MARK:
            break
        at = data[1:33].hex()
        if bases is not None:
            bases.add(at)
    for each in reversed(chain):
        data = stored[each][1]
        try:
            if data[:1] == DELTA_MARK:
                reader = zlib.decompressobj(zdict=unpacked[data[1:33].hex()])
                out = reader.decompress(data[33:]) + reader.flush()
                if not reader.eof:
                    raise zlib.error("incomplete or truncated stream")
            else:
                out = zlib.decompress(data)
        except zlib.error as exc:
            raise IntegrityCheckError(f"object {each} is corrupt: {exc}") from exc
        unpacked[each] = out
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


def decode_diff(checkpoint_id: str, data: bytes | None) -> list[DiffEntry]:
    """The diff :func:`encode_diff` stored; ``IntegrityCheckError`` if it is damaged."""
    if data is None:
        return []
    try:
        return diff_from_rows(json.loads(zlib.decompress(data)))
    except (zlib.error, ValueError, TypeError) as exc:
        raise IntegrityCheckError(f"the diff of checkpoint {checkpoint_id} is corrupt") from exc
