"""Trees of a snapshot, without SQL: their canonical bytes, their rows, and the tree index.

A snapshot's folders are stored as a Merkle tree: each folder is a *tree* object
listing its children, keyed by the sha256 of its bytes. An unchanged folder has
an unchanged tree. :class:`TreeIndex` keeps every folder of a plan's last
snapshot, so the next one encodes only the folders on its changed paths.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any, Final, TypeGuard

from cleveragents._pacing import paced, paced_sorted
from cleveragents.domain.models.core.checkpoint import (
    EMPTY_TREE_SHA256,
    MODE_KINDS,
    DiffEntry,
    FileKind,
    IndexedManifest,
    ManifestEntry,
    SnapshotContent,
)
from cleveragents.domain.models.trusted import from_trusted, trusted_builder

# The kind of a folder: of its row in its parent's tree, and of its stored object.
TREE: Final = "tree"
_TREE_JSON: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def tree_bytes(children: Iterable[Sequence[Any]]) -> bytes:
    """The canonical bytes of a tree: its children ``[name, kind, sha256, size, mode]``.

    ``mode`` is a file's permission bits; a sub-folder's row is
    ``[name, "tree", sha256, 0, false]``, and an empty folder is one whose tree is
    ``[]``. Trees written before modes were recorded hold the executable bit
    (``true``/``false``) where the mode is now.
    """
    ordered = sorted(children, key=itemgetter(0))
    return _TREE_JSON.encode(ordered).encode()


class TreeIndex:
    """Every folder of one snapshot: its children, tree bytes and hash.

    Kept per plan between snapshots (git's cache-tree): the next snapshot applies
    its diff and encodes only the folders on a changed path. The bytes are the
    same as building every tree from the whole manifest.
    """

    def __init__(self) -> None:
        self.children: dict[str, dict[str, list[Any]]] = {"": {}}  # folder -> name -> row
        self.trees: dict[str, tuple[str, bytes]] = {}  # folder -> (hash, bytes)
        self.files: dict[str, ManifestEntry] = {}  # the manifest, by path
        self.total_size = 0  # of the manifest's entries
        # The trees the last update encoded: new hash -> (hash, bytes) of the folder's
        # tree before it, to store the new one as a delta against (where the chain
        # allows: the repository checks the stored base's depth).
        self.bases: dict[str, tuple[str, bytes]] = {}

    @property
    def root(self) -> str:
        """The root tree's hash."""
        return self.trees[""][0]

    @classmethod
    def of(cls, manifest: Iterable[ManifestEntry]) -> tuple[TreeIndex, dict[str, bytes]]:
        """The index of ``manifest`` and every tree object, by hash.

        ``ValueError`` when the manifest lists a path twice, or a path both as a file
        and as a folder above another file: no tree can hold that.
        """
        index = cls()
        children = index.children
        files = index.files
        for entry in paced(manifest):
            parent, _, name = entry.path.rpartition("/")
            rows = children.get(parent)
            if rows is None:
                rows = children[parent] = {}
                folder = parent
                while folder:  # make the folders above it, each listed in its parent
                    above, _, folder_name = folder.rpartition("/")
                    if above in children:
                        if folder_name in children[above]:
                            raise ValueError(
                                f"content.manifest lists {folder} as a file and a folder"
                            )
                        children[above][folder_name] = folder_row(folder_name)
                        break
                    children[above] = {folder_name: folder_row(folder_name)}
                    folder = above
            if name in rows:
                raise ValueError(f"content.manifest lists {entry.path} twice, or as a folder too")
            if entry.kind is FileKind.DIR:
                rows[name] = folder_row(name)
                children[entry.path] = {}
            else:
                rows[name] = file_row(name, entry)
            files[entry.path] = entry
            index.total_size += entry.size
        for path, entry in files.items():
            if entry.kind is FileKind.DIR and children[path]:
                raise ValueError(
                    f"content.manifest lists {path} as an empty folder that holds files"
                )
        return index, index._encode(set(children))

    def update(self, content: SnapshotContent) -> dict[str, bytes] | None:
        """Apply ``content.diff``; the trees that changed, or None if the index is unusable.

        The diff must take this index's manifest to ``content.manifest``. That is
        checked, and on any difference the index must be thrown away and built from
        the manifest. An :class:`IndexedManifest` (a scan's, made with its diff) is
        checked where the diff changed it, by its length and by its total size: the
        work follows the diff, not the tree. A plain list is compared whole.
        """
        manifest = content.manifest
        indexed = manifest if isinstance(manifest, IndexedManifest) else None
        lookup = indexed.entry if indexed is not None else {e.path: e for e in manifest}.get
        dirty: set[str] = set()
        files = self.files
        for change in content.diff:
            if change.sha256 is None:  # deletions first: a file may become a folder
                gone = files.pop(change.path, None)
                if gone is not None:
                    self.total_size -= gone.size
                if change.kind is FileKind.DIR:
                    if self.children.get(change.path):
                        return None
                    self.children.pop(change.path, None)
                    self.trees.pop(change.path, None)
                parent, _, name = change.path.rpartition("/")
                self._remove(parent, name, dirty)
        for change in content.diff:
            if change.sha256 is None:
                continue
            entry = lookup(change.path)
            if entry is None or not _says(change, entry) or not self._put(entry, dirty):
                return None
            replaced = files.get(entry.path)
            if replaced is not None:
                self.total_size -= replaced.size
            files[entry.path] = entry
            self.total_size += entry.size
        if len(files) != len(manifest):
            return None
        if indexed is not None and self.total_size != indexed.total_size:
            return None
        if indexed is None:
            for entry in paced(manifest):
                known = files.get(entry.path)
                if known is not entry and known != entry:
                    return None
        return self._encode(dirty)

    def _put(self, entry: ManifestEntry, dirty: set[str]) -> bool:
        """Add or replace one path; False when the index cannot hold it (rebuild)."""
        parent, _, name = entry.path.rpartition("/")
        if entry.kind is not FileKind.DIR:
            return self._add(parent, name, file_row(name, entry), dirty)
        if entry.path in self.children:
            return not self.children[entry.path]  # an empty folder stays one
        if not self._add(parent, name, folder_row(name), dirty):
            return False
        self.children[entry.path] = {}
        mark_dirty(entry.path, dirty)
        return True

    def _add(self, folder: str, name: str, row: list[Any], dirty: set[str]) -> bool:
        rows = self.children.get(folder)
        if rows is None:
            above, _, folder_name = folder.rpartition("/")
            if not self._add(above, folder_name, folder_row(folder_name), dirty):
                return False
            rows = self.children[folder] = {}
        old = rows.get(name)
        if old is not None and (old[1] == TREE) != (row[1] == TREE):
            return False  # a file where a folder is, or the other way round
        rows[name] = row
        mark_dirty(folder, dirty)
        return True

    def _remove(self, folder: str, name: str, dirty: set[str]) -> None:
        rows = self.children.get(folder)
        if rows is None or rows.pop(name, None) is None:
            return
        if rows or not folder:
            mark_dirty(folder, dirty)
            return
        del self.children[folder]  # a folder is only there while it holds something
        self.trees.pop(folder, None)
        above, _, folder_name = folder.rpartition("/")
        self._remove(above, folder_name, dirty)

    def _encode(self, folders: set[str]) -> dict[str, bytes]:
        """Encode ``folders`` deepest first, each listed in its parent with its new hash."""
        trees: dict[str, bytes] = {}
        self.bases = {}
        live = [f for f in folders if f in self.children]
        deepest_first = sorted(live, key=lambda path: -path.count("/") if path else 1)
        for folder in paced(deepest_first):
            data = tree_bytes(self.children[folder].values())
            digest = hashlib.sha256(data).hexdigest()
            before = self.trees.get(folder)
            if before is not None and before[0] != digest:
                self.bases[digest] = before
            self.trees[folder] = (digest, data)
            trees[digest] = data
            if folder:
                above, _, name = folder.rpartition("/")
                self.children[above][name] = [name, TREE, digest, 0, False]
        return trees


def _says(change: DiffEntry, entry: ManifestEntry) -> bool:
    """True when the diff's entry puts ``entry`` at its path (content; kind, mode if recorded)."""
    return (
        change.sha256 == entry.sha256
        and change.kind in (None, entry.kind)
        and change.mode in (None, entry.mode)
    )


def file_row(name: str, entry: ManifestEntry) -> list[Any]:
    # FileKind is a StrEnum: it encodes as its value, without the enum lookup.
    return [name, entry.kind, entry.sha256, entry.size, entry.mode]


def folder_row(name: str) -> list[Any]:
    """A sub-folder's row; its hash is filled in when its tree is encoded."""
    return [name, TREE, "", 0, False]


def mode_of(kind: FileKind, stored: bool | int) -> int:
    """A row's permission bits; a tree from before modes stored the executable bit."""
    if kind not in MODE_KINDS:
        return 0
    if stored is True or stored is False:
        return 0o755 if stored else 0o644
    return stored


def mark_dirty(folder: str, dirty: set[str]) -> None:
    """Mark ``folder`` and every folder above it as changed."""
    while folder not in dirty:
        dirty.add(folder)
        if not folder:
            return
        folder = folder.rpartition("/")[0]


def flatten(
    root: str, trees: Mapping[str, list[list[Any]]], prefix: str = ""
) -> list[ManifestEntry]:
    """Every entry of the tree ``root`` (whose folder is ``prefix``), sorted by path."""
    entries: list[ManifestEntry] = []
    build = trusted_builder(ManifestEntry)  # a manifest of 20,000 files: 20,000 entries
    stack: list[tuple[str, str]] = [(prefix, root)]
    while stack:
        folder, digest = stack.pop()
        for name, kind, sha256, size, mode in paced(trees[digest]):
            path = f"{folder}{name}"
            if kind == TREE and trees[sha256]:
                stack.append((f"{path}/", sha256))
            else:
                entries.append(entry_of(path, kind, sha256, size, mode, build))
    return paced_sorted(entries, key=lambda entry: entry.path)


def entry_of(
    path: str,
    kind: str,
    sha256: str,
    size: int,
    mode: bool | int,
    build: Callable[[dict[str, Any]], ManifestEntry] | None = None,
) -> ManifestEntry:
    """The manifest entry of one tree row (a row of an empty sub-tree: an empty folder).

    ``build``: a :func:`~cleveragents.domain.models.trusted.trusted_builder` shared by
    the entries of one read.
    """
    path, file_kind, sha256, size, mode = entry_values(path, kind, sha256, size, mode)
    values = {"path": path, "kind": file_kind, "sha256": sha256, "size": size, "mode": mode}
    return from_trusted(ManifestEntry, values) if build is None else build(values)


def entry_values(
    path: str, kind: str, sha256: str, size: int, mode: bool | int
) -> tuple[str, FileKind, str, int, int]:
    """(path, kind, sha256, size, mode) of the manifest entry of one tree row (see
    :func:`entry_of`)."""
    file_kind = FileKind.DIR if kind == TREE else FileKind(kind)
    return (
        path,
        file_kind,
        sha256,
        0 if file_kind is FileKind.DIR else size,
        mode_of(file_kind, mode),
    )


def is_folder_row(row: Sequence[Any] | None) -> TypeGuard[Sequence[Any]]:
    """A sub-folder that holds something (an empty one compares as a path of its own)."""
    return row is not None and row[1] == TREE and row[2] != EMPTY_TREE_SHA256


def folders_above(path: str) -> Iterator[str]:
    folder = path.rpartition("/")[0]
    while folder:
        yield folder
        folder = folder.rpartition("/")[0]
