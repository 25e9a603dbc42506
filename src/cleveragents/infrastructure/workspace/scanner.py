"""Walking a sandbox: which files it holds, their content hashes and stat data.

Like git's index, a file whose size, mtime, ctime, inode and mode match the
previous scan is not read again, unless it is *racily clean*: modified so close
to the previous scan's start that a later write could have left the same
timestamps. Those are always re-hashed.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

from cleveragents._logging import get_logger
from cleveragents._pacing import helper_threads, mapped, pause
from cleveragents.domain.models.core.checkpoint import (
    EMPTY_TREE_SHA256,
    FileKind,
    ManifestEntry,
)
from cleveragents.domain.models.trusted import trusted_builder
from cleveragents.domain.progress import Progress, Stage
from cleveragents.domain.workspace import (
    ALWAYS_EXCLUDED,
    DEFAULT_SIZE_LIMIT,
    NEW_PREFIX,
    OWN_PREFIXES,
    Changes,
    CleanFolders,
    FolderIndex,
    Scan,
    ScannedFile,
    ScanSettings,
    StatKey,
    stat_key_of,
)
from cleveragents.domain.workspace_ports import Watcher
from cleveragents.infrastructure.workspace.file_content import (
    KEEP_BYTES,
    ContentBudget,
    read_content,
)
from cleveragents.infrastructure.workspace.ignore_rules import (
    INFO_FOLDERS,
    IgnoreRules,
    RuleChanges,
    git_internal,
    rules_changed,
)
from cleveragents.infrastructure.workspace.safe_paths import SafeRoot
from cleveragents.infrastructure.workspace.stat_cache import load_cache, manifest_entry
from cleveragents.infrastructure.workspace.tree_walk import Reuse, Walked, walk

# The scan's data types live in the domain (the application keeps scans); they are
# still importable from here.
__all__ = [
    "ALWAYS_EXCLUDED",
    "DEFAULT_SIZE_LIMIT",
    "RACY_WINDOW_NS",
    "Scan",
    "ScanSettings",
    "ScannedFile",
    "StatKey",
    "load_cache",
    "rescan",
    "scan",
    "stat_key_of",
]

# Timestamps come from a coarse kernel clock that may lag the fine one by a tick.
RACY_WINDOW_NS: Final = 50_000_000

_log = get_logger(__name__)

# Reading and hashing in threads pays off only for more than a few small files.
_THREADS_FROM_FILES: Final = 16
_THREADS_FROM_BYTES: Final = 8 * 1024 * 1024
# The walked paths are settled (and a paced caller's loop let run) this many at a time.
_WALK_PIECE: Final = 256


def _acceptable(relative: str, rules: IgnoreRules, skipped: list[str], *, is_dir: bool) -> bool:
    """The checks :func:`.tree_walk.walk` makes of a name, for one path reported by a watcher."""
    if "\\" in relative:
        skipped.append(relative)
        _log.warning("snapshot.skipped_name", path=relative, reason="backslash")
        return False
    try:
        relative.encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(relative).decode("utf-8", "backslashreplace")
        skipped.append(shown)
        _log.warning("snapshot.skipped_name", path=shown, reason="not valid UTF-8")
        return False
    if relative.startswith(OWN_PREFIXES) or relative.rpartition("/")[2].startswith(NEW_PREFIX):
        return False
    return not rules.ignored_path(relative, is_dir)


def scan(
    root: Path,
    settings: ScanSettings,
    previous: Mapping[str, ScannedFile] | None = None,
    previous_started_ns: int = 0,
    *,
    watcher: Watcher | None = None,
    keep_content: bool = True,
    progress: Progress | None = None,
    previous_clean: CleanFolders | None = None,
) -> Scan:
    """Scan ``root``; files whose stat data match ``previous`` (and are not racy) are not read.

    An unchanged file keeps its ``ScannedFile`` from ``previous`` (the same object),
    so callers can tell unchanged files apart by identity. ``watcher`` is armed on
    every folder of the tree (see :mod:`.watcher`). ``progress`` hears the ``scan``
    and ``read`` stages (see :mod:`cleveragents.domain.progress`).
    ``previous_clean``, the tables of the walk that made ``previous`` (its
    :attr:`Scan.clean`), lets whole unchanged folders be kept at once.
    """
    started = time.time_ns()
    found = Scan(files={}, started_ns=started)
    top = os.fspath(root)
    if watcher is not None and settings.gitignore:
        _watch_git_folders(watcher, top)
    rules = IgnoreRules(top, settings.excludes, gitignore=settings.gitignore)
    looked = Stage(progress, "scan")
    known = previous or {}
    racy_from = previous_started_ns - RACY_WINDOW_NS
    reuse = Reuse(known, racy_from, looked)
    if previous and previous_clean is not None and previous_clean.usable(racy_from):
        reuse.clean = previous_clean.folders
    found.files = reuse.files
    walked = walk(("", top), rules, found.skipped, watcher, reuse)
    renewed = _settle(found, walked, known, previous_started_ns, settings, keep_content, looked)
    # Every other path holds the very object it had in ``previous``.
    found.touched = renewed.union(reuse.gone(walked))
    found.clean = reuse.tables(found.files, started - RACY_WINDOW_NS)
    return found


def rescan(
    root: Path,
    settings: ScanSettings,
    previous: Scan,
    changes: Changes,
    watcher: Watcher,
    *,
    keep_content: bool = True,
    trusted: Mapping[str, ScannedFile | None] | None = None,
    progress: Progress | None = None,
    in_place: bool = False,
) -> Scan | None:
    """The scan of ``root`` after ``changes``, reported by ``watcher`` since ``previous``.

    Only the changed files (and every file with more than one hard link, whose other
    names may lie outside the tree) are stat'ed again, only the new or deleted
    folders walked again, and only the folders around them checked for emptiness;
    every other path keeps its entry from ``previous``. ``trusted`` holds what this
    library wrote since (a restore's files with their stat data, None for what it
    removed): a changed path whose stat data still match is not read again.

    A folder whose ``.gitignore`` changed is walked again whole; None when the
    rules of the whole tree may have changed (the top ``.gitignore`` or
    ``.git/info/exclude``): the caller walks the tree.

    The scan's ``before`` holds ``previous``'s entries at the touched paths. With
    ``in_place``, ``previous`` is the caller's to give away: its table of files
    becomes the new scan's, changed in place (a big tree's is not copied).
    """
    started = time.time_ns()
    prefix = os.fspath(root)
    ruled = RuleChanges()
    if settings.gitignore:
        ruled = rules_changed(changes.files | changes.folders)
        if ruled.git_folders:
            _watch_git_folders(watcher, prefix)
    rules = IgnoreRules(prefix, settings.excludes, gitignore=settings.gitignore)
    if ruled.whole or (ruled.git_folders and rules.git_excludes):
        return None
    files = previous.files if in_place else dict(previous.files)
    if in_place:
        previous.clean = None  # its files are about to change
    touched: set[str] = set()
    before: dict[str, ScannedFile | None] = {}
    found = Scan(
        files=files,
        started_ns=started,
        linked=set(previous.linked),
        touched=touched,
        before=before,
    )

    def note(path: str) -> None:  # before the path changes: what ``previous`` held there
        if path not in before:
            before[path] = files.get(path)

    walked: list[Walked] = []
    folders = sorted(f for f in changes.folders | ruled.folders if not git_internal(f))
    fresh = [f for i, f in enumerate(folders) if not _below_any(f, folders[:i])]
    index: FolderIndex | None = None
    if in_place and fresh:
        index = previous.folders = previous.folders or FolderIndex(files)
    for folder in fresh:
        below = f"{folder}/"
        gone = (
            index.below(folder, files)
            if index is not None
            else [p for p in files if p.startswith(below) or p == folder]
        )
        for path in gone:
            note(path)
            del files[path]
            touched.add(path)
        absolute = f"{prefix}/{folder}"
        if not _acceptable(folder, rules, found.skipped, is_dir=True) or not _is_folder(
            root, folder
        ):
            continue
        walked.extend(walk((below, absolute), rules, found.skipped, watcher))
    guard = SafeRoot(root)
    for path in sorted(changes.files | previous.linked):
        if git_internal(path):
            continue  # watched for .git/info/exclude only: never content
        note(path)
        files.pop(path, None)
        touched.add(path)
        if _below_any(path, fresh) or not _acceptable(path, rules, found.skipped, is_dir=False):
            continue
        try:
            absolute, there = guard.locate(path)
            if not there:
                continue
            info = os.lstat(absolute)
        except (OSError, ValueError):  # gone, a file above it, or a symlink above it
            continue
        if stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode):
            walked.append((path, absolute, info))
    found.linked = {p for p in found.linked if p in files}
    walked_paths = {path for path, _, _ in walked}
    touched.update(walked_paths)
    around = {path.rpartition("/")[0] for path in [*touched, *fresh]} - walked_paths - {""}
    for path in [*walked_paths, *around]:
        note(path)
    walked.extend(_empty_folders(guard, sorted(around), rules, found))
    touched.update(around)
    # Every walked path's previous entry is in ``before``: only those can be reused.
    known = {path: old for path, old in before.items() if old is not None}
    if trusted:
        known.update((path, file) for path, file in trusted.items() if file is not None)
    looked = Stage(progress, "scan", len(walked))
    _settle(found, walked, known, previous.started_ns, settings, keep_content, looked)
    if in_place and previous.folders is not None:
        # ``before`` names every path that changed: the index follows them alone.
        for path, old in before.items():
            if old is None and path in files:
                previous.folders.add(path)
            elif old is not None and path not in files:
                previous.folders.remove(path)
        found.folders = previous.folders
    return found


def _watch_git_folders(watcher: Watcher, root: str) -> None:
    """Watch the folders of ``.git/info/exclude``, before it is read (a walk never enters them)."""
    for folder in INFO_FOLDERS:
        watcher.watch(folder, f"{root}/{folder}")


def _empty_folders(
    guard: SafeRoot, candidates: Sequence[str], rules: IgnoreRules, found: Scan
) -> Iterator[Walked]:
    """The candidates that are empty folders now; the others lose an empty-folder entry."""
    for folder in candidates:
        old = found.files.get(folder)
        if old is not None and old.entry.kind is FileKind.DIR:
            del found.files[folder]  # back below if it is still empty
        if not _acceptable(folder, rules, [], is_dir=True):
            continue
        try:
            absolute, there = guard.locate(folder)
            if not there:
                continue
            info = os.lstat(absolute)
            if not stat.S_ISDIR(info.st_mode):
                continue
            with os.scandir(absolute) as entries:
                if next(entries, None) is not None:
                    continue
        except (OSError, ValueError):
            continue
        yield folder, absolute, info


def _below_any(path: str, folders: Sequence[str]) -> bool:
    return any(path.startswith(f"{folder}/") for folder in folders)


def _is_folder(root: Path, relative: str) -> bool:
    try:
        absolute, there = SafeRoot(root).locate(relative)
        return there and stat.S_ISDIR(os.lstat(absolute).st_mode)
    except (OSError, ValueError):
        return False


def _settle(
    found: Scan,
    walked: Sequence[Walked],
    known: Mapping[str, ScannedFile],
    previous_started_ns: int,
    settings: ScanSettings,
    keep_content: bool,
    looked: Stage,
) -> set[str]:
    """Add each walked file to ``found``: its previous entry when unchanged, else read it.

    ``keep_content=False`` hashes what it reads without keeping the bytes; else the
    bytes of small files are kept up to a budget (the others are read again when stored). ``looked``
    counts the walked paths; the files read are the ``read`` stage of its callback.
    Returns the paths given a new entry (read, or an empty folder new here).
    """
    racy_from = previous_started_ns - RACY_WINDOW_NS
    files = found.files
    linked = found.linked
    to_read: list[Walked] = []
    budget = ContentBudget(KEEP_BYTES if keep_content else 0)
    renewed: set[str] = set()
    known_get = known.get
    build = trusted_builder(ManifestEntry)  # the new entries of this scan share field names
    counted = 0
    # One tight loop per walked path: a full walk of a big tree spends its time here.
    for relative, path, info in walked:
        counted += 1
        if counted == _WALK_PIECE:
            looked.advance(counted)
            counted = 0
            pause()
        mode = info.st_mode
        key = stat_key_of(info)
        old = known_get(relative)
        if stat.S_ISDIR(mode):  # an empty folder: nothing to read
            if old is not None and old.entry.kind is FileKind.DIR:
                files[relative] = old
            else:
                files[relative] = ScannedFile(
                    manifest_entry(relative, 0, 0, EMPTY_TREE_SHA256, FileKind.DIR, build), key
                )
                renewed.add(relative)
            continue
        if info.st_nlink > 1:
            linked.add(relative)
        if old is not None and old.still_holds(key, racy_from):
            files[relative] = old  # the same object: callers skip it by identity
        else:
            to_read.append((relative, path, info))
            renewed.add(relative)
    looked.advance(counted)

    def read(item: Walked) -> ScannedFile:
        pause()
        relative, path, info = item
        digest, content, kind = read_content(path, info, settings.size_limit, budget)
        if not keep_content:
            content = None  # a symlink's target
        key = stat_key_of(info)
        return ScannedFile(
            manifest_entry(relative, info.st_size, info.st_mode, digest, kind, build),
            key,
            content,
        )

    looked.finish()
    reading = Stage(looked.callback, "read", len(to_read))
    total = sum(item[2].st_size for item in to_read)
    if len(to_read) > _THREADS_FROM_FILES or total > _THREADS_FROM_BYTES:
        # hashlib and file reads release the GIL: two threads keep both cores busy.
        with ThreadPoolExecutor(max_workers=helper_threads()) as pool:
            try:
                for item in mapped(pool, read, to_read):
                    files[item.entry.path] = item
                    reading.advance()
            except BaseException:  # a failed read or report: the other reads are not waited for
                pool.shutdown(cancel_futures=True)
                raise
    else:
        for each in to_read:
            item = read(each)
            files[item.entry.path] = item
            reading.advance()
    reading.finish()
    return renewed
