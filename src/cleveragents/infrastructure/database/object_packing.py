"""Packing a snapshot's new objects: which stored object each one is a delta of.

A new tree is packed against the folder's previous tree, a new file's content
against the previous version of the same path (the hint ``SnapshotContent``
carries), and a small new file with no earlier version against the plan's last
shared dictionary (:mod:`.object_compression`). The base must be stored, and its
chain must leave room for one more delta (:data:`~.object_codec.MAX_DELTA_CHAIN`),
so that reading any object follows a bounded chain. The choice is made in a read
before the write transaction, and checked again inside it: a base collected
meanwhile means the object is packed whole.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Collection, Iterable, Mapping
from typing import Any, Final

from sqlalchemy.orm import Session

from cleveragents.infrastructure.database.object_codec import (
    DELTA_HEAD,
    LARGE_OBJECT_BYTES,
    MAX_DELTA_CHAIN,
    DeltaBase,
    delta_base,
    delta_depth,
)
from cleveragents.infrastructure.database.object_compression import (
    DICTIONARY,
    DICTIONARY_BYTES,
    Stored,
    compress,
)
from cleveragents.infrastructure.database.object_store import (
    delta_heads,
    existing_objects,
    load_intact,
)

# Content remembered after a write, as the likely bases of the next snapshot's
# versions (a few MB: small files only).
RECENT_BYTES: Final = 8 * 1024 * 1024
RECENT_ITEM_BYTES: Final = 256 * 1024
# The key under which ``usable_dictionary`` asks ``choose_bases`` for its one base.
_OFFERED: Final = "offered dictionary"


class RecentContent:
    """A bounded, thread-safe memory of stored content by hash.

    A snapshot's new versions are most often deltas of the previous snapshot's
    new versions: remembering those spares reading each base back, down its
    chain. Content is addressed by its hash, so a hit is what the store holds.
    """

    def __init__(self, limit: int = RECENT_BYTES) -> None:
        self._limit = limit
        self._held = 0
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, items: Iterable[tuple[str, bytes]]) -> None:
        with self._lock:
            for digest, data in items:
                if len(data) > RECENT_ITEM_BYTES or digest in self._items:
                    continue
                self._items[digest] = data
                self._held += len(data)
            while self._held > self._limit:
                self._held -= len(self._items.popitem(last=False)[1])

    def recall(self, hashes: Iterable[str]) -> dict[str, bytes]:
        with self._lock:
            found = {d: self._items[d] for d in hashes if d in self._items}
            for digest in found:
                self._items.move_to_end(digest)
            return found


def choose_bases(
    session: Session,
    wanted: Mapping[str, str],
    known: Mapping[str, bytes] | None = None,
) -> dict[str, DeltaBase]:
    """The bases to pack new objects against (``wanted``: new hash -> base hash).

    Only stored bases with room in their chain are used; their bytes come from
    ``known`` or are read from the store (following their own chains; a damaged
    one is not used).
    """
    in_memory = known or {}
    heads = delta_heads(session, sorted({b for n, b in wanted.items() if b != n}))
    depths = {digest: delta_depth(head) for digest, (_, head) in heads.items()}
    usable = {
        base
        for base, depth in depths.items()
        if depth < MAX_DELTA_CHAIN and heads[base][0] <= LARGE_OBJECT_BYTES
    }
    data = {base: in_memory[base] for base in usable if base in in_memory}
    data.update(load_intact(session, sorted(usable - data.keys())))
    return {
        new: DeltaBase(base, data[base], depths[base])
        for new, base in wanted.items()
        if base in data and base != new
    }


def usable_dictionary(
    session: Session, digest: str | None, known: Mapping[str, bytes]
) -> DeltaBase | None:
    """The stored dictionary ``digest`` as a base to pack small new files against, or None
    when it is gone (collected since it was made) or is no whole object of a
    dictionary's size."""
    if digest is None:
        return None
    base = choose_bases(session, {_OFFERED: digest}, known).get(_OFFERED)
    return (
        base
        if base is not None and base.depth == 0 and len(base.data) <= DICTIONARY_BYTES
        else None
    )


def moved_bases(session: Session, packed: Iterable[Stored]) -> set[str]:
    """The deltas among ``packed`` whose base is no longer stored as it was when they were
    packed (a base written with them, a new dictionary, is theirs to write)."""
    written = {stored.digest for stored in packed}
    named = {
        stored.digest: (base, stored.data[DELTA_HEAD] - 1)
        for stored in packed
        if (base := delta_base(stored.data[:DELTA_HEAD])) is not None and base not in written
    }
    heads = delta_heads(session, sorted({base for base, _ in named.values()}))
    return {
        new
        for new, (base, depth) in named.items()
        if base not in heads or delta_depth(heads[base][1]) != depth
    }


def stored_and_bases(
    session: Session,
    objects: Collection[str],
    hints: Mapping[str, str],
    known: Mapping[str, bytes],
) -> tuple[set[str], dict[str, DeltaBase]]:
    """Which of ``objects`` are stored already, and the bases to pack the others against."""
    stored = existing_objects(session, sorted(objects))
    wanted = {new: base for new, base in hints.items() if new in objects and new not in stored}
    return stored, choose_bases(session, wanted, known)


def object_rows(
    session: Session,
    objects: Mapping[str, tuple[str, bytes]],
    packed: list[Stored],
) -> list[dict[str, Any]]:
    """The rows to insert in the write transaction: ``packed``, and what must be packed whole.

    Objects found stored before the write, or the bases of deltas, may have been
    collected since: those objects are packed (again) whole. A shared dictionary is
    inserted with the objects packed against it, unless another writer stored all of
    them meanwhile: nothing would then need it.
    """
    written = {stored.digest for stored in packed}
    skipped = sorted(objects.keys() - written)
    late = set(skipped) - existing_objects(session, skipped)
    late |= moved_bases(session, packed)
    repacked = compress({digest: objects[digest][1] for digest in sorted(late)})
    rows = {stored.digest: stored for stored in packed + repacked}
    for unneeded in _unneeded_dictionaries(session, packed):
        del rows[unneeded]
    return [
        {
            "object_hash": digest,
            "kind": stored.kind or objects[digest][0],
            "size": stored.size,
            "data": stored.data,
        }
        for digest, stored in rows.items()
    ]


def _unneeded_dictionaries(session: Session, packed: list[Stored]) -> set[str]:
    """The shared dictionaries among ``packed`` whose objects are all stored already."""
    dictionaries = {stored.digest for stored in packed if stored.kind == DICTIONARY}
    if not dictionaries:
        return set()
    users = {
        stored.digest: base
        for stored in packed
        if (base := delta_base(stored.data[:DELTA_HEAD])) in dictionaries
    }
    present = existing_objects(session, sorted(users))
    return dictionaries - {base for digest, base in users.items() if digest not in present}
