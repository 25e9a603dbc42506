"""A sandbox tree as the application sees it: scans, changes, swap steps and reserved names.

Plain data and pure rules, no I/O. They cross the boundary between the
application and the file-system side (``infrastructure.workspace``), which
walks, watches and swaps trees through the ports of :mod:`.workspace_ports`.
The infrastructure modules re-export these names where they were first defined.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from cleveragents.domain.models.core.change import EntryKind
from cleveragents.domain.models.core.checkpoint import FileKind, IndexedManifest, ManifestEntry

# --- names the library keeps for itself at the top of a tree -------------------------------

STAGING_PREFIX: Final = ".cleveragents-apply-"
NEW_PREFIX: Final = ".cleveragents-new-"  # a staging folder being made, or a file staged beside
# Staging folders of restores made before restores were journaled: no steps to undo.
OLD_RESTORE_PREFIX: Final = ".cleveragents-restore-"
# Every name a staging folder of ours has at the top of a tree: never workspace content.
OWN_PREFIXES: Final = (STAGING_PREFIX, NEW_PREFIX, OLD_RESTORE_PREFIX)

# --- the steps of a swap (see ``infrastructure.workspace.file_swap``) ----------------------

StepKind = Literal["chmod", "out", "rmdir", "mkdir", "in"]
# The order in which a swap runs its steps: modes, removals, emptied folders (deepest
# first), new folders (outermost first), then new content.
STEP_ORDER: tuple[StepKind, ...] = ("chmod", "out", "rmdir", "mkdir", "in")


@dataclass(frozen=True, slots=True)
class Step:
    """One undoable change of one path (see ``infrastructure.workspace.file_swap``)."""

    kind: StepKind
    path: str
    # "in": the staged file (under the staging folder, or with ``beside`` a temporary
    # name in the tree next to ``path``, given by ``place_beside``); "out": where the
    # original goes.
    staged: str = ""
    mode: int = 0  # "chmod": the new bits; "rmdir": the folder's bits, to make it again
    old_mode: int = 0  # "chmod": the bits to put back
    # "in": staged beside ``path``; "mkdir": made before anything is staged (nothing
    # is at ``path`` until then), so that the files going into it are staged beside.
    beside: bool = False


def beside_name(path: str, token: str, index: int) -> str:
    """The temporary name a file is staged under next to ``path``, in the same folder.

    Staged beside its destination, a file is made where the file system keeps that
    folder's files (far cheaper than in a new folder on some), and the swap's
    rename stays within one folder. Scans never take such a name for content.
    """
    folder = path.rpartition("/")[0]
    name = f"{NEW_PREFIX}{token}-{index}"
    return f"{folder}/{name}" if folder else name


def place_beside(steps: list[Step], token: str) -> None:
    """Name, in place, each "in" step of ``steps`` marked ``beside``: its file is staged
    under a temporary name next to its path (:func:`beside_name`)."""
    for index, step in enumerate(steps):
        if step.kind == "in" and step.beside:
            steps[index] = Step("in", step.path, beside_name(step.path, token, index), beside=True)


def staged_at(step: Step, target: str, staging: str) -> str:
    """Where an "in" step's file is staged: beside its path, or in the staging folder."""
    return f"{target}/{step.staged}" if step.beside else f"{staging}/{step.staged}"


def staging_token(staging: Path) -> str:
    """The unique part of a staging folder's name, shared by the files it stages beside."""
    return staging.name.removeprefix(STAGING_PREFIX)


# --- scans -------------------------------------------------------------------------------

DEFAULT_SIZE_LIMIT: Final = 100 * 1024 * 1024
ALWAYS_EXCLUDED: Final = (".git",)

StatKey = tuple[int, int, int, int, int]  # size, mtime_ns, ctime_ns, inode, mode


def stat_key_of(info: os.stat_result) -> StatKey:
    """The stat data a scan compares: size, mtime and ctime (ns), inode and mode."""
    return (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino, info.st_mode)


