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
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, cast

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.orm import Session

from cleveragents.domain.errors import BaselineGoneError
from cleveragents.domain.models.core._types import require_id as valid_id
from cleveragents.domain.models.core.checkpoint import (
    Checkpoint,
    CheckpointMetadata,
    ContentSource,
    FileKind,
    SnapshotContent,
    check_content,
)
from cleveragents.domain.models.trusted import from_trusted
from cleveragents.infrastructure.database.checkpoint_reads import CheckpointContentReads
from cleveragents.infrastructure.database.checkpoint_removal import delete_checkpoints
from cleveragents.infrastructure.database.content_objects import (
    ContentLimits,
    MemorySource,
    write_sources,
)
from cleveragents.infrastructure.database.models import (
    CheckpointModel,
    CheckpointObjectModel,
    CheckpointStatCacheModel,
)
from cleveragents.infrastructure.database.object_codec import DeltaBase, encode_diff
from cleveragents.infrastructure.database.object_compression import DICTIONARY, compress
from cleveragents.infrastructure.database.object_packing import (
    RecentContent,
    object_rows,
    stored_and_bases,
    usable_dictionary,
)
from cleveragents.infrastructure.database.object_store import (
    BLOB,
    checkpoint_exists,
    existing_objects,
    insert_ignoring_existing,
    lock_objects,
)
from cleveragents.infrastructure.database.plan_dictionaries import (
    PlanDictionaries,
    descended_dictionary,
)
from cleveragents.infrastructure.database.plan_lock import refuse_cancelled
from cleveragents.infrastructure.database.retention import CheckpointRetention
from cleveragents.infrastructure.database.rollback_marks import current_marks
from cleveragents.infrastructure.database.session import (
    SessionFactory,
)
from cleveragents.infrastructure.database.tree_codec import TREE, TreeIndex
from cleveragents.infrastructure.database.tree_reads import trees_at

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


class CheckpointRepository(CheckpointContentReads, CheckpointRetention):
    """``CheckpointStore`` on SQLite or PostgreSQL (snapshot reads: :mod:`.checkpoint_reads`;
    prune and delete: :mod:`.retention`)."""

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
        # Each plan's last shared dictionary: the next snapshot's few small new files
        # are packed against it (checked stored first, as any base).
        self._dictionaries = PlanDictionaries(REMEMBERED_INDEXES)
        self._recent = RecentContent()

    def create(self, checkpoint: Checkpoint, content: SnapshotContent | None = None) -> Checkpoint:
        """Persist the checkpoint with its manifest, new objects and diff in ONE transaction."""
        if not isinstance(checkpoint, Checkpoint):
            raise ValueError(f"checkpoint must be a Checkpoint, got {type(checkpoint).__name__}")
        if content is not None and not isinstance(content, SnapshotContent):
            raise ValueError("content must be a SnapshotContent")
        root: str | None = None
        index = TreeIndex()
        fresh = False  # the index was built from the whole manifest, with no tree bases
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
                index, trees, fresh = self._trees(checkpoint.plan_id, content)
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
        new_files = [d for d, (kind, _) in objects.items() if kind == BLOB and d not in hints]
        baseline = content.baseline_checkpoint_id if fresh and content is not None else None

        def look_up(session: Session) -> tuple[set[str], dict[str, DeltaBase], DeltaBase | None]:
            if baseline is not None:
                for new, (old, data) in self._baseline_trees(session, baseline, index).items():
                    hints[new], known[old] = old, data
            return (
                *stored_and_bases(session, objects.keys() | sources.keys(), hints, known),
                self._dictionary_for(session, checkpoint.plan_id, new_files, known),
            )

        stored, bases, dictionary = self._read("look up stored objects", look_up)
        missing = sorted(set(objects) - stored)
        packed = compress(
            {digest: objects[digest][1] for digest in missing},
            bases,
            packable={digest for digest in missing if objects[digest][0] == BLOB},
            dictionary=dictionary,
        )

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
            insert_ignoring_existing(session, object_rows(session, objects, packed))
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
            made = [stored.digest for stored in packed if stored.kind == DICTIONARY]
            if made:
                self._dictionaries.remember(checkpoint.plan_id, made[-1])
            self._recent.remember(content.blobs.items())
        return checkpoint

    def _trees(
        self, plan_id: str, content: SnapshotContent
    ) -> tuple[TreeIndex, dict[str, bytes], bool]:
        """The snapshot's tree index, the trees to store, and whether every folder was
        encoded afresh.

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
                return index, trees, False
        return (*TreeIndex.of(content.manifest), True)

    def _baseline_trees(
        self, session: Session, baseline: str, index: TreeIndex
    ) -> dict[str, tuple[str, bytes]]:
        """For each folder whose new tree is not stored: the baseline's tree of the same
        folder (hash, bytes), to store the new one as a delta of (by new tree hash).

        What an index kept from the plan's last snapshot knows already (``bases``), read
        back for an index built afresh: by a new process, or after another writer's
        snapshot of the plan.
        """
        root = self._root_of(session, baseline)
        new = {folder: digest for folder, (digest, _) in index.trees.items()}
        unstored = set(new.values()) - existing_objects(session, sorted(set(new.values())))
        folders = [folder for folder, digest in new.items() if digest in unstored]
        if root is None or not folders:
            return {}
        return {
            new[folder]: (old, data)
            for folder, (old, data) in trees_at(session, root, folders).items()
            if old != new[folder]
        }

    def _dictionary_for(
        self, session: Session, plan_id: str, new_files: list[str], known: Mapping[str, bytes]
    ) -> DeltaBase | None:
        """The stored dictionary to pack the plan's small new files against, if any.

        The plan's last one when remembered, else the one the files of its newest
        snapshot descend from (then remembered, found or not: searched once).
        """
        if not new_files:
            return None
        remembered, digest = self._dictionaries.recall(plan_id)
        if not remembered:
            digest = descended_dictionary(session, plan_id)
            self._dictionaries.remember(plan_id, digest)
        return usable_dictionary(session, digest, known)

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
