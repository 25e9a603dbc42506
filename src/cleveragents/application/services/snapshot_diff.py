"""What a snapshot changed since the plan's last one: its diff and the content to store."""

from __future__ import annotations

from cleveragents.domain.models.core.checkpoint import DiffEntry, FileKind, ManifestEntry
from cleveragents.domain.workspace import Scan

# The kinds whose content is a stored blob (a large file's is not; an empty folder is a tree).
STORED_KINDS = frozenset({FileKind.FILE, FileKind.SYMLINK})


def unchanged(old: ManifestEntry, new: ManifestEntry) -> bool:
    """The same path state in both snapshots: kind, content and permission bits."""
    return old.sha256 == new.sha256 and old.kind is new.kind and old.mode == new.mode


def snapshot_diff(
    previous: Scan | None, found: Scan
) -> tuple[list[DiffEntry], dict[str, bytes], set[str], int]:
    """The diff sorted by shown path, new content by hash, the hashes of content not read
    (a restore's files, trusted by their stat data: their content is stored already,
    which the write must check), and how many paths were looked at again.

    A watcher's scan names the paths it looked at again; after a walk, every path
    of either scan is compared. A path whose scan kept the previous entry (the same
    object: its stat data did not change) is unchanged without a look.
    """
    before = found.previous_entries(previous)
    files = found.files
    diff: list[DiffEntry] = []
    blobs: dict[str, bytes] = {}
    reused: set[str] = set()
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
    if blobs:
        # A file read again with the content it had is stored already (the baseline's);
        # content that moved between paths is left to the repository's own lookup.
        stored = {old.entry.sha256 for path in paths if (old := before.get(path)) is not None}
        blobs = {digest: data for digest, data in blobs.items() if digest not in stored}
    diff.sort(key=lambda entry: entry.shown_path)
    return diff, blobs, reused, restated
