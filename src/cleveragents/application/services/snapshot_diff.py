"""What a snapshot changed since the plan's last one: its diff and the content to store."""

from __future__ import annotations

from collections.abc import Mapping
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
    # New content -> the content it is likely close to (see :func:`delta_hints`).
    bases: dict[str, str] = field(default_factory=dict)


def snapshot_diff(previous: Scan | None, found: Scan) -> SnapshotChanges:
    """The diff sorted by shown path, and the content the snapshot may have to store.

    A watcher's scan names the paths it looked at again; after a walk, every path
    of either scan is compared. A path whose scan kept the previous entry (the same
    object: its stat data did not change) is unchanged without a look.
    """
    before = found.previous_entries(previous)
    files = found.files
    changes = SnapshotChanges()
    diff, blobs, unread, reused = changes.diff, changes.blobs, changes.unread, changes.reused
    earlier: dict[str, ManifestEntry] = {}  # path -> its entry before, for new content
    fresh: dict[str, str] = {}  # path -> its content read now
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
                earlier[path] = old.entry
            continue
        if old is not None and (old.entry.kind is FileKind.DIR) != (now.entry.kind is FileKind.DIR):
            diff.append(DiffEntry.gone(old.entry))  # "p" and "p/" are two paths
            old = None
        if old is None or not unchanged(old.entry, now.entry):
            diff.append(DiffEntry.of(now.entry))
        if now.content is not None:
            blobs[now.entry.sha256] = now.content
            fresh[path] = now.entry.sha256
            if old is not None:
                earlier[path] = old.entry
        elif now.verified and now.entry.kind in STORED_KINDS:
            reused.add(now.entry.sha256)
        elif now.entry.kind is FileKind.FILE:
            unread[now.entry.sha256] = (path, now.entry.size)
    if blobs or unread:
        # A file read again with the content it had is stored already (the baseline's);
        # content that moved between paths is left to the repository's own lookup.
        stored = {old.entry.sha256 for path in paths if (old := before.get(path)) is not None}
        for digest in stored.intersection(blobs):
            del blobs[digest]
        for digest in stored.intersection(unread):
            del unread[digest]
    diff.sort(key=lambda entry: entry.shown_path)
    changes.restated = restated
    changes.bases = delta_hints(earlier, fresh, blobs)
    return changes


def delta_hints(
    earlier: Mapping[str, ManifestEntry], fresh: Mapping[str, str], blobs: Mapping[str, bytes]
) -> dict[str, str]:
    """New content -> the content it likely shares most with (git's delta heuristics, cut short).

    ``earlier`` holds the previous entries of changed and removed paths, ``fresh``
    the content hash of each path read now. The base is the previous version of
    the same path; for a new path, a file of the same name that this snapshot
    removed (a move). Only a hint: the store keeps whichever form is smaller.
    """
    moved = {
        path.rpartition("/")[2]: entry.sha256
        for path, entry in earlier.items()
        if path not in fresh and entry.kind in STORED_KINDS
    }
    hints: dict[str, str] = {}
    for path, new in fresh.items():
        if new not in blobs or new in hints:
            continue
        old = earlier.get(path)
        if old is not None and old.kind in STORED_KINDS:
            hints[new] = old.sha256
        elif path.rpartition("/")[2] in moved:
            hints[new] = moved[path.rpartition("/")[2]]
    return hints
