"""Checkpoint persistence: headers, per-checkpoint diffs and content-addressed objects.

A snapshot's files are stored as a Merkle tree: each directory is a *tree* object
listing its children, each file a *blob* object, both zlib-compressed and keyed by
the sha256 of their bytes. An unchanged directory has an unchanged tree, so a new
snapshot stores only the trees and blobs that changed; identical content is stored
once across checkpoints and plans. Objects no checkpoint reaches are deleted by
``prune`` and ``delete_for_plan``.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from operator import itemgetter
from typing import Any, Final, TypeGuard, cast

from sqlalchemy import Table, delete, func, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cleveragents.domain.models.core._types import INT64_MAX, check_sha256
from cleveragents.domain.models.core._types import require_id as valid_id
from cleveragents.domain.models.core.checkpoint import (
    EMPTY_TREE_SHA256,
    MODE_KINDS,
    Checkpoint,
    CheckpointMetadata,
    DiffEntry,
    FileKind,
    ManifestEntry,
    SnapshotContent,
    diff_canonical_bytes,
    diff_from_rows,
)
from cleveragents.infrastructure.database.errors import (
    BaselineGoneError,
    IntegrityCheckError,
    RecordNotFoundError,
)
from cleveragents.infrastructure.database.models import (
    CheckpointModel,
    CheckpointObjectModel,
    CheckpointStatCacheModel,
)
from cleveragents.infrastructure.database.plan_lock import refuse_cancelled
from cleveragents.infrastructure.database.rollback_marks import current_marks
from cleveragents.infrastructure.database.session import (
    SessionFactory,
    check_session_factory,
    run_in_transaction,
)
from cleveragents.infrastructure.database.sqlite_pages import leaf_order, record_size
from cleveragents.infrastructure.database.trusted import from_trusted

_CHECKPOINTS = cast(Table, CheckpointModel.__table__)
_OBJECTS = cast(Table, CheckpointObjectModel.__table__)
_STAT_CACHE = cast(Table, CheckpointStatCacheModel.__table__)

BLOB: Final = "blob"
TREE: Final = "tree"
TREE_KIND: Final = "tree"
# zlib's default level: 4.8 MB (4%) smaller than git's level 1 on the 200 MB
# benchmark workspace, for about a second more of compression on a first snapshot.
COMPRESSION_LEVEL: Final = 6
# The stat cache is rewritten by every walk: speed matters more than its size there.
STAT_CACHE_LEVEL: Final = 1
# A changed folder's tree is stored as a delta of its previous version, at most this
# many deltas deep; then whole again (reading one follows the chain).
MAX_DELTA_CHAIN: Final = 16
DELTA_MARK: Final = b"\x00"
_CHUNK: Final = 500
REMEMBERED_INDEXES: Final = 16
_TREE_JSON: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_OBJECTS_LOCK_KEY: Final = 0x63686B70  # PostgreSQL advisory lock over checkpoint_objects


_HEADER_COLUMNS = [
    _CHECKPOINTS.c.checkpoint_id,
    _CHECKPOINTS.c.plan_id,
    _CHECKPOINTS.c.sandbox_ref,
    _CHECKPOINTS.c.checkpoint_type,
    _CHECKPOINTS.c.parent_id,
    _CHECKPOINTS.c.created_at,
    _CHECKPOINTS.c.checkpoint_metadata,
]


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


# --- trees ------------------------------------------------------------------------------


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
        # folder -> (hash, bytes, length of the delta chain it was written with)
        self.trees: dict[str, tuple[str, bytes, int]] = {}
        self.files: dict[str, ManifestEntry] = {}  # the manifest, by path
        # The trees the last update encoded: new hash -> (hash, bytes) of the folder's
        # tree before it, to store the new one as a delta against.
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
        for entry in manifest:
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
                        children[above][folder_name] = _folder_row(folder_name)
                        break
                    children[above] = {folder_name: _folder_row(folder_name)}
                    folder = above
            if name in rows:
                raise ValueError(f"content.manifest lists {entry.path} twice, or as a folder too")
            if entry.kind is FileKind.DIR:
                rows[name] = _folder_row(name)
                children[entry.path] = {}
            else:
                rows[name] = _file_row(name, entry)
            files[entry.path] = entry
        for path, entry in files.items():
            if entry.kind is FileKind.DIR and children[path]:
                raise ValueError(
                    f"content.manifest lists {path} as an empty folder that holds files"
                )
        return index, index._encode(set(children))

    def update(self, content: SnapshotContent) -> dict[str, bytes] | None:
        """Apply ``content.diff``; the trees that changed, or None if the index is unusable.

        The diff must take this index's manifest to ``content.manifest``. That is
        checked (the same entries, most of them the very same objects), and on any
        difference the index must be thrown away and built from the manifest.
        """
        manifest = content.manifest
        changed = {d.path for d in content.diff if d.sha256 is not None}
        dirty: set[str] = set()
        for change in content.diff:
            if change.sha256 is None:  # deletions first: a file may become a folder
                self.files.pop(change.path, None)
                if change.kind is FileKind.DIR:
                    if self.children.get(change.path):
                        return None
                    self.children.pop(change.path, None)
                    self.trees.pop(change.path, None)
                parent, _, name = change.path.rpartition("/")
                self._remove(parent, name, dirty)
        for entry in manifest:
            if entry.path in changed:
                if not self._put(entry, dirty):
                    return None
                self.files[entry.path] = entry
        files = self.files
        if len(files) != len(manifest):
            return None
        for entry in manifest:
            known = files.get(entry.path)
            if known is not entry and known != entry:
                return None
        return self._encode(dirty)

    def _put(self, entry: ManifestEntry, dirty: set[str]) -> bool:
        """Add or replace one path; False when the index cannot hold it (rebuild)."""
        parent, _, name = entry.path.rpartition("/")
        if entry.kind is not FileKind.DIR:
            return self._add(parent, name, _file_row(name, entry), dirty)
        if entry.path in self.children:
            return not self.children[entry.path]  # an empty folder stays one
        if not self._add(parent, name, _folder_row(name), dirty):
            return False
        self.children[entry.path] = {}
        _mark(entry.path, dirty)
        return True

    def _add(self, folder: str, name: str, row: list[Any], dirty: set[str]) -> bool:
        rows = self.children.get(folder)
        if rows is None:
            above, _, folder_name = folder.rpartition("/")
            if not self._add(above, folder_name, _folder_row(folder_name), dirty):
                return False
            rows = self.children[folder] = {}
        old = rows.get(name)
        if old is not None and (old[1] == TREE_KIND) != (row[1] == TREE_KIND):
            return False  # a file where a folder is, or the other way round
        rows[name] = row
        _mark(folder, dirty)
        return True

    def _remove(self, folder: str, name: str, dirty: set[str]) -> None:
        rows = self.children.get(folder)
        if rows is None or rows.pop(name, None) is None:
            return
        if rows or not folder:
            _mark(folder, dirty)
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
        for folder in sorted(live, key=lambda path: -path.count("/") if path else 1):
            data = tree_bytes(self.children[folder].values())
            digest = hashlib.sha256(data).hexdigest()
            before = self.trees.get(folder)
            depth = 0
            if before is not None and before[0] != digest and before[2] < MAX_DELTA_CHAIN:
                self.bases[digest] = (before[0], before[1])
                depth = before[2] + 1
            self.trees[folder] = (digest, data, depth)
            trees[digest] = data
            if folder:
                above, _, name = folder.rpartition("/")
                self.children[above][name] = [name, TREE_KIND, digest, 0, False]
        return trees


def _file_row(name: str, entry: ManifestEntry) -> list[Any]:
    # FileKind is a StrEnum: it encodes as its value, without the enum lookup.
    return [name, entry.kind, entry.sha256, entry.size, entry.mode]


def _folder_row(name: str) -> list[Any]:
    """A sub-folder's row; its hash is filled in when its tree is encoded."""
    return [name, TREE_KIND, "", 0, False]


