"""Reads that hold little: objects' packed bytes, and the content hashes below a tree.

Restores and verifies of a big tree go through these (:mod:`.content_objects`,
``CheckpointRepository.content_hashes``), so what they keep grows with the hashes
found, not with the parsed trees or the decompressed bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from cleveragents.infrastructure.database.models import CheckpointObjectModel
from cleveragents.infrastructure.database.object_store import chunks, walk_level
from cleveragents.infrastructure.database.tree_codec import TREE

_OBJECTS = cast(Table, CheckpointObjectModel.__table__)
# Trees parsed at once by a walk that only collects hashes.
_TREES_AT_ONCE: Final = 64


def stored_forms(session: Session, hashes: Sequence[str]) -> dict[str, bytes]:
    """The stored (packed) bytes of each stored object of ``hashes``, not decoded."""
    found: dict[str, bytes] = {}
    for chunk in chunks(hashes):
        rows = session.execute(
            select(_OBJECTS.c.object_hash, _OBJECTS.c.data).where(_OBJECTS.c.object_hash.in_(chunk))
        )
        found.update((digest, bytes(data)) for digest, data in rows)
    return found


def hashes_below(session: Session, root: str, kinds: frozenset[str]) -> set[str]:
    """The hashes that the rows of ``kinds`` name in the tree ``root`` and below.

    Read a few trees at a time, each let go once its rows are read: the memory
    follows the hashes found, not the parsed trees.
    """
    found: set[str] = set()
    seen = {root}
    level = [root]
    while level:
        below: set[str] = set()
        for part in range(0, len(level), _TREES_AT_ONCE):
            for rows in walk_level(session, level[part : part + _TREES_AT_ONCE]).values():
                for _, kind, digest, _, _ in rows:
                    if kind == TREE:
                        if digest not in seen:
                            below.add(digest)
                    elif kind in kinds:
                        found.add(digest)
        seen |= below
        level = sorted(below)
    return found
