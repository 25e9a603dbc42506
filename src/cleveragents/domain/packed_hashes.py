"""Many content hashes held compactly, and handed out a window of hash strings at a time.

A restore or verify of a big tree needs every hash of its snapshot at once, and
a SHA-256 hex string costs 113 bytes of memory where its digest takes 32. Kept
packed, sorted, the hashes are turned back into strings a window at a time, just
before the store reads that window's objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Final

DIGEST_BYTES: Final = 32
# Hashes read from the store at a time (two of its IN lists): the hash strings of a
# window, and the maps a restore keeps of them, are held while it is read.
WINDOW: Final = 1024


def packed_hashes(hashes: Iterable[str]) -> bytes:
    """The distinct SHA-256 hex ``hashes`` as sorted 32-byte digests, one after the other.

    Sorted as bytes, digests keep their hex strings' order (lowercase hex). A value
    that is not a SHA-256 hex string raises ``ValueError``.
    """
    digests = sorted({bytes.fromhex(digest) for digest in hashes})
    if any(len(digest) != DIGEST_BYTES for digest in digests):
        raise ValueError("a content hash is not 64 hex digits")
    return b"".join(digests)


def hash_windows(packed: bytes, window: int = WINDOW) -> Iterator[list[str]]:
    """The hex strings of ``packed`` (see :func:`packed_hashes`), ``window`` at a time."""
    step = window * DIGEST_BYTES
    for start in range(0, len(packed), step):
        part = memoryview(packed)[start : start + step]
        yield [part[at : at + DIGEST_BYTES].hex() for at in range(0, len(part), DIGEST_BYTES)]