def _mode_of(kind: FileKind, stored: bool | int) -> int:
    """A row's permission bits; a tree from before modes stored the executable bit."""
    if kind not in MODE_KINDS:
        return 0
    if stored is True or stored is False:
        return 0o755 if stored else 0o644
    return stored


def _mark(folder: str, dirty: set[str]) -> None:
    """Mark ``folder`` and every folder above it as changed."""
    while folder not in dirty:
        dirty.add(folder)
        if not folder:
            return
        folder = folder.rpartition("/")[0]


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


def _compress(
    items: Mapping[str, bytes], bases: Mapping[str, tuple[str, bytes]] | None = None
) -> list[tuple[str, int, bytes]]:
    """(hash, size, stored form) for each item; zlib releases the GIL, so use every core."""
    keys = list(items)
    deltas = bases or {}
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        packed = pool.map(lambda key: pack_object(items[key], deltas.get(key)), keys)
        return [(key, len(items[key]), data) for key, data in zip(keys, packed, strict=True)]


def encode_diff(diff: Sequence[DiffEntry]) -> bytes:
    """How a checkpoint's diff is stored: zlib of its canonical form (``diff_canonical_bytes``)."""
    return zlib.compress(diff_canonical_bytes(diff), COMPRESSION_LEVEL)


def decode_diff(checkpoint_id: str, data: bytes | None) -> list[DiffEntry]:
    """The diff :func:`encode_diff` stored; ``IntegrityCheckError`` if it is damaged."""
    if data is None:
        return []
    try:
        return diff_from_rows(json.loads(zlib.decompress(data)))
    except (zlib.error, ValueError, TypeError) as exc:
        raise IntegrityCheckError(f"the diff of checkpoint {checkpoint_id} is corrupt") from exc


