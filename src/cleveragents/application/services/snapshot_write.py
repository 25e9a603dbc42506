"""Writing a snapshot: its checkpoint with the diff metadata, then ONE ``create`` call.

Everything (manifest, new content, ``diff_paths``, ``diff_based``, ``diff_hash``)
is computed before the call that persists it, and the checkpoint is never touched
afterwards. Content the scan did not keep in memory goes in as sources that the
store reads in bounded batches inside that one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cleveragents._logging import get_logger
from cleveragents._pacing import release
from cleveragents.application.services.sandbox_memory import Baseline
from cleveragents.application.services.snapshot_diff import snapshot_diff
from cleveragents.domain.models.core.checkpoint import (
    DIFF_BASED,
    DIFF_HASH,
    DIFF_PATHS,
    Checkpoint,
    CheckpointMetadata,
    SnapshotContent,
    diff_hash,
)
from cleveragents.domain.models.core.checkpoint_store import CheckpointStore
from cleveragents.domain.progress import Progress, Stage
from cleveragents.domain.workspace import Scan, ScanManifest
from cleveragents.domain.workspace_ports import SafeFiles

_log = get_logger(__name__)

# A snapshot that has a baseline rewrites the stat cache only when this many files
# changed since it was written: a new process re-reads just those files.
CACHE_LAG_LIMIT = 1000


@dataclass(frozen=True)
class SnapshotDetails:
    """What a snapshot records besides the files."""

    plan_id: str
    root: Path
    decision_id: str
    description: str | None
    checkpoint_type: str


def persist(
    repository: CheckpointStore,
    details: SnapshotDetails,
    parent: Checkpoint | None,
    previous: Baseline | None,
    found: Scan,
    files: SafeFiles,
    *,
    progress: Progress | None = None,
) -> tuple[Checkpoint, Baseline]:
    """Write the snapshot; returns the checkpoint and the baseline it is for the next one.

    Content the scan did not keep is handed over as ``files`` sources: the store
    reads it again a batch at a time and checks it against the scanned hash
    (``SourceChangedError`` when it changed since). After a watcher's scan,
    everything here follows the touched paths, not the tree: the manifest is the
    scan's files themselves (:class:`ScanManifest`), and the repository applies the
    diff to the tree index it kept. ``progress`` hears the ``store`` stage: the new
    contents, written in one transaction (reported at its start and its end).
    """
    changes = snapshot_diff(previous.scan if previous else None, found)
    diff, blobs, restated = changes.diff, changes.blobs, changes.restated
    top = str(details.root)
    sources = {
        digest: files.source(f"{top}/{path}", size)
        for digest, (path, size) in changes.unread.items()
        if digest not in blobs
    }
    # The first snapshot writes the stat cache; the next ones (a walk's or a watcher's)
    # only when it has fallen CACHE_LAG_LIMIT files behind: writing it costs the tree.
    # A snapshot that found nothing new leaves the cache as current as it was.
    lag = (previous.cache_lag if previous else 0) + restated
    rewrite = previous is None or found.touched is None or lag > CACHE_LAG_LIMIT
    if rewrite:
        lag = 0
    checkpoint = Checkpoint(
        plan_id=details.plan_id,
        sandbox_ref=str(details.root),
        checkpoint_type=details.checkpoint_type,
        parent_id=parent.checkpoint_id if parent else None,
        metadata=CheckpointMetadata(
            decision_id=details.decision_id,
            description=details.description,
            extra={
                DIFF_PATHS: [entry.shown_path for entry in diff],
                DIFF_BASED: True,
                DIFF_HASH: diff_hash(diff),
            },
        ),
    )
    total_size = _total_size(previous, found)
    content = SnapshotContent(
        manifest=ScanManifest(found.files, total_size),
        diff=diff,
        blobs=blobs,
        sources=sources,
        stat_cache=found.cache_bytes() if rewrite else None,
        scan_started_ns=found.started_ns,
        baseline_checkpoint_id=previous.checkpoint_id if previous else None,
        reused=frozenset(changes.reused),
        delta_bases=changes.bases,
    )
    storing = Stage(progress, "store", len(blobs) + len(sources))
    try:
        created = repository.create(checkpoint, content)
    finally:
        # Stored now (or not at all): never kept in memory. Only a touched path can hold any.
        holders = found.files.keys() if found.touched is None else found.touched
        for path in holders:
            now = found.files.get(path)
            if now is not None:
                now.content = None
    _log.info(
        "checkpoint.snapshot",
        plan_id=details.plan_id,
        checkpoint_id=created.checkpoint_id,
        files=len(found.files),
        changed=len(diff),
        new_blobs=len(blobs) + len(sources),
    )
    storing.finish()
    # Ours alone, and done with: emptied with pause points rather than freed at the return.
    release(diff, sources, changes.unread, changes.bases)
    return created, Baseline(created.checkpoint_id, found, lag, total_size)


def _total_size(previous: Baseline | None, found: Scan) -> int:
    """The sum of the scan's file sizes: the previous one's, changed along the touched paths."""
    if previous is None or previous.total_size is None or found.touched is None:
        return sum(each.entry.size for each in found.files.values())
    before, now = found.previous_entries(previous.scan), found.files
    total = previous.total_size
    for path in found.touched:
        old, new = before.get(path), now.get(path)
        if old is not new:
            total += (new.entry.size if new is not None else 0) - (
                old.entry.size if old is not None else 0
            )
    return total