@dataclass(slots=True)
class ScannedFile:
    """A file found by a scan; ``content`` is set only when it was read and kept (a file
    read but not kept is read again when a snapshot stores it).

    ``row`` is the file's encoded stat-cache row, kept while the file is unchanged so
    that writing the cache does not encode every unchanged file again.
    ``verified``: the stat data were taken right after this library wrote the file
    (a restore), so they vouch for its content even within the racy window, as
    git's index does for the files a checkout wrote.
    """

    entry: ManifestEntry
    stat_key: StatKey
    content: bytes | None = None
    row: str | None = None
    verified: bool = False

    def still_holds(self, key: StatKey, racy_from: int) -> bool:
        """Whether a file with stat data ``key`` still holds this entry's content: the same
        stat data, and either taken right after this library wrote it or changed before
        ``racy_from`` (git's racy-clean rule: a change within the same timestamp
        granule as the scan could leave the stat data as they were)."""
        return self.stat_key == key and (
            self.verified or (key[1] < racy_from and key[2] < racy_from)
        )

    def cache_row(self) -> str:
        """``"path":[size,mtime_ns,ctime_ns,inode,mode,"sha256","kind"]`` (JSON)."""
        if self.row is None:
            entry = self.entry
            size, mtime, ctime, inode, mode = self.stat_key
            name = json.dumps(entry.path, ensure_ascii=False)
            self.row = (
                f"{name}:[{size},{mtime},{ctime},{inode},{mode},"
                f'"{entry.sha256}","{entry.kind.value}"]'
            )
        return self.row


class FolderIndex:
    """A scan's paths by the folder that holds them, to find what is below a folder
    without going through every path. Each folder on the way is a child of its own
    folder ("" is the top)."""

    def __init__(self, paths: Iterable[str] = ()) -> None:
        self._children: dict[str, set[str]] = {}
        for path in paths:
            self.add(path)

    def add(self, path: str) -> None:
        """``path`` is in the scan now (the folders above it too)."""
        children = self._children
        while True:
            parent = path.rpartition("/")[0]
            names = children.get(parent)
            if names is not None:
                names.add(path)
                return
            children[parent] = {path}
            if not parent:
                return
            path = parent

    def remove(self, path: str) -> None:
        """``path`` is gone from the scan (and each folder above it left empty).

        A path that still holds paths stays: an empty folder's entry goes when a file
        appears in it, but the folder is still on the way to that file.
        """
        children = self._children
        while path:
            if children.get(path):
                return
            parent = path.rpartition("/")[0]
            names = children.get(parent)
            if names is None:
                return
            names.discard(path)
            if names or not parent:
                return
            del children[parent]
            path = parent

    def below(self, folder: str, files: Mapping[str, object]) -> list[str]:
        """The paths of ``files`` at ``folder`` or below it."""
        found = [folder] if folder in files else []
        stack = [folder]
        while stack:
            for child in self._children.get(stack.pop(), ()):
                if child in files:
                    found.append(child)
                if child in self._children:
                    stack.append(child)
        return found


@dataclass(slots=True)
class CleanFolders:
    """Per folder, by name, the stat data of the files whose entries a later walk may
    keep without a look of its own: each one's entry in the scan holds these stat data
    and still holds its content for a scan whose racy bound is at least ``racy_from``
    (see :meth:`ScannedFile.still_holds`). Folders and empty folders are never listed.

    A walk keeps a whole folder's entries when every file it lists has its stat data
    here (one link) and nothing here is missing; it then hands the same table on.
    """

    racy_from: int
    folders: dict[str, dict[str, StatKey]]

    def usable(self, racy_from: int) -> bool:
        """Whether the tables hold for a scan with racy bound ``racy_from``: what changed
        before an earlier bound changed before this one."""
        return self.racy_from <= racy_from


