"""Checkpoint persistence: headers, per-checkpoint diffs and content-addressed objects.

A snapshot's files are stored as a Merkle tree (:mod:`.tree_codec`): each folder
is a *tree* object listing its children, each file a *blob* object, both
compressed (:mod:`.object_codec`) and keyed by the sha256 of their bytes
(:mod:`.object_store`). An unchanged folder has an unchanged tree, so a new
snapshot stores only the trees and blobs that changed; identical content is
stored once across checkpoints and plans. Objects no checkpoint reaches are
deleted by ``prune`` and ``delete_for_plan`` (:mod:`.retention`).
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, cast

from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.orm import Session

from cleveragents.domain.errors import BaselineGoneError, RecordNotFoundError
from cleveragents.domain.models.core._types import require_id as valid_id
from cleveragents.domain.models.core.checkpoint import (
    Checkpoint,
    CheckpointMetadata,
    ContentSource,
    DiffEntry,
    FileKind,
    ManifestEntry,
    SnapshotContent,
    check_content,
)
from cleveragents.infrastructure.database.content_objects import (
    ContentLimits,
    MemorySource,
    read_pieces,
    write_sources,
)
from cleveragents.infrastructure.database.models import (
    CheckpointModel,
    CheckpointObjectModel,
    CheckpointStatCacheModel,
)
from cleveragents.infrastructure.database.object_codec import (
    added_paths,
    compress,
    decode_diff,
    diff_pieces,
    encode_diff,
)
from cleveragents.infrastructure.database.object_packing import (
    RecentContent,
    object_rows,
    stored_and_bases,
)
from cleveragents.infrastructure.database.object_reads import hashes_below
from cleveragents.infrastructure.database.object_store import (
    BLOB,
    checkpoint_exists,
    delete_checkpoints,
    existing_objects,
    insert_ignoring_existing,
    lock_objects,
    paths_among,
    tree_diff_of,
    walk_trees,
)
from cleveragents.infrastructure.database.plan_lock import refuse_cancelled
from cleveragents.infrastructure.database.retention import CheckpointRetention
from cleveragents.infrastructure.database.rollback_marks import current_marks
from cleveragents.infrastructure.database.session import (
    SessionFactory,
)
from cleveragents.infrastructure.database.tree_codec import TREE, TreeIndex, flatten
from cleveragents.infrastructure.database.trusted import from_trusted

__all__ = ["CheckpointRepository", "TreeIndex", "delete_checkpoints"]

_CHECKPOINTS = cast(Table, CheckpointModel.__table__)
_STAT_CACHE = cast(Table, CheckpointStatCacheModel.__table__)
_OBJECTS = cast(Table, CheckpointObjectModel.__table__)
# The stat cache is rewritten by every walk: speed matters more than its size there.
STAT_CACHE_LEVEL: Final = 1
REMEMBERED_INDEXES: Final = 16
# The tree rows whose hash names a stored object of content (a large file's names none).
STORED: Final = frozenset({FileKind.FILE.value, FileKind.SYMLINK.value})
_HEADER_COLUMNS = [
    _CHECKPOINTS.c.checkpoint_id,
    _CHECKPOINTS.c.plan_id,
    _CHECKPOINTS.c.sandbox_ref,
    _CHECKPOINTS.c.checkpoint_type,
    _CHECKPOINTS.c.parent_id,
    _CHECKPOINTS.c.created_at,
    _CHECKPOINTS.c.checkpoint_metadata,
]


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


class CheckpointRepository(CheckpointRetention):
    """``CheckpointStore`` on SQLite or PostgreSQL (prune and delete: :mod:`.retention`)."""

    def __init__(
        self, session_factory: SessionFactory, *, content_limits: ContentLimits | None = None
    ) -> None:
        """``content_limits``: batch and chunk sizes of content (:mod:`.content_objects`)."""
        super().__init__(session_factory)
        if content_limits is not None and not isinstance(content_limits, ContentLimits):
            raise ValueError("content_limits must be a ContentLimits")
        self._limits = content_limits or ContentLimits()
        # The folders of each plan's last snapshot written here (oldest first): the
        # next snapshot based on it encodes only the folders on its changed paths.
        self._indexes: dict[str, tuple[str, TreeIndex]] = {}
        self._indexes_lock = threading.Lock()
        self._recent = RecentContent()

    def create(self, checkpoint: Checkpoint, content: SnapshotContent | None = None) -> Checkpoint:
        """Persist the checkpoint with its manifest, new objects and diff in ONE transaction."""
        if not isinstance(checkpoint, Checkpoint):
            raise ValueError(f"checkpoint must be a Checkpoint, got {type(checkpoint).__name__}")
        if content is not None and not isinstance(content, SnapshotContent):
            raise ValueError("content must be a SnapshotContent")
        root: str | None = None
        index = TreeIndex()
        objects: dict[str, tuple[str, bytes]] = {}
        sources: dict[str, ContentSource] = {}
        file_count = total_size = 0
        with ThreadPoolExecutor(max_workers=1) as background:
            if content is not None:
                total_size = check_content(content)
            # zlib releases the GIL: the stat cache is packed while the trees are built.
            packing = (
                background.submit(zlib.compress, content.stat_cache, STAT_CACHE_LEVEL)
                if content is not None and content.stat_cache is not None
                else None
            )
            if content is not None:
                index, trees = self._trees(checkpoint.plan_id, content)
                root = index.root
                total_size = index.total_size
                objects = {digest: (TREE, data) for digest, data in trees.items()}
                for digest, data in content.blobs.items():
                    if len(data) > self._limits.chunk_size:
                        sources[digest] = MemorySource(data)  # stored in chunks, like a file's
                    else:
                        objects.setdefault(digest, (BLOB, data))
                for digest, source in content.sources.items():
                    if digest not in objects:
                        sources.setdefault(digest, source)
                file_count = len(content.manifest)
            packed_cache = packing.result() if packing is not None else None
        # Compress outside the write transaction: it must not hold the write lock.
        hints = {new: base for new, (base, _) in index.bases.items()}
        if content is not None:
            hints.update(content.delta_bases)
        known = dict(index.bases.values()) | self._recent.recall(hints.values())

        stored, bases = self._read(
            "look up stored objects",
            lambda session: stored_and_bases(
                session, objects.keys() | sources.keys(), hints, known
            ),
        )
        missing = sorted(set(objects) - stored)
        packed = compress({digest: objects[digest][1] for digest in missing}, bases)

        diff_data = encode_diff(content.diff) if content is not None and content.diff else None

        def work(session: Session) -> None:
            lock_objects(session, exclusive=False)
            marks = current_marks(session, checkpoint.plan_id)
            refuse_cancelled(session, [checkpoint.plan_id], "a checkpoint")
            baseline = content.baseline_checkpoint_id if content is not None else None
            reused = sorted(content.reused) if content is not None else []
            if reused and len(existing_objects(session, reused)) < len(reused):
                raise BaselineGoneError(
                    "content a restore wrote into the sandbox, which this snapshot reuses, was "
                    "deleted while the snapshot was taken"
                )
            if baseline is not None and not checkpoint_exists(session, baseline):
                raise BaselineGoneError(
                    f"checkpoint {baseline}, whose content this snapshot reuses, was deleted "
                    "while the snapshot was taken"
                )
            insert_ignoring_existing(session, object_rows(session, objects, packed, bases))
            # Read from the sandbox only now, a batch at a time: never held whole. Those
            # found stored before the lock may have been collected since.
            were_stored = sorted(sources.keys() & stored)
            gone = set(were_stored) - existing_objects(session, were_stored)
            unstored = sorted((sources.keys() - stored) | gone)
            write_sources(session, {d: sources[d] for d in unstored}, self._limits)
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
                        "baseline_id": baseline,
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

        self._write(f"create checkpoint {checkpoint.checkpoint_id}", work)
        if content is not None:
            self._keep_index(checkpoint, index)
            self._recent.remember(content.blobs.items())
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

        return self._read(f"read checkpoint {key}", work)

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

        return self._read(f"list checkpoints of plan {key}", work)

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

        return self._read(f"read the latest checkpoint of plan {key}", work)

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
            return None if root is None else flatten(root, walk_trees(session, [root]))

        return self._read(f"read the manifest of checkpoint {key}", work)

    def content_hashes(self, checkpoint_id: str) -> set[str] | None:
        """The hashes of the stored content the checkpoint's snapshot holds; None without one."""
        key = valid_id(checkpoint_id, "checkpoint_id")

        def work(session: Session) -> set[str] | None:
            root = self._root_of(session, key)
            return None if root is None else hashes_below(session, root, STORED)

        return self._read(f"read the content hashes of checkpoint {key}", work)

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
            return tree_diff_of(session, roots[0], roots[1])

        return self._read(f"compare checkpoints {first} and {second}", work)

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

        return self._read(f"read the diff of checkpoint {key}", work)

    def canonical_diff(self, checkpoint_id: str) -> Iterator[bytes]:
        """The diff as stored: its canonical bytes in pieces, decompressed as consumed."""
        key = valid_id(checkpoint_id, "checkpoint_id")

        def work(session: Session) -> bytes | None:
            row = session.execute(
                select(_CHECKPOINTS.c.diff_data).where(_CHECKPOINTS.c.checkpoint_id == key)
            ).first()
            if row is None:
                raise RecordNotFoundError(f"checkpoint {key} does not exist")
            return cast(bytes | None, row[0])

        return diff_pieces(key, self._read(f"read the diff of checkpoint {key}", work))

    def read_blobs(self, hashes: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        """(hash, content) of each stored blob, a batch at a time; missing ones are skipped."""
        for digest, pieces in self.read_pieces(hashes):
            yield digest, b"".join(pieces)

    def read_pieces(self, hashes: Iterable[str]) -> Iterator[tuple[str, Iterator[bytes]]]:
        """(hash, pieces) of each stored blob: a batch of whole ones at a time, a chunked
        one chunk by chunk as its pieces are consumed; missing ones are skipped."""
        return read_pieces(self._read, sorted(set(hashes)), self._limits)

    def known_paths(self, plan_id: str, among: Iterable[str] | None = None) -> set[str]:
        """Every path that any checkpoint of the plan has in its snapshot (only ``among`` them).

        A snapshot holds its baseline's paths plus the ones its diff adds, so the
        plan's paths are the diffs' added paths plus the whole trees of the
        snapshots whose baseline is gone (the oldest, after a prune): a few trees,
        not every version of every folder.
        """
        key = valid_id(plan_id, "plan_id")
        wanted = None if among is None else set(among)

        def work(session: Session) -> set[str]:
            rows = session.execute(
                select(
                    _CHECKPOINTS.c.checkpoint_id,
                    _CHECKPOINTS.c.root_tree,
                    _CHECKPOINTS.c.baseline_id,
                    _CHECKPOINTS.c.diff_data,
                ).where(_CHECKPOINTS.c.plan_id == key, _CHECKPOINTS.c.root_tree.is_not(None))
            ).all()
            present = {row.checkpoint_id for row in rows}
            found: set[str] = set()
            whole: set[str] = set()
            for row in rows:
                if row.baseline_id is None or row.baseline_id not in present:
                    whole.add(row.root_tree)
                    continue
                added = added_paths(row.checkpoint_id, row.diff_data)
                found.update(added if wanted is None else wanted.intersection(added))
            if wanted is not None:
                return found | paths_among(session, whole, wanted - found)
            trees = walk_trees(session, whole)
            return found | {entry.path for root in whole for entry in flatten(root, trees)}

        return self._read(f"read the paths of plan {key}", work)

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

        return self._read(f"read the stat cache of plan {key}", work)

    def object_count(self) -> int:
        """How many content objects are stored (for retention checks and statistics)."""
        return self._read(
            "count checkpoint objects",
            lambda session: int(
                session.execute(select(func.count()).select_from(_OBJECTS)).scalar_one()
            ),
        )
