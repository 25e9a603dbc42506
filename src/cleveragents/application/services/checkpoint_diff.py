"""Comparing two checkpoints' snapshots: a unified diff of content, path by path, like git.

Only the paths where the two snapshots differ are read (``CheckpointStore.tree_diff``),
then the content of those files from the store, checked against its hash. Each
path's text follows ``git diff``: a ``diff --git a/P b/P`` line, then ``new file
mode``/``deleted file mode`` or ``old mode``/``new mode`` headers, then the hunks
against ``/dev/null`` for a path only one side has. Content that is not UTF-8 text,
or holds a NUL byte, is ``Binary files a/P and b/P differ``; a symlink's content is
its target; a file above the size limit, whose content is not stored, is
``Files a/P and b/P differ (content above the size limit is not stored)``. An empty
folder appears as its own path, ``P/``, with the header ``new empty folder`` or
``deleted empty folder``. A path whose kind changed (a file that became a symlink)
is shown as deleted, then added.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from fnmatch import fnmatchcase

from cleveragents.domain.errors import IntegrityCheckError
from cleveragents.domain.models.core._types import require_id
from cleveragents.domain.models.core.checkpoint import FileKind, ManifestEntry
from cleveragents.domain.models.core.checkpoint_store import CheckpointStore

DEV_NULL = "/dev/null"
CONTEXT_LINES = 3
NO_NEWLINE = "\\ No newline at end of file\n"
# The kinds whose content is a stored blob (a large file's is not stored).
_STORED = frozenset({FileKind.FILE, FileKind.SYMLINK})
# Regular files on both sides pair up as one modification; anything else that
# changes kind is shown as a deletion and an addition, as git does.
_REGULAR = frozenset({FileKind.FILE, FileKind.LARGE})


class ChangeStatus(StrEnum):
    """How a path differs between the two snapshots."""

    ADDED = "added"
    DELETED = "deleted"
    MODIFIED = "modified"


@dataclass(frozen=True)
class PathDiff:
    """One path that differs: its entry on each side and its git-style diff text.

    ``path`` ends with ``/`` for an empty folder. ``binary`` is True when either
    side's content is not text (or not stored); then ``text`` has no hunks and
    ``insertions``/``deletions`` are 0.
    """

    path: str
    status: ChangeStatus
    old: ManifestEntry | None
    new: ManifestEntry | None
    binary: bool
    insertions: int
    deletions: int
    text: str


@dataclass(frozen=True)
class CheckpointDiff:
    """Every path where two checkpoints' snapshots differ, sorted by path."""

    from_checkpoint_id: str
    to_checkpoint_id: str
    paths: list[PathDiff]

    @property
    def text(self) -> str:
        """The whole diff, as ``git diff`` would print it."""
        return "".join(each.text for each in self.paths)


def diff_checkpoints(
    store: CheckpointStore, from_id: str, to_id: str, *, path_glob: str | None = None
) -> CheckpointDiff:
    """The content diff from checkpoint ``from_id`` to ``to_id`` (any two checkpoints).

    ``path_glob`` keeps the paths it matches (``fnmatch``, case-sensitive, ``*``
    matches ``/`` too). An unknown checkpoint raises ``RecordNotFoundError``, one
    without a workspace snapshot ``ValueError``, stored content that fails its
    hash check ``IntegrityCheckError``.
    """
    first = require_id(from_id, "from_id")
    second = require_id(to_id, "to_id")
    if path_glob is not None and not isinstance(path_glob, str):
        raise ValueError(f"path_glob must be a string, got {type(path_glob).__name__}")
    compared = store.tree_diff(first, second)
    if compared is None:
        lacking = first if store.tree_diff(first, first) is None else second
        raise ValueError(f"checkpoint {lacking} has no workspace snapshot to compare")
    old_side, new_side = compared
    pairs = [
        (path, old_side.get(path), new_side.get(path))
        for path in sorted(old_side.keys() | new_side.keys())
        if path_glob is None or _matches(path, path_glob)
    ]
    pairs = [(path, old, new) for path, old, new in pairs if not _same(old, new)]
    wanted = {
        entry.sha256
        for _, old, new in pairs
        for entry in (old, new)
        if entry is not None and entry.kind in _STORED
    }
    content = _read_content(store, wanted)
    paths: list[PathDiff] = []
    for _, old, new in pairs:
        if old is not None and new is not None and not _pairs_up(old, new):
            paths += [_path_diff(old, None, content), _path_diff(None, new, content)]
        else:
            paths.append(_path_diff(old, new, content))
    return CheckpointDiff(first, second, paths)


def _matches(path: str, pattern: str) -> bool:
    return fnmatchcase(path, pattern) or fnmatchcase(f"{path}/", pattern)


