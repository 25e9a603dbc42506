"""Reading what checkpoints hold: manifests, diffs, content, known paths, stat caches.

The read half of :class:`~.checkpoint_repository.CheckpointRepository`; every
method runs in one read transaction (``_read``) of the repository's session factory.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from typing import Any, Final, cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from cleveragents.domain.errors import RecordNotFoundError
from cleveragents.domain.models.core._types import require_id as valid_id
from cleveragents.domain.models.core.checkpoint import DiffEntry, FileKind, ManifestEntry
from cleveragents.domain.models.core.packed_manifest import PackedManifest
from cleveragents.infrastructure.database.content_objects import ContentLimits, read_pieces
from cleveragents.infrastructure.database.models import (
    CheckpointModel,
    CheckpointObjectModel,
    CheckpointStatCacheModel,
)
from cleveragents.infrastructure.database.object_codec import (
    added_paths,
    decode_diff,
    diff_pieces,
)
from cleveragents.infrastructure.database.object_reads import hashes_below, packed_manifest_below
from cleveragents.infrastructure.database.repository_base import Repository
from cleveragents.infrastructure.database.tree_codec import flatten
from cleveragents.infrastructure.database.tree_reads import (
    paths_among,
    tree_diff_of,
    walk_trees,
)

_CHECKPOINTS = cast(Table, CheckpointModel.__table__)
_STAT_CACHE = cast(Table, CheckpointStatCacheModel.__table__)
_OBJECTS = cast(Table, CheckpointObjectModel.__table__)
# The tree rows whose hash names a stored object of content (a large file's names none).
STORED: Final = frozenset({FileKind.FILE.value, FileKind.SYMLINK.value})


def _column_of(session: Session, checkpoint_id: str, column: Any) -> Any:
    """One column of a checkpoint's row; ``RecordNotFoundError`` without the checkpoint."""
    row = session.execute(
        select(column).where(_CHECKPOINTS.c.checkpoint_id == checkpoint_id)
    ).first()
    if row is None:
        raise RecordNotFoundError(f"checkpoint {checkpoint_id} does not exist")
    return row[0]


class CheckpointContentReads(Repository):
    """The snapshot reads of the checkpoint repository."""

    _limits: ContentLimits  # batch sizes of content read back (set by the repository)

    def _root_of(self, session: Session, checkpoint_id: str) -> str | None:
        return cast(str | None, _column_of(session, checkpoint_id, _CHECKPOINTS.c.root_tree))

    def _stored_diff(self, key: str) -> bytes | None:
        """The checkpoint's diff as stored (compressed canonical form), or None."""
        return self._read(
            f"read the diff of checkpoint {key}",
            lambda session: cast(bytes | None, _column_of(session, key, _CHECKPOINTS.c.diff_data)),
        )

    def manifest(self, checkpoint_id: str) -> list[ManifestEntry] | None:
        """The files of the checkpoint's snapshot sorted by path; None if it has no snapshot."""
        key = valid_id(checkpoint_id, "checkpoint_id")

        def work(session: Session) -> list[ManifestEntry] | None:
            root = self._root_of(session, key)
            return None if root is None else flatten(root, walk_trees(session, [root]))

        return self._read(f"read the manifest of checkpoint {key}", work)

    def packed_manifest(self, checkpoint_id: str) -> PackedManifest | None:
        """The files of the checkpoint's snapshot in columns; None if it has no snapshot."""
        key = valid_id(checkpoint_id, "checkpoint_id")

        def work(session: Session) -> PackedManifest | None:
            root = self._root_of(session, key)
            return None if root is None else packed_manifest_below(session, root)

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
        return decode_diff(key, self._stored_diff(key))

    def canonical_diff(self, checkpoint_id: str) -> Iterator[bytes]:
        """The diff as stored: its canonical bytes in pieces, decompressed as consumed."""
        key = valid_id(checkpoint_id, "checkpoint_id")
        return diff_pieces(key, self._stored_diff(key))

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
