"""What a snapshot changed since the plan's last one: its diff and the content to store."""

from __future__ import annotations

from dataclasses import dataclass, field

from cleveragents.domain.models.core.checkpoint import DiffEntry, FileKind, ManifestEntry
from cleveragents.domain.workspace import Scan

# The kinds whose content is a stored blob (a large file's is not; an empty folder is a tree).
STORED_KINDS = frozenset({FileKind.FILE, FileKind.SYMLINK})


def unchanged(old: ManifestEntry, new: ManifestEntry) -> bool:
    """The same path state in both snapshots: kind, content and permission bits."""
    return old.sha256 == new.sha256 and old.kind is new.kind and old.mode == new.mode


@dataclass
class SnapshotChanges:
    """What :func:`snapshot_diff` finds."""

    diff: list[DiffEntry] = field(default_factory=list)
    # New content by hash: kept by the scan, or (``unread``) its path and size, to be
    # read again when it is stored.
    blobs: dict[str, bytes] = field(default_factory=dict)
    unread: dict[str, tuple[str, int]] = field(default_factory=dict)
    # Content not read at all (a restore's files, trusted by their stat data: their
    # content is stored already, which the write must check).
    reused: set[str] = field(default_factory=set)
    restated: int = 0  # how many paths were looked at again


def snapshot_diff(previous: Scan | None, found: Scan) -> SnapshotChanges:
    """The diff sorted by shown path, and the content the snapshot may have to store.

    A watcher's scan names the paths it looked at again; after a walk, every path
    of either scan is compared. A path whose scan kept the previous entry (the same
    object: its stat data did not change) is unchanged without a look.
    """
    before = previous.files if previous is not None else {}
    files = found.files
    changes = SnapshotChanges()
    diff, blobs, unread, reused = changes.diff, changes.blobs, changes.unread, changes.reused
    restated = 0
    paths = found.touched if found.touched is not None else before.keys() | files.keys()
    for path in paths:
        now, old = files.get(path), before.get(path)
        if old is now:
            continue
        restated += 1
        if now is None:
            if old is not None:
                diff.append(DiffEntry.gone(old.entry))
            continue
        if old is not None and (old.entry.kind is FileKind.DIR) != (now.entry.kind is FileKind.DIR):
            diff.append(DiffEntry.gone(old.entry))  # "p" and "p/" are two paths
            old = None
        if old is None or not unchanged(old.entry, now.entry):
            diff.append(DiffEntry.of(now.entry))
        if now.content is not None:
            blobs[now.entry.sha256] = now.content
        elif now.verified and now.entry.kind in STORED_KINDS:
            reused.add(now.entry.sha256)
        elif now.entry.kind is FileKind.FILE:
            unread[now.entry.sha256] = (path, now.entry.size)
    if found.touched is None and (blobs or unread):
        # Content the baseline has is stored already (a watcher's few files are left
        # to the repository's own lookup).
        stored = {f.entry.sha256 for f in before.values()}
        for digest in stored.intersection(blobs):
            del blobs[digest]
        for digest in stored.intersection(unread):
            del unread[digest]
    diff.sort(key=lambda entry: entry.shown_path)
    changes.restated = restated
    return changes