def _same(old: ManifestEntry | None, new: ManifestEntry | None) -> bool:
    """Equal entries: trees of older snapshots can differ in form and not in content."""
    if old is None or new is None:
        return False
    return (old.kind, old.sha256, old.mode) == (new.kind, new.sha256, new.mode)


def _pairs_up(old: ManifestEntry, new: ManifestEntry) -> bool:
    return old.kind is new.kind or (old.kind in _REGULAR and new.kind in _REGULAR)


def _read_content(store: CheckpointStore, hashes: Iterable[str]) -> dict[str, bytes]:
    wanted = set(hashes)
    content: dict[str, bytes] = {}
    for digest, data in store.read_blobs(wanted):
        if hashlib.sha256(data).hexdigest() != digest:
            raise IntegrityCheckError(f"stored content {digest} does not match its hash")
        content[digest] = data
    missing = wanted - content.keys()
    if missing:
        raise IntegrityCheckError(f"stored content {min(missing)} is missing")
    return content


def git_mode(entry: ManifestEntry) -> str:
    """The mode git shows for an entry: ``100644``, ``100755``, ``120000`` (symlink)."""
    if entry.kind is FileKind.SYMLINK:
        return "120000"
    return f"{0o100000 | entry.mode:o}"


def _path_diff(
    old: ManifestEntry | None, new: ManifestEntry | None, content: Mapping[str, bytes]
) -> PathDiff:
    entry = new if new is not None else old
    assert entry is not None  # a pair always has at least one side
    shown = entry.shown_path
    status = (
        ChangeStatus.ADDED
        if old is None
        else ChangeStatus.DELETED
        if new is None
        else ChangeStatus.MODIFIED
    )
    lines = [f"diff --git a/{shown} b/{shown}\n"]
    if entry.kind is FileKind.DIR:
        verb = "new" if status is ChangeStatus.ADDED else "deleted"
        lines.append(f"{verb} empty folder\n")
        return PathDiff(shown, status, old, new, False, 0, 0, "".join(lines))
    if old is None:
        lines.append(f"new file mode {git_mode(entry)}\n")
    elif new is None:
        lines.append(f"deleted file mode {git_mode(entry)}\n")
    elif git_mode(old) != git_mode(new):
        lines += [f"old mode {git_mode(old)}\n", f"new mode {git_mode(new)}\n"]
    if old is not None and new is not None and old.sha256 == new.sha256:
        return PathDiff(shown, status, old, new, False, 0, 0, "".join(lines))
    before_label = DEV_NULL if old is None else f"a/{shown}"
    after_label = DEV_NULL if new is None else f"b/{shown}"
    if any(side is not None and side.kind is FileKind.LARGE for side in (old, new)):
        lines.append(
            f"Files {before_label} and {after_label} differ "
            "(content above the size limit is not stored)\n"
        )
        return PathDiff(shown, status, old, new, True, 0, 0, "".join(lines))
    before = _text_of(old, content)
    after = _text_of(new, content)
    if before is None or after is None:
        lines.append(f"Binary files {before_label} and {after_label} differ\n")
        return PathDiff(shown, status, old, new, True, 0, 0, "".join(lines))
    hunks, insertions, deletions = text_diff(before, after, before_label, after_label)
    lines.append(hunks)
    return PathDiff(shown, status, old, new, False, insertions, deletions, "".join(lines))


def _text_of(entry: ManifestEntry | None, content: Mapping[str, bytes]) -> str | None:
    """The entry's content as text ("" for no entry), or None when it is binary."""
    if entry is None:
        return ""
    data = content[entry.sha256]
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def text_diff(before: str, after: str, before_label: str, after_label: str) -> tuple[str, int, int]:
    """A unified diff of two texts (``---``/``+++`` lines and hunks) with its +/- line counts.

    Lines end at ``\\n`` only, as in git; a last line without one is followed by
    ``\\ No newline at end of file``. Equal texts give ``""``.
    """
    lines = list(
        difflib.unified_diff(
            _lines(before), _lines(after), before_label, after_label, n=CONTEXT_LINES
        )
    )
    body = lines[2:]  # after the '---' and '+++' header lines
    insertions = sum(1 for line in body if line.startswith("+"))
    deletions = sum(1 for line in body if line.startswith("-"))
    return "".join(lines), insertions, deletions


def _lines(text: str) -> list[str]:
    parts = text.split("\n")
    lines = [f"{part}\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(f"{parts[-1]}\n{NO_NEWLINE}")
    return lines


__all__ = [
    "ChangeStatus",
    "CheckpointDiff",
    "PathDiff",
    "diff_checkpoints",
    "git_mode",
    "text_diff",
]