def _insert_ignoring_existing(session: Session, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    if session.connection().dialect.name == "postgresql":
        pg_insert = postgresql.insert(_OBJECTS).on_conflict_do_nothing(
            index_elements=["object_hash"]
        )
        session.execute(pg_insert, rows)
        return
    # Appended in an order that fills the table's leaf pages (see sqlite_pages).
    page_size = int(session.execute(text("PRAGMA page_size")).scalar_one())
    payloads = [record_size((r["object_hash"], r["kind"], r["size"], r["data"])) for r in rows]
    ordered = leaf_order(rows, payloads, page_size)
    lite_insert = sqlite.insert(_OBJECTS).on_conflict_do_nothing(index_elements=["object_hash"])
    session.execute(lite_insert, ordered)


def _existing_objects(session: Session, hashes: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(hashes):
        found.update(
            session.execute(
                select(_OBJECTS.c.object_hash).where(_OBJECTS.c.object_hash.in_(chunk))
            ).scalars()
        )
    return found


def _load_objects(
    session: Session, hashes: Sequence[str], bases: set[str] | None = None
) -> dict[str, tuple[str, bytes]]:
    """kind and decompressed bytes of each hash that is stored.

    Deltas are resolved through their bases (read as needed); the hashes of the
    bases used are added to ``bases``.
    """
    stored: dict[str, tuple[str, bytes]] = {}
    wanted = sorted(set(hashes))
    while wanted:
        for chunk in _chunks(wanted):
            rows = session.execute(
                select(_OBJECTS.c.object_hash, _OBJECTS.c.kind, _OBJECTS.c.data).where(
                    _OBJECTS.c.object_hash.in_(chunk)
                )
            )
            stored.update((object_hash, (kind, data)) for object_hash, kind, data in rows)
        needed = {
            data[1:33].hex()
            for digest in wanted
            if digest in stored and (data := stored[digest][1])[:1] == DELTA_MARK
        }
        wanted = sorted(needed - stored.keys())
    unpacked: dict[str, bytes] = {}
    return {
        digest: (stored[digest][0], _unpack(digest, stored, unpacked, bases))
        for digest in hashes
        if digest in stored
    }


def _unpack(
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


def _walk_trees(
    session: Session, roots: Iterable[str], bases: set[str] | None = None
) -> dict[str, list[list[Any]]]:
    """Every tree reachable from ``roots``, parsed, read one level at a time.

    The hashes of the trees they are stored as deltas of are added to ``bases``.
    """
    trees: dict[str, list[list[Any]]] = {}
    wanted = sorted(set(roots))
    while wanted:
        loaded = _walk_level_with_bases(session, wanted, bases)
        next_level: set[str] = set()
        for digest, children in loaded.items():
            trees[digest] = children
            next_level.update(c[2] for c in children if c[1] == TREE_KIND and c[2] not in trees)
        wanted = sorted(next_level - set(trees))
    return trees


def _flatten(
    root: str, trees: Mapping[str, list[list[Any]]], prefix: str = ""
) -> list[ManifestEntry]:
    """Every entry of the tree ``root`` (whose folder is ``prefix``), sorted by path."""
    entries: list[ManifestEntry] = []
    stack: list[tuple[str, str]] = [(prefix, root)]
    while stack:
        folder, digest = stack.pop()
        for name, kind, sha256, size, mode in trees[digest]:
            path = f"{folder}{name}"
            if kind == TREE_KIND and trees[sha256]:
                stack.append((f"{path}/", sha256))
            else:
                entries.append(_entry_of(path, kind, sha256, size, mode))
    entries.sort(key=lambda entry: entry.path)
    return entries


def _entry_of(path: str, kind: str, sha256: str, size: int, mode: bool | int) -> ManifestEntry:
    """The manifest entry of one tree row (a row of an empty sub-tree: an empty folder)."""
    file_kind = FileKind.DIR if kind == TREE_KIND else FileKind(kind)
    return from_trusted(
        ManifestEntry,
        {
            "path": path,
            "kind": file_kind,
            "sha256": sha256,
            "size": 0 if file_kind is FileKind.DIR else size,
            "mode": _mode_of(file_kind, mode),
        },
    )


def _tree_diff(
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
        trees.update(_walk_level(session, sorted(needed)))
        whole: list[tuple[int, str, str]] = []  # (side, path, sub-tree) read whole
        deeper: list[tuple[str, str, str]] = []
        for prefix, one, two in level:
            rows = ({r[0]: r for r in trees[one]}, {r[0]: r for r in trees[two]})
            for name in rows[0].keys() | rows[1].keys():
                left, right = rows[0].get(name), rows[1].get(name)
                if left == right:
                    continue
                path = f"{prefix}{name}"
                if _is_folder_row(left) and _is_folder_row(right):
                    deeper.append((f"{path}/", left[2], right[2]))
                    continue
                for side, row in enumerate((left, right)):
                    if row is None:
                        continue
                    if _is_folder_row(row):
                        whole.append((side, path, row[2]))
                    else:
                        found[side][path] = _entry_of(path, *row[1:])
        if whole:
            trees.update(_walk_trees(session, {digest for _, _, digest in whole}))
        for side, path, digest in whole:
            if not trees[digest]:
                found[side][path] = _entry_of(path, TREE_KIND, digest, 0, False)
            for entry in _flatten(digest, trees, f"{path}/"):
                found[side][entry.path] = entry
        level = deeper
    return found


def _is_folder_row(row: Sequence[Any] | None) -> TypeGuard[Sequence[Any]]:
    """A sub-folder that holds something (an empty one compares as a path of its own)."""
    return row is not None and row[1] == TREE_KIND and row[2] != EMPTY_TREE_SHA256


def _paths_among(session: Session, roots: Iterable[str], wanted: set[str]) -> set[str]:
    """The ``wanted`` paths that some tree of ``roots`` holds, reading only trees on their way."""
    folders = {folder for path in wanted for folder in _folders_above(path)}
    found: set[str] = set()
    level = {(root, "") for root in roots}  # (tree hash, its folder's prefix)
    trees: dict[str, list[list[Any]]] = {}
    while level:
        missing = sorted({digest for digest, _ in level} - trees.keys())
        for digest, data in _walk_level(session, missing).items():
            trees[digest] = data
        next_level: set[tuple[str, str]] = set()
        for digest, prefix in level:
            for name, kind, sha256, _, _ in trees[digest]:
                path = f"{prefix}{name}"
                if path in wanted and (kind != TREE_KIND or sha256 == EMPTY_TREE_SHA256):
                    found.add(path)  # a file, symlink or empty folder; not a folder above one
                if kind == TREE_KIND and path in folders:
                    next_level.add((sha256, f"{path}/"))
        level = next_level
    return found


def _folders_above(path: str) -> Iterator[str]:
    folder = path.rpartition("/")[0]
    while folder:
        yield folder
        folder = folder.rpartition("/")[0]


def _walk_level(session: Session, hashes: Sequence[str]) -> dict[str, list[list[Any]]]:
    """The parsed trees of ``hashes``, each checked against its hash."""
    return _walk_level_with_bases(session, hashes, None)


def _walk_level_with_bases(
    session: Session, hashes: Sequence[str], bases: set[str] | None
) -> dict[str, list[list[Any]]]:
    """:func:`_walk_level`, adding the hashes of the delta bases used to ``bases``."""
    loaded = _load_objects(session, hashes, bases)
    missing = set(hashes) - set(loaded)
    if missing:
        raise IntegrityCheckError(f"tree {sorted(missing)[0]} is missing from the store")
    parsed: dict[str, list[list[Any]]] = {}
    for digest, (_, data) in loaded.items():
        if hashlib.sha256(data).hexdigest() != digest:
            raise IntegrityCheckError(f"tree {digest} does not match its hash")
        parsed[digest] = json.loads(data)
    return parsed


def _lock_objects(session: Session, *, exclusive: bool) -> None:
    """Keep garbage collection and snapshot writes apart.

    SQLite serializes writers already (``BEGIN IMMEDIATE``); PostgreSQL takes an
    advisory lock: shared for writers that reuse stored objects, exclusive to collect.
    """
    if session.connection().dialect.name == "postgresql":
        function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        session.execute(select(getattr(func, function)(_OBJECTS_LOCK_KEY)))


def _checkpoint_exists(session: Session, checkpoint_id: str) -> bool:
    query = select(_CHECKPOINTS.c.seq).where(_CHECKPOINTS.c.checkpoint_id == checkpoint_id)
    return session.execute(query).first() is not None


def delete_checkpoints(session: Session, plan_id: str, keep_last: int = 0) -> int:
    """Delete all but the plan's newest ``keep_last`` checkpoints, and what only they used.

    Runs in the caller's transaction; returns how many checkpoints it deleted.
    """
    ids = list(
        session.execute(
            select(_CHECKPOINTS.c.checkpoint_id)
            .where(_CHECKPOINTS.c.plan_id == plan_id)
            .order_by(_CHECKPOINTS.c.seq)
        ).scalars()
    )
    doomed = ids[: len(ids) - keep_last] if keep_last else ids
    if not doomed:
        return 0
    _lock_objects(session, exclusive=True)
    for chunk in _chunks(doomed):
        session.execute(delete(_CHECKPOINTS).where(_CHECKPOINTS.c.checkpoint_id.in_(chunk)))
    _collect_garbage(session)
    return len(doomed)


def _collect_garbage(session: Session) -> None:
    """Delete objects that no checkpoint reaches any more."""
    roots = session.execute(
        select(_CHECKPOINTS.c.root_tree).where(_CHECKPOINTS.c.root_tree.is_not(None))
    ).scalars()
    bases: set[str] = set()
    trees = _walk_trees(session, roots, bases)
    reachable = set(trees) | bases  # a delta needs its base, not what the base lists
    for children in trees.values():
        reachable.update(child[2] for child in children if child[1] != FileKind.LARGE.value)
    stored = list(session.execute(select(_OBJECTS.c.object_hash)).scalars())
    unreachable = sorted(set(stored) - reachable)
    for chunk in _chunks(unreachable):
        session.execute(delete(_OBJECTS).where(_OBJECTS.c.object_hash.in_(chunk)))
    # A stat cache is only a hint checked against the plan's last snapshot (it may
    # name a checkpoint deleted since); a plan without checkpoints needs none.
    session.execute(
        delete(_STAT_CACHE).where(_STAT_CACHE.c.plan_id.not_in(select(_CHECKPOINTS.c.plan_id)))
    )


# --- the repository ---------------------------------------------------------------------


def _check_content(content: SnapshotContent) -> int:
    """Refuse snapshot content the database cannot hold; returns the manifest's total size.

    ``SnapshotContent`` is a plain dataclass: its parts are checked here, before
    anything is written (``ValueError``).
    """
    parts: tuple[tuple[str, object, type[ManifestEntry | DiffEntry]], ...] = (
        ("manifest", content.manifest, ManifestEntry),
        ("diff", content.diff, DiffEntry),
    )
    for name, items, kind in parts:
        if isinstance(items, str | bytes) or not isinstance(items, Sequence):
            raise ValueError(f"content.{name} must be a sequence of {kind.__name__}")
        for item in items:
            if not isinstance(item, kind):
                raise ValueError(
                    f"content.{name} holds a {type(item).__name__}, not a {kind.__name__}"
                )
    if not isinstance(content.blobs, Mapping):
        raise ValueError("content.blobs must map sha256 hex digests to bytes")
    for digest, data in content.blobs.items():
        if not isinstance(digest, str) or not isinstance(data, bytes):
            raise ValueError("content.blobs must map sha256 hex digests to bytes")
        check_sha256(digest)
    if content.stat_cache is not None and not isinstance(content.stat_cache, bytes):
        raise ValueError("content.stat_cache must be bytes or None")
    started = content.scan_started_ns
    if isinstance(started, bool) or not isinstance(started, int) or not 0 <= started <= INT64_MAX:
        raise ValueError("content.scan_started_ns must be an int between 0 and 2**63 - 1")
    if content.baseline_checkpoint_id is not None:
        valid_id(content.baseline_checkpoint_id, "content.baseline_checkpoint_id")
    total = sum(entry.size for entry in content.manifest)
    if total > INT64_MAX:
        raise ValueError("the manifest's sizes add up to more than 2**63 - 1 bytes")
    return total


def _header_to_domain(row: Sequence[Any]) -> Checkpoint:
    checkpoint_id, plan_id, sandbox_ref, checkpoint_type, parent_id, created_at, metadata = row
    return from_trusted(
        Checkpoint,
        {
            "checkpoint_id": checkpoint_id,
            "plan_id": plan_id,
            "sandbox_ref": sandbox_ref,
            "checkpoint_type": checkpoint_type,
            "parent_id": parent_id,
            "created_at": created_at,
            "metadata": CheckpointMetadata.model_validate(metadata),
        },
    )


class CheckpointRepository:
    """``CheckpointStore`` on SQLite or PostgreSQL."""

    def __init__(self, session_factory: SessionFactory) -> None:
        self._session_factory = check_session_factory(session_factory)
        # The folders of each plan's last snapshot written here (oldest first): the
        # next snapshot based on it encodes only the folders on its changed paths.
        self._indexes: dict[str, tuple[str, TreeIndex]] = {}
        self._indexes_lock = threading.Lock()

    @property
    def session_factory(self) -> SessionFactory:
        """The session factory this repository works through."""
        return self._session_factory

    def create(self, checkpoint: Checkpoint, content: SnapshotContent | None = None) -> Checkpoint:
        """Persist the checkpoint with its manifest, new objects and diff in ONE transaction."""
        if not isinstance(checkpoint, Checkpoint):
            raise ValueError(f"checkpoint must be a Checkpoint, got {type(checkpoint).__name__}")
        if content is not None and not isinstance(content, SnapshotContent):
            raise ValueError("content must be a SnapshotContent")
        root: str | None = None
        index = TreeIndex()
        objects: dict[str, tuple[str, bytes]] = {}
        file_count = total_size = 0
        with ThreadPoolExecutor(max_workers=1) as background:
            if content is not None:
                total_size = _check_content(content)
            # zlib releases the GIL: the stat cache is packed while the trees are built.
            packing = (
                background.submit(zlib.compress, content.stat_cache, STAT_CACHE_LEVEL)
                if content is not None and content.stat_cache is not None
                else None
            )
            if content is not None:
                index, trees = self._trees(checkpoint.plan_id, content)
                root = index.root
                objects = {digest: (TREE, data) for digest, data in trees.items()}
                for digest, data in content.blobs.items():
                    objects.setdefault(digest, (BLOB, data))
                file_count = len(content.manifest)
            packed_cache = packing.result() if packing is not None else None
        # Compress outside the write transaction: it must not hold the write lock.
        missing = sorted(
            set(objects)
            - run_in_transaction(
                self._session_factory,
                "look up stored objects",
                lambda session: _existing_objects(session, sorted(objects)),
                write=False,
            )
        )
        packed = _compress({digest: objects[digest][1] for digest in missing}, index.bases)
        object_rows = [
            {"object_hash": digest, "kind": objects[digest][0], "size": size, "data": data}
            for digest, size, data in packed
        ]

        skipped = sorted(set(objects) - set(missing))
        diff_data = encode_diff(content.diff) if content is not None and content.diff else None

        def work(session: Session) -> None:
            _lock_objects(session, exclusive=False)
            marks = current_marks(session, checkpoint.plan_id)
            refuse_cancelled(session, [checkpoint.plan_id], "a checkpoint")
            baseline = content.baseline_checkpoint_id if content is not None else None
            if baseline is not None and not _checkpoint_exists(session, baseline):
                raise BaselineGoneError(
                    f"checkpoint {baseline}, whose content this snapshot reuses, was deleted "
                    "while the snapshot was taken"
                )
            # Objects found stored before the lock may have been collected since.
            late = sorted(set(skipped) - _existing_objects(session, skipped))
            late_rows = [
                {"object_hash": digest, "kind": objects[digest][0], "size": size, "data": data}
                for digest, size, data in _compress({d: objects[d][1] for d in late}, index.bases)
            ]
            _insert_ignoring_existing(session, object_rows + late_rows)
            session.execute(
                insert(_CHECKPOINTS),
                [
                    {
                        "checkpoint_id": checkpoint.checkpoint_id,
                        "plan_id": checkpoint.plan_id,
                        "sandbox_ref": checkpoint.sandbox_ref,
                        "checkpoint_type": checkpoint.checkpoint_type,
                        "parent_id": checkpoint.parent_id,
                        "created_at": checkpoint.created_at,
                        "checkpoint_metadata": checkpoint.metadata.model_dump(mode="json"),
                        "root_tree": root,
                        "file_count": file_count,
                        "total_size": total_size,
                        "diff_data": diff_data,
                        "entry_mark": marks.entries,
                        "invocation_mark": marks.invocations,
                        "rollbacks_before": marks.rollbacks,
                    }
                ],
            )
            if content is None:
                return
            if packed_cache is not None:
                session.execute(
                    delete(_STAT_CACHE).where(_STAT_CACHE.c.plan_id == checkpoint.plan_id)
                )
                session.execute(
                    insert(_STAT_CACHE),
                    [
                        {
                            "plan_id": checkpoint.plan_id,
                            "checkpoint_id": checkpoint.checkpoint_id,
                            "scan_started_ns": content.scan_started_ns,
                            "data": packed_cache,
                        }
                    ],
                )

        run_in_transaction(
            self._session_factory, f"create checkpoint {checkpoint.checkpoint_id}", work, write=True
        )
        if content is not None:
            self._keep_index(checkpoint, index)
        return checkpoint

    def _trees(self, plan_id: str, content: SnapshotContent) -> tuple[TreeIndex, dict[str, bytes]]:
        """The snapshot's tree index and the trees to store.

        When the snapshot's baseline is the plan's last snapshot written here, only
        the folders on its diff's paths are encoded (the others are the baseline's,
        which the write transaction checks still exists); else every folder.
        """
        with self._indexes_lock:
            kept = self._indexes.pop(plan_id, None)  # back only once this write commits
        if kept is not None and kept[0] == content.baseline_checkpoint_id:
            index = kept[1]
            trees = index.update(content)
            if trees is not None:
                return index, trees
        return TreeIndex.of(content.manifest)

    def _keep_index(self, checkpoint: Checkpoint, index: TreeIndex) -> None:
        with self._indexes_lock:
            self._indexes.pop(checkpoint.plan_id, None)
            self._indexes[checkpoint.plan_id] = (checkpoint.checkpoint_id, index)
            while len(self._indexes) > REMEMBERED_INDEXES:
                self._indexes.pop(next(iter(self._indexes)))

    def get(self, checkpoint_id: str) -> Checkpoint | None:
        """The checkpoint, or None."""
        key = valid_id(checkpoint_id, "checkpoint_id")

        def work(session: Session) -> Checkpoint | None:
            row = session.execute(
                select(*_HEADER_COLUMNS).where(_CHECKPOINTS.c.checkpoint_id == key)
            ).first()
            return None if row is None else _header_to_domain(row)

        return run_in_transaction(
            self._session_factory, f"read checkpoint {key}", work, write=False
        )

    def list_for_plan(self, plan_id: str) -> list[Checkpoint]:
        """The plan's checkpoints, oldest first."""
        key = valid_id(plan_id, "plan_id")

        def work(session: Session) -> list[Checkpoint]:
            rows = session.execute(
                select(*_HEADER_COLUMNS)
                .where(_CHECKPOINTS.c.plan_id == key)
                .order_by(_CHECKPOINTS.c.seq)
            )
            return [_header_to_domain(row) for row in rows]

        return run_in_transaction(
            self._session_factory, f"list checkpoints of plan {key}", work, write=False
        )

    def latest_for_plan(self, plan_id: str) -> Checkpoint | None:
        """The plan's newest checkpoint, or None."""
        key = valid_id(plan_id, "plan_id")

        def work(session: Session) -> Checkpoint | None:
            row = session.execute(
                select(*_HEADER_COLUMNS)
                .where(_CHECKPOINTS.c.plan_id == key)
                .order_by(_CHECKPOINTS.c.seq.desc())
                .limit(1)
            ).first()
            return None if row is None else _header_to_domain(row)

        return run_in_transaction(
            self._session_factory, f"read the latest checkpoint of plan {key}", work, write=False
        )

    def delete_for_plan(self, plan_id: str) -> int:
        """Delete every checkpoint of the plan and the content only they used."""
        return self.prune(plan_id, 0)

    def prune(self, plan_id: str, keep_last: int) -> int:
        """Delete all but the newest ``keep_last`` checkpoints of the plan; returns how many."""
        key = valid_id(plan_id, "plan_id")
        if isinstance(keep_last, bool) or not isinstance(keep_last, int) or keep_last < 0:
            raise ValueError(f"keep_last must be an integer >= 0, got {keep_last!r}")

        return run_in_transaction(
            self._session_factory,
            f"prune checkpoints of plan {key}",
            lambda session: delete_checkpoints(session, key, keep_last),
            write=True,
        )

    def _root_of(self, session: Session, checkpoint_id: str) -> str | None:
        row = session.execute(
            select(_CHECKPOINTS.c.root_tree).where(_CHECKPOINTS.c.checkpoint_id == checkpoint_id)
        ).first()
        if row is None:
            raise RecordNotFoundError(f"checkpoint {checkpoint_id} does not exist")
        return cast(str | None, row[0])

    def manifest(self, checkpoint_id: str) -> list[ManifestEntry] | None:
        """The files of the checkpoint's snapshot sorted by path; None if it has no snapshot."""
        key = valid_id(checkpoint_id, "checkpoint_id")

        def work(session: Session) -> list[ManifestEntry] | None:
            root = self._root_of(session, key)
            return None if root is None else _flatten(root, _walk_trees(session, [root]))

        return run_in_transaction(
            self._session_factory, f"read the manifest of checkpoint {key}", work, write=False
        )

    def tree_diff(
        self, checkpoint_id: str, other_id: str
    ) -> tuple[dict[str, ManifestEntry], dict[str, ManifestEntry]] | None:
        """Both snapshots' entries at every path where they differ; None if one has no snapshot.

        Only the sub-trees that differ are read (their hashes tell), so two snapshots
        of a big tree that differ in a few files cost a few trees.
        """
        first = valid_id(checkpoint_id, "checkpoint_id")
        second = valid_id(other_id, "other_id")

        def work(
            session: Session,
        ) -> tuple[dict[str, ManifestEntry], dict[str, ManifestEntry]] | None:
            roots = self._root_of(session, first), self._root_of(session, second)
            if roots[0] is None or roots[1] is None:
                return None
            return _tree_diff(session, roots[0], roots[1])

        return run_in_transaction(
            self._session_factory, f"compare checkpoints {first} and {second}", work, write=False
        )

    def diff(self, checkpoint_id: str) -> list[DiffEntry]:
        """The paths the checkpoint changed since its parent, sorted by path."""
        key = valid_id(checkpoint_id, "checkpoint_id")

        def work(session: Session) -> list[DiffEntry]:
            row = session.execute(
                select(_CHECKPOINTS.c.diff_data).where(_CHECKPOINTS.c.checkpoint_id == key)
            ).first()
            if row is None:
                raise RecordNotFoundError(f"checkpoint {key} does not exist")
            return decode_diff(key, row[0])

        return run_in_transaction(
            self._session_factory, f"read the diff of checkpoint {key}", work, write=False
        )

    def read_blobs(self, hashes: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        """(hash, content) of each stored blob, a chunk at a time; missing ones are skipped."""
        wanted = sorted(set(hashes))
        for chunk in _chunks(wanted):

            def work(session: Session, part: Sequence[str] = chunk) -> dict[str, tuple[str, bytes]]:
                return _load_objects(session, part)

            loaded = run_in_transaction(
                self._session_factory, "read checkpoint content", work, write=False
            )
            for digest in chunk:
                if digest in loaded:
                    yield digest, loaded[digest][1]

    def known_paths(self, plan_id: str, among: Iterable[str] | None = None) -> set[str]:
        """Every path that any checkpoint of the plan has in its snapshot.

        With ``among``, only those of its paths: just the trees on their way are read.
        """
        key = valid_id(plan_id, "plan_id")
        wanted = None if among is None else set(among)

        def work(session: Session) -> set[str]:
            query = select(_CHECKPOINTS.c.root_tree).where(
                _CHECKPOINTS.c.plan_id == key, _CHECKPOINTS.c.root_tree.is_not(None)
            )
            roots = set(session.execute(query).scalars())
            if wanted is not None:
                return _paths_among(session, roots, wanted)
            trees = _walk_trees(session, roots)
            return {entry.path for root in roots for entry in _flatten(root, trees)}

        return run_in_transaction(
            self._session_factory, f"read the paths of plan {key}", work, write=False
        )

    def stat_cache(self, plan_id: str) -> tuple[str, int, bytes] | None:
        """(checkpoint id, scan start in ns, data) of the plan's latest snapshot scan."""
        key = valid_id(plan_id, "plan_id")

        def work(session: Session) -> tuple[str, int, bytes] | None:
            row = session.execute(
                select(
                    _STAT_CACHE.c.checkpoint_id, _STAT_CACHE.c.scan_started_ns, _STAT_CACHE.c.data
                ).where(_STAT_CACHE.c.plan_id == key)
            ).first()
            if row is None:
                return None
            return row[0], int(row[1]), zlib.decompress(row[2])

        return run_in_transaction(
            self._session_factory, f"read the stat cache of plan {key}", work, write=False
        )

    def object_count(self) -> int:
        """How many content objects are stored (for retention checks and statistics)."""
        return run_in_transaction(
            self._session_factory,
            "count checkpoint objects",
            lambda session: int(
                session.execute(select(func.count()).select_from(_OBJECTS)).scalar_one()
            ),
            write=False,
        )
