"""Listing a sandbox tree: every file, symlink and empty folder, with its ``lstat``.

The scanner (:mod:`.scanner`) compares what this finds with its previous scan.
Each folder is listed and its entries stat'ed through the folder's descriptor,
so each ``lstat`` resolves one name instead of the whole path again.

A full walk of a big tree spends most of its time on files that did not change,
so those take the shortest way: handed a :class:`Reuse`, the walk compares each
file's stat data with the previous scan's entry itself and keeps that entry, with
no absolute path built and nothing handed on. Shorter still, the previous walk
left a table per folder of the stat data its files had (:class:`CleanFolders`):
a folder whose files all match theirs, by name, is kept whole, and its table is
handed on to the next walk. Everything else (new and changed files, folders,
empty folders) is returned for the scanner to settle. The names of a folder are
checked as one string first: only a folder whose names may need skipping has
them checked one by one.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from cleveragents._logging import get_logger
from cleveragents._pacing import PIECE, paced, pause
from cleveragents.domain.models.core.checkpoint import FileKind
from cleveragents.domain.progress import Stage
from cleveragents.domain.workspace import (
    ALWAYS_EXCLUDED,
    NEW_PREFIX,
    OWN_PREFIXES,
    CleanFolders,
    ScannedFile,
    StatKey,
    stat_key_of,
)
from cleveragents.domain.workspace_ports import Watcher
from cleveragents.infrastructure.workspace.ignore_rules import RULES_FILE, IgnoreRules, Layers

__all__ = ["Reuse", "Walked", "walk"]

_log = get_logger(__name__)
_FOLDER_FLAGS: Final = os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)

# (relative POSIX path, absolute path, lstat) of one path the scanner settles.
Walked = tuple[str, str, os.stat_result]


@dataclass(slots=True)
class Reuse:
    """The previous scan's entries, for a walk to keep those of unchanged files.

    A file is unchanged when its stat data are the entry's and it is not racily
    clean (see :mod:`.scanner`). ``files``, the new scan's table, starts as a copy
    of ``known``, so an unchanged file's entry is kept by leaving it where it is;
    ``kept`` lists their paths. A file with more than one hard link always goes
    back to the scanner, which notes it. ``looked`` hears the count of kept files.

    ``clean``, the previous walk's tables (see :class:`CleanFolders`), lets a folder
    whose files all match be kept whole, with no path built for any of them: it is
    then in ``whole``. The other folders the walk looked at file by file are in
    ``looked_at``, with their names, for :meth:`tables` to list again.
    """

    known: Mapping[str, ScannedFile]
    racy_from: int
    looked: Stage
    clean: Mapping[str, dict[str, StatKey]] = field(default_factory=dict)
    files: dict[str, ScannedFile] = field(init=False)
    kept: list[str] = field(default_factory=list)
    whole: dict[str, dict[str, StatKey]] = field(default_factory=dict)
    looked_at: list[tuple[str, list[str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.files = dict(self.known)

    def gone(self, walked: Sequence[Walked]) -> list[str]:
        """The previous paths the walk neither kept nor returned in ``walked``, taken
        out of ``files``."""
        # Counted first: the walk kept or returned each path at most once, so a
        # previous path was not found only when fewer were found than known.
        known = self.known
        kept = len(self.kept) + sum(map(len, self.whole.values()))
        if kept + sum(1 for path, _, _ in walked if path in known) == len(known):
            return []
        found = set(self.kept)
        for prefix, table in self.whole.items():
            found.update(prefix + name for name in table)
        found.update(path for path, _, _ in walked)
        gone = [path for path in known if path not in found]
        for path in gone:
            del self.files[path]
        return gone

    def tables(self, files: Mapping[str, ScannedFile], racy_from: int) -> CleanFolders:
        """The tables for the next walk, from ``files`` as the scan left them: the
        folders kept whole hand theirs on, the others are listed again."""
        folders = dict(self.whole)
        for prefix, names in paced(self.looked_at):
            table: dict[str, StatKey] = {}
            for name in names:
                entry = files.get(prefix + name)
                if (
                    entry is not None
                    and entry.entry.kind is not FileKind.DIR
                    and entry.still_holds(entry.stat_key, racy_from)
                ):
                    table[name] = entry.stat_key
            folders[prefix] = table
        return CleanFolders(racy_from, folders)


def walk(
    start: tuple[str, str],
    rules: IgnoreRules,
    skipped: list[str],
    watcher: Watcher | None = None,
    reuse: Reuse | None = None,
) -> list[Walked]:
    """Every file, symlink and empty folder below ``start`` whose entry ``reuse`` did not keep.

    ``start`` is (relative prefix, absolute path) of the folder to walk. Symlinks are
    never followed. A folder that holds nothing at all (not even an ignored file) is
    returned itself. A ``watcher`` watches each folder before it is listed, so no
    change after the listing goes unreported. Each folder's ``.gitignore`` is read
    when the folder is entered; an ignored folder is not entered (see
    :mod:`.ignore_rules`). An entry gone between its folder's listing and its
    ``lstat`` is not there.
    """
    nothing: dict[str, ScannedFile] = {}
    known_get = (reuse.known if reuse is not None else nothing).get
    racy_from = reuse.racy_from if reuse is not None else 0
    kept: list[str] = reuse.kept if reuse is not None else []
    keep = kept.append
    ignored = rules.ignored
    lstat = os.lstat
    folder_type, file_type, link_type = stat.S_IFDIR, stat.S_IFREG, stat.S_IFLNK
    type_bits = 0o170000  # stat.S_IFMT's mask
    walked: list[Walked] = []
    prefix, folder = start
    stack: list[tuple[str, str, Layers | None]] = [(prefix, folder, None)]
    while stack:
        prefix, folder, inherited = stack.pop()
        if watcher is not None:
            watcher.watch(prefix, folder)
        # Listed and stat'ed through the folder's descriptor: each lstat resolves one
        # name, not the whole path again.
        fd = os.open(folder, _FOLDER_FLAGS)
        try:
            names = os.listdir(fd)
            if inherited is None:
                layers = rules.layers_in(prefix)
            else:
                has_rules = rules.gitignore and RULES_FILE in names
                layers = rules.enter(prefix, inherited, listed=has_rules)
            if not names and prefix:
                walked.append((prefix[:-1], folder, os.lstat(folder)))
                continue
            if not _plain(names, prefix):
                names = _acceptable(names, prefix, folder, skipped)
            judged = bool(layers) or any(name in names for name in ALWAYS_EXCLUDED)
            if reuse is not None:
                table = reuse.clean.get(prefix)
                judge = ignored if judged else None
                below = (
                    None if table is None else _kept_whole(names, fd, table, prefix, judge, layers)
                )
                if table is not None and below is not None:
                    reuse.whole[prefix] = table
                    reuse.looked.advance(len(table))
                    for name in below:
                        stack.append((f"{prefix}{name}/", f"{folder}/{name}", layers))
                    continue
                reuse.looked_at.append((prefix, names))
            for first in range(0, len(names), PIECE):
                pause()
                before = len(kept)
                for name in names[first : first + PIECE]:
                    try:
                        info = lstat(name, dir_fd=fd)
                    except FileNotFoundError:
                        continue
                    relative = prefix + name
                    mode = info.st_mode
                    kind = mode & type_bits
                    if judged and ignored(relative, kind == folder_type, layers):
                        continue
                    key = stat_key_of(info)
                    old = known_get(relative)
                    if (
                        old is not None
                        and kind != folder_type  # an empty folder's entry: listed below
                        and info.st_nlink == 1
                        and old.still_holds(key, racy_from)
                    ):
                        keep(relative)  # its entry stays in the table
                    elif kind == folder_type:
                        stack.append((f"{relative}/", f"{folder}/{name}", layers))
                    elif kind in (file_type, link_type):
                        walked.append((relative, f"{folder}/{name}", info))
                if reuse is not None and len(kept) != before:
                    reuse.looked.advance(len(kept) - before)
        finally:
            os.close(fd)
    return walked


def _kept_whole(
    names: list[str],
    fd: int,
    table: Mapping[str, StatKey],
    prefix: str,
    ignored: Callable[[str, bool, Layers], bool] | None,
    layers: Layers,
) -> list[str] | None:
    """The names of the folder's subfolders, when every other entry it lists (ignored
    ones aside) is a file with one link whose stat data are in ``table``, and every
    file of ``table`` was listed: its entries are then all kept. None otherwise (or
    when an entry went away meanwhile): the folder is then looked at file by file.
    ``ignored`` is None when no name of the folder needs the ignore rules.

    The stat data are compared as a whole, no path built: the shortest way through
    an unchanged folder.
    """
    matched = 0
    below: list[str] = []
    expected = table.get
    lstat = os.lstat
    for first in range(0, len(names), PIECE):
        pause()
        for name in names[first : first + PIECE]:
            try:
                info = lstat(name, dir_fd=fd)
            except FileNotFoundError:
                return None
            mode = info.st_mode
            is_folder = stat.S_ISDIR(mode)
            if ignored is not None and ignored(prefix + name, is_folder, layers):
                continue
            if info.st_nlink == 1 and expected(name) == stat_key_of(info):
                matched += 1
            elif is_folder:
                below.append(name)
            else:
                return None
    return below if matched == len(table) else None


def _plain(names: list[str], prefix: str) -> bool:
    """True when no name of a folder below the top needs a look of its own.

    Checked on all the names at once: a name that might be skipped (not ASCII, a
    backslash, a staging name of ours) sends the folder to :func:`_acceptable`.
    """
    joined = "/".join(names)
    return bool(prefix) and joined.isascii() and "\\" not in joined and NEW_PREFIX not in joined


def _acceptable(names: list[str], prefix: str, folder: str, skipped: list[str]) -> list[str]:
    """The names that can be workspace paths; each one that cannot is noted in ``skipped``."""
    kept = []
    for name in names:
        if not name.isascii():
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:
                shown = os.fsencode(f"{folder}/{name}").decode("utf-8", "backslashreplace")
                skipped.append(shown)
                _log.warning("snapshot.skipped_name", path=shown, reason="not valid UTF-8")
                continue
        if "\\" in name:
            # A workspace path cannot hold one: such a file could never be restored.
            shown = f"{folder}/{name}"
            skipped.append(shown)
            _log.warning("snapshot.skipped_name", path=shown, reason="backslash")
            continue
        if name.startswith(NEW_PREFIX) or (not prefix and name.startswith(OWN_PREFIXES)):
            continue
        kept.append(name)
    return kept
