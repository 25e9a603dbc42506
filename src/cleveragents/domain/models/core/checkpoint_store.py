"""The store protocol of checkpoints: durable storage of checkpoints, manifests and content.

Also importable from :mod:`.checkpoint` (the contract's path), which holds the
models this protocol speaks of.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from cleveragents.domain.retention import PruneReport, RetentionLimits

if TYPE_CHECKING:
    # Only in annotations: checkpoint.py re-exports this module's protocol at import time.
    from cleveragents.domain.models.core.checkpoint import (
        Checkpoint,
        DiffEntry,
        ManifestEntry,
        SnapshotContent,
    )
    from cleveragents.domain.models.core.packed_manifest import PackedManifest


@runtime_checkable
class CheckpointStore(Protocol):
    """Durable storage of checkpoints, their manifests and content."""

    def create(self, checkpoint: Checkpoint, content: SnapshotContent | None = None) -> Checkpoint:
        """Persist the checkpoint and its snapshot content in one transaction."""
        ...

    def get(self, checkpoint_id: str) -> Checkpoint | None:
        """The checkpoint, or None."""
        ...

    def list_for_plan(self, plan_id: str) -> list[Checkpoint]:
        """The plan's checkpoints, oldest first."""
        ...

    def latest_for_plan(self, plan_id: str) -> Checkpoint | None:
        """The plan's newest checkpoint, or None."""
        ...

    def delete_for_plan(self, plan_id: str) -> int:
        """Delete the plan's checkpoints (and content no checkpoint needs); returns how many."""
        ...

    def prune(
        self,
        plan_id: str,
        keep_last: int | None = None,
        *,
        older_than: timedelta | None = None,
        max_bytes: int | None = None,
    ) -> int:
        """Remove the plan's oldest checkpoints until every limit holds; returns how many."""
        ...

    def prune_report(
        self, plan_id: str, limits: RetentionLimits, *, dry_run: bool = False
    ) -> PruneReport:
        """What a prune of the plan removes (``dry_run``: would remove, writing nothing)."""
        ...

    def prune_all(self, max_bytes: int, *, dry_run: bool = False) -> PruneReport:
        """Remove the oldest checkpoints of every plan, never a plan's newest, until the
        stored content takes at most ``max_bytes``."""
        ...

    def manifest(self, checkpoint_id: str) -> list[ManifestEntry] | None:
        """The files of a checkpoint's snapshot, sorted by path; None without a snapshot."""
        ...

    def packed_manifest(self, checkpoint_id: str) -> PackedManifest | None:
        """The files of a checkpoint's snapshot held in columns, not as a model each (what a
        restore holds while it works); None without a snapshot."""
        ...

    def tree_diff(
        self, checkpoint_id: str, other_id: str
    ) -> tuple[dict[str, ManifestEntry], dict[str, ManifestEntry]] | None:
        """Both snapshots' entries at every path where they differ (None: one has no snapshot)."""
        ...

    def content_hashes(self, checkpoint_id: str) -> set[str] | None:
        """The hashes of the stored content (files, symlinks) a checkpoint's snapshot holds,
        without building its manifest; None without a snapshot."""
        ...

    def diff(self, checkpoint_id: str) -> list[DiffEntry]:
        """The paths the checkpoint changed since its parent, as stored with it."""
        ...

    def canonical_diff(self, checkpoint_id: str) -> Iterator[bytes]:
        """The stored diff's canonical bytes (:func:`diff_canonical_bytes`) in pieces, read
        as consumed (``IntegrityCheckError`` if damaged). Not verified: callers re-hash it."""
        ...

    def read_blobs(self, hashes: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        """The stored content of each hash (not verified: callers re-hash it)."""
        ...

    def read_pieces(self, hashes: Iterable[str]) -> Iterator[tuple[str, Iterator[bytes]]]:
        """The stored content of each hash in pieces, read as they are consumed (a large
        file's chunk by chunk); consume each one's pieces before the next. Not verified."""
        ...

    def known_paths(self, plan_id: str, among: Iterable[str] | None = None) -> set[str]:
        """Every path any checkpoint of the plan has in its snapshot (only ``among`` them)."""
        ...

    def stat_cache(self, plan_id: str) -> tuple[str, int, bytes] | None:
        """(checkpoint id, scan start, data) of the plan's latest snapshot scan."""
        ...
