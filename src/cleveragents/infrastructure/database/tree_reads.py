"""Reading parsed trees: whole walks, level by level, a bounded memory of them, comparisons.

A tree is read from the object store (:mod:`.object_store`), checked against its
hash and parsed. :func:`walk_trees` reads every tree below some roots;
:func:`walk_level` and :func:`walk_level_with_bases` read one level of them;
:data:`PARSED` is the bounded memory of parsed trees that the restore's hot reads
share; :func:`tree_diff_of` compares two trees and :func:`paths_among` finds
paths in them, and :func:`trees_at` the trees of some folders, all reading only
the trees on their way.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any, Final

from sqlalchemy.orm import Session

from cleveragents.domain.errors import IntegrityCheckError
from cleveragents.domain.models.core.checkpoint import EMPTY_TREE_SHA256, ManifestEntry
from cleveragents.infrastructure.database.object_store import load_intact, load_objects
from cleveragents.infrastructure.database.tree_codec import (
    TREE,
    entry_of,
    flatten,
    folders_above,
    is_folder_row,
)

# How many parsed trees the process keeps for restores (a few MB at most).
PARSED_TREES: Final = 8192


def walk_trees(
    session: Session, roots: Iterable[str], bases: set[str] | None = None
) -> dict[str, list[list[Any]]]:
    """Every tree reachable from ``roots``, parsed, read one level at a time.

    The hashes of the trees they are stored as deltas of are added to ``bases``.
    """
    trees: dict[str, list[list[Any]]] = {}
    wanted = sorted(set(roots))
    while wanted:
        loaded = walk_level_with_bases(session, wanted, bases)
        next_level: set[str] = set()
        for digest, children in loaded.items():
            trees[digest] = children
            next_level.update(c[2] for c in children if c[1] == TREE and c[2] not in trees)
        wanted = sorted(next_level - set(trees))
    return trees


def tree_diff_of(
    session: Session, first: str, second: str
) -> tuple[dict[str, ManifestEntry], dict[str, ManifestEntry]]:
    """The entries of two trees at every path where they differ, reading only what differs.

    Like ``git diff-tree``: equal sub-trees (same hash) are never read.
    """
    found: tuple[dict[str, ManifestEntry], dict[str, ManifestEntry]] = ({}, {})
    trees: dict[str, list[list[Any]]] = {}
    level = [("", first, second)]
    while level:
        needed = {digest for _, *pair in level for digest in pair} - trees.keys()
        trees.update(PARSED.level(session, sorted(needed)))
        whole: list[tuple[int, str, str]] = []  # (side, path, sub-tree) read whole
        deeper: list[tuple[str, str, str]] = []
        for prefix, one, two in level:
            rows = ({r[0]: r for r in trees[one]}, {r[0]: r for r in trees[two]})
            for name in rows[0].keys() | rows[1].keys():
                left, right = rows[0].get(name), rows[1].get(name)
                if left == right:
                    continue
                path = f"{prefix}{name}"
                if is_folder_row(left) and is_folder_row(right):
                    deeper.append((f"{path}/", left[2], right[2]))
                    continue
                for side, row in enumerate((left, right)):
                    if row is None:
                        continue
                    if is_folder_row(row):
                        whole.append((side, path, row[2]))
                    else:
                        found[side][path] = entry_of(path, *row[1:])
        wanted = {digest for _, _, digest in whole}
        while wanted:  # the whole sub-trees, a level at a time
            trees.update(PARSED.level(session, sorted(wanted - trees.keys())))
            wanted = {
                row[2] for digest in wanted for row in trees[digest] if row[1] == TREE
            } - trees.keys()
        for side, path, digest in whole:
            if not trees[digest]:
                found[side][path] = entry_of(path, TREE, digest, 0, False)
            for entry in flatten(digest, trees, f"{path}/"):
                found[side][entry.path] = entry
        level = deeper
    return found


def paths_among(session: Session, roots: Iterable[str], wanted: set[str]) -> set[str]:
    """The ``wanted`` paths that some tree of ``roots`` holds, reading only trees on their way."""
    folders = {folder for path in wanted for folder in folders_above(path)}
    found: set[str] = set()
    level = {(root, "") for root in roots}  # (tree hash, its folder's prefix)
    trees: dict[str, list[list[Any]]] = {}
    while level:
        missing = sorted({digest for digest, _ in level} - trees.keys())
        trees.update(PARSED.level(session, missing))
        next_level: set[tuple[str, str]] = set()
        for digest, prefix in level:
            for name, kind, sha256, _, _ in trees[digest]:
                path = f"{prefix}{name}"
                if path in wanted and (kind != TREE or sha256 == EMPTY_TREE_SHA256):
                    found.add(path)  # a file, symlink or empty folder; not a folder above one
                if kind == TREE and path in folders:
                    next_level.add((sha256, f"{path}/"))
        level = next_level
    return found


def walk_level(session: Session, hashes: Sequence[str]) -> dict[str, list[list[Any]]]:
    """The parsed trees of ``hashes``, each checked against its hash."""
    return walk_level_with_bases(session, hashes, None)


class ParsedTrees:
    """A bounded, thread-safe memory of parsed trees by hash.

    A tree is content-addressed and never changes, and each one here was checked
    against its hash when it was read, so a hit is always what the store holds.
    Only the restore's hot reads use it (tree comparison, known paths);
    ``verify_checkpoint``, manifests and garbage collection always read the store.
    """

    def __init__(self, size: int = PARSED_TREES) -> None:
        self._size = size
        self._trees: OrderedDict[str, list[list[Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def level(self, session: Session, hashes: Sequence[str]) -> dict[str, list[list[Any]]]:
        """:func:`walk_level`, answering from memory what it can."""
        found: dict[str, list[list[Any]]] = {}
        with self._lock:
            for digest in hashes:
                tree = self._trees.get(digest)
                if tree is not None:
                    self._trees.move_to_end(digest)
                    found[digest] = tree
        missing = [digest for digest in hashes if digest not in found]
        if missing:
            loaded = walk_level(session, missing)
            found.update(loaded)
            with self._lock:
                self._trees.update(loaded)
                while len(self._trees) > self._size:
                    self._trees.popitem(last=False)
        return found


PARSED = ParsedTrees()


def walk_level_with_bases(
    session: Session, hashes: Sequence[str], bases: set[str] | None
) -> dict[str, list[list[Any]]]:
    """:func:`_walk_level`, adding the hashes of the delta bases used to ``bases``."""
    loaded = load_objects(session, hashes, bases)
    missing = set(hashes) - set(loaded)
    if missing:
        raise IntegrityCheckError(f"tree {sorted(missing)[0]} is missing from the store")
    parsed: dict[str, list[list[Any]]] = {}
    for digest, (_, data) in loaded.items():
        if hashlib.sha256(data).hexdigest() != digest:
            raise IntegrityCheckError(f"tree {digest} does not match its hash")
        parsed[digest] = json.loads(data)
    return parsed


def trees_at(session: Session, root: str, folders: Iterable[str]) -> dict[str, tuple[str, bytes]]:
    """The tree at each of ``folders`` (``""``: the root) below the tree ``root``: its hash
    and bytes, for those there; only the trees on their paths are read. A tree missing
    (or damaged, or not matching its hash) is left out, with what is below it."""
    wanted = set(folders)
    on_the_way = wanted | {above for folder in wanted for above in folders_above(folder)}
    found: dict[str, tuple[str, bytes]] = {}
    level = {"": root}  # folder -> its tree's hash
    while level:
        loaded = load_intact(session, sorted(set(level.values())))
        below: dict[str, str] = {}
        for folder, digest in level.items():
            data = loaded.get(digest)
            if data is None:
                continue
            if folder in wanted:
                found[folder] = (digest, data)
            for row in json.loads(data):
                path = f"{folder}/{row[0]}" if folder else str(row[0])
                if row[1] == TREE and path in on_the_way:
                    below[path] = str(row[2])
        level = below
    return found
