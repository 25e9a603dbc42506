"""Reads that hold little: the content hashes below a tree, and a tree's manifest in columns.

Restores and verifies of a big tree go through these
(``CheckpointRepository.content_hashes`` and ``packed_manifest``), so what they
keep grows with the hashes and paths found, not with the parsed trees or the
entries' models.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final, cast

from sqlalchemy import Table
from sqlalchemy.orm import Session

from cleveragents.domain.models.core.checkpoint import EMPTY_TREE_SHA256, FileKind
from cleveragents.domain.models.core.packed_manifest import PackedManifest
from cleveragents.infrastructure.database.models import CheckpointObjectModel
from cleveragents.infrastructure.database.tree_codec import TREE, entry_values
from cleveragents.infrastructure.database.tree_reads import walk_level

_OBJECTS = cast(Table, CheckpointObjectModel.__table__)
# Trees parsed at once by a walk that only collects hashes.
_TREES_AT_ONCE: Final = 64


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


def packed_manifest_below(session: Session, root: str) -> PackedManifest:
    """The manifest of the tree ``root``, read a few trees at a time into columns."""
    return PackedManifest.from_rows(_rows_below(session, root))


def _rows_below(session: Session, root: str) -> Iterator[tuple[str, FileKind, str, int, int]]:
    level = [(root, "")]  # (tree, its folder's path with a slash), each tree once per folder
    while level:
        below: list[tuple[str, str]] = []
        level.sort()
        for part in range(0, len(level), _TREES_AT_ONCE):
            folders = level[part : part + _TREES_AT_ONCE]
            trees = walk_level(session, sorted({digest for digest, _ in folders}))
            for digest, prefix in folders:
                for name, kind, sha256, size, mode in trees[digest]:
                    path = f"{prefix}{name}"
                    if kind == TREE and sha256 != EMPTY_TREE_SHA256:
                        below.append((sha256, f"{path}/"))
                    else:
                        yield entry_values(path, kind, sha256, size, mode)
        level = below
