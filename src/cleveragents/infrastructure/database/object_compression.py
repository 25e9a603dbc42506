"""A batch of new objects in their stored forms: deltas, whole objects, and small new files
packed against a dictionary they share.

A small new file with no earlier version to be a delta of is rarely alone: a
first snapshot, or a step that adds files, brings many, and files of one project
share much of their text (headers, imports, names). Compressed one by one, each
zstd frame starts from nothing. So when a batch brings enough of them, a sample
of their content, taken evenly across the batch, becomes a *dictionary*: an
object of its own (kind ``dict``, stored whole), and each of them is stored as a
delta of it, in the one delta format (:func:`.object_codec.pack_delta`).

A later batch with too few such files for a dictionary of its own packs them
against the dictionary its caller offers (the plan's last one), where that is
smaller: a step that adds a file or two shares the text of the files before it.

Nothing else changes: reading one follows its base as for any delta (the
dictionary is at most ``DICTIONARY_BYTES``), and garbage collection and retention
keep a dictionary while an object they keep is a delta of it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Final, NamedTuple

import zstandard

from cleveragents._pacing import helper_threads, mapped, pause
from cleveragents.infrastructure.database.object_codec import (
    ZSTD_LEVEL,
    DeltaBase,
    delta_head,
    pack_object,
    smaller_form,
)

DICTIONARY: Final = "dict"
# The most content a dictionary holds: what reading any object packed against it
# decompresses first.
DICTIONARY_BYTES: Final = 256 * 1024
# The files packed against a dictionary: above this size a file is its own frame
# already; below the lower bound a delta's head would outweigh any gain.
SHARED_MEMBER_BYTES: Final = (128, 64 * 1024)
# A dictionary is made for at least this many such files holding this many bytes:
# fewer would not pay for the dictionary's own row.
SHARED_MEMBERS: Final = 4
SHARED_CONTENT_BYTES: Final = 16 * 1024
# A dictionary's content starts with this line: no file's content, nor a member's, is
# ever a dictionary's (each object has one stored form, and a dictionary is always whole).
DICTIONARY_HEADER: Final = b"cleveragents: a dictionary shared by small files\n"
_THREADED_BYTES: Final = 256 * 1024


class Stored(NamedTuple):
    """One object to insert: its hash, content size and stored form.

    ``kind`` is set for the dictionaries :func:`compress` adds; the others keep the
    kind their caller gave them.
    """

    digest: str
    size: int
    data: bytes
    kind: str | None = None


class _Shared(NamedTuple):
    """A dictionary and the compression state digested from it once (shared by threads:
    zstd only reads it)."""

    base: DeltaBase
    digested: zstandard.ZstdCompressionDict

    @classmethod
    def of(cls, base: DeltaBase) -> _Shared:
        """The dictionary ``base``, digested (zstd holds the GIL meanwhile: once per batch)."""
        digested = zstandard.ZstdCompressionDict(
            base.data, dict_type=zstandard.DICT_TYPE_RAWCONTENT
        )
        digested.precompute_compress(level=ZSTD_LEVEL)
        return cls(base, digested)

    def pack(self, data: bytes) -> bytes:
        """``data`` as a delta of the dictionary, or whole when that is smaller."""
        frame = zstandard.ZstdCompressor(level=ZSTD_LEVEL, dict_data=self.digested).compress(data)
        return smaller_form(data, delta_head(self.base) + frame)


def compress(
    items: Mapping[str, bytes],
    bases: Mapping[str, DeltaBase] | None = None,
    *,
    packable: Collection[str] = (),
    dictionary: DeltaBase | None = None,
) -> list[Stored]:
    """The stored form of each item: a delta where ``bases`` names a base; for small
    ``packable`` ones with none, a delta of a new shared dictionary when there are
    enough of them (the dictionary added), else of ``dictionary`` (a stored one) when
    given; whichever form is smaller, whole otherwise.

    zstd releases the GIL, so every core is used.
    """
    deltas = bases or {}
    members = _small_new(items, deltas, frozenset(packable))
    added: list[Stored] = []
    shared: _Shared | None = None
    if _enough(items, members):
        shared = _dictionary(items, members)
        added.append(_stored_dictionary(shared.base))
    elif members and dictionary is not None:
        shared = _Shared.of(dictionary)

    def pack_one(key: str) -> bytes:
        pause()  # see cleveragents._pacing
        if shared is not None and key in members:
            return shared.pack(items[key])
        return pack_object(items[key], deltas.get(key))

    keys = list(items)
    if sum(map(len, items.values())) < _THREADED_BYTES:  # not worth starting threads
        packed = [pack_one(key) for key in keys]
    else:
        with ThreadPoolExecutor(max_workers=helper_threads()) as pool:
            packed = list(mapped(pool, pack_one, keys))
    return added + [
        Stored(key, len(items[key]), data) for key, data in zip(keys, packed, strict=True)
    ]


def _small_new(
    items: Mapping[str, bytes], bases: Mapping[str, DeltaBase], packable: frozenset[str]
) -> set[str]:
    """The items to pack against a shared dictionary: small ``packable`` ones with no base."""
    low, high = SHARED_MEMBER_BYTES
    return {
        key
        for key, data in items.items()
        if key in packable and key not in bases and low <= len(data) <= high
    }


def _enough(items: Mapping[str, bytes], members: Collection[str]) -> bool:
    """Whether ``members`` are enough to pay for a dictionary of their own."""
    total = sum(len(items[key]) for key in members)
    return len(members) >= SHARED_MEMBERS and total >= SHARED_CONTENT_BYTES


def _dictionary(items: Mapping[str, bytes], members: Collection[str]) -> _Shared:
    """A dictionary of the members' content: whole members taken evenly across the batch
    (in its order: by hash, so a sample of every folder) up to ``DICTIONARY_BYTES``."""
    chosen = [key for key in items if key in members]
    total = sum(len(items[key]) for key in chosen)
    step = max(1, -(-total // DICTIONARY_BYTES))  # take one member in every ``step``
    sample = [DICTIONARY_HEADER]
    held = len(DICTIONARY_HEADER)
    for key in chosen[::step]:
        if held + len(items[key]) > DICTIONARY_BYTES:
            continue
        sample.append(items[key])
        held += len(items[key])
    content = b"".join(sample)
    return _Shared.of(DeltaBase(hashlib.sha256(content).hexdigest(), content))


def _stored_dictionary(base: DeltaBase) -> Stored:
    return Stored(base.digest, len(base.data), pack_object(base.data), DICTIONARY)