@dataclass
class Scan:
    """The result of one scan of a tree."""

    def previous_entries(self, previous: Scan | None) -> Mapping[str, ScannedFile | None]:
        """What ``previous`` (the scan this one started from) held at this scan's touched paths."""
        if self.before is not None:
            return self.before
        return previous.files if previous is not None else {}

    files: dict[str, ScannedFile]
    started_ns: int
    skipped: list[str] = field(default_factory=list)
    # Files with more than one hard link: a write through another name is not reported.
    linked: set[str] = field(default_factory=set)
    # The paths that may differ from the previous scan's (the others hold the very same
    # ``ScannedFile``): a watcher's scan names what it looked at again, a walk what it
    # read, added or found gone. None: unknown (every path is compared).
    touched: set[str] | None = None
    # A watcher's scan: the previous scan's entries at the touched paths (None: absent),
    # kept because the previous scan's table may have been updated in place.
    before: dict[str, ScannedFile | None] | None = None
    # Built when a watcher's scan first needs the paths below a folder; kept up to date
    # by the scans that update this one in place.
    folders: FolderIndex | None = None
    # A walk's tables of files the next walk may keep unseen; None after any other scan,
    # which may have changed ``files`` (the next walk then looks at every file).
    clean: CleanFolders | None = None

    def cache_bytes(self) -> bytes:
        """The stat cache to hand to the next scan of the same tree: a JSON object by path."""
        rows = ",".join(found.cache_row() for found in self.files.values())
        return f"{{{rows}}}".encode()


class ScanManifest(IndexedManifest):
    """A scan's files as its snapshot's manifest, without copying them.

    ``total_size`` is given by the caller, who keeps it up to date from the previous
    snapshot's (see ``application.services.snapshot_write``).
    """

    def __init__(self, files: Mapping[str, ScannedFile], total_size: int) -> None:
        self._files = files
        self._total_size = total_size

    @property
    def total_size(self) -> int:
        """The sum of the entries' sizes."""
        return self._total_size

    def entry(self, path: str) -> ManifestEntry | None:
        """The entry at ``path``, or None."""
        found = self._files.get(path)
        return None if found is None else found.entry

    def __len__(self) -> int:
        return len(self._files)

    def __iter__(self) -> Iterator[ManifestEntry]:
        return (found.entry for found in self._files.values())


@dataclass(frozen=True)
class ScanSettings:
    """What a scan skips and the size above which content is not kept.

    ``excludes`` are gitignore pattern lines; with ``gitignore``, the tree's own
    ``.gitignore`` files and ``.git/info/exclude`` apply too
    (``infrastructure.workspace.ignore_rules`` judges them).
    """

    excludes: tuple[str, ...] = ()
    size_limit: int = DEFAULT_SIZE_LIMIT
    gitignore: bool = True


@dataclass
class Changes:
    """What a watcher's drain found: files to stat again, and folders to walk again whole."""

    files: set[str] = field(default_factory=set)
    folders: set[str] = field(default_factory=set)


# --- the state of one path, and of a restore -----------------------------------------------


@dataclass(frozen=True)
class PathState:
    """A path's kind (None: a folder or something else that is no file or symlink),
    content hash (a symlink's: of its target bytes) and permission bits."""

    kind: EntryKind | None
    sha256: str | None
    mode: int | None

    def shown(self) -> str:
        """The hash, or what is there instead, for messages."""
        return self.sha256 or "a folder"


# Kinds whose entries hold a file's content (a large one's is hashed, not stored).
CONTENT_KINDS: Final = frozenset({FileKind.FILE, FileKind.LARGE})


def same_state(have: ManifestEntry | None, want: ManifestEntry) -> bool:
    """True when ``have`` is ``want`` already: same kind, content and permission bits."""
    if have is None or have.sha256 != want.sha256:
        return False
    if want.kind in CONTENT_KINDS:
        return have.kind in CONTENT_KINDS and have.mode == want.mode
    return have.kind is want.kind


@dataclass
class RestorePlan:
    """The steps of a restore and what it reports (shown paths: folders end with ``/``)."""

    # An "in" step writes the wanted entry at its path. One whose folder is there
    # before the swap is marked ``beside`` (named by ``place_beside``); any other is
    # staged in the staging folder as ``new/N``.
    steps: list[Step] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
