"""Listing a sandbox tree: every file, symlink and empty folder, with its ``lstat``.

The scanner (:mod:`.scanner`) compares what this yields with its previous scan.
Each folder is listed and its entries stat'ed through the folder's descriptor,
so each ``lstat`` resolves one name instead of the whole path again: on a big
tree the walk spends its time in those system calls.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Final

from cleveragents._logging import get_logger
from cleveragents.domain.workspace import ALWAYS_EXCLUDED, NEW_PREFIX, OWN_PREFIXES
from cleveragents.domain.workspace_ports import Watcher
from cleveragents.infrastructure.workspace.ignore_rules import RULES_FILE, IgnoreRules, Layers

__all__ = ["walk"]

_log = get_logger(__name__)
_FOLDER_FLAGS: Final = os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)


def walk(
    start: tuple[str, str],
    rules: IgnoreRules,
    skipped: list[str],
    watcher: Watcher | None = None,
) -> Iterator[tuple[str, str, os.stat_result]]:
    """(relative POSIX path, absolute path, lstat) of every file, symlink and empty folder.

    ``start`` is (relative prefix, absolute path) of the folder to walk. Symlinks are
    never followed; ``DirEntry`` gives the kind of most entries without a system
    call, so each file costs one ``lstat``. A folder that holds nothing at all (not
    even an ignored file) is yielded itself. A ``watcher`` watches each folder
    before it is listed, so no change after the listing goes unreported. Each
    folder's ``.gitignore`` is read when the folder is entered; an ignored folder
    is not entered (see :mod:`.ignore_rules`).
    """
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
            with os.scandir(fd) as listing:
                entries = list(listing)
            if inherited is None:
                layers = rules.layers_in(prefix)
            else:
                has_rules = rules.gitignore and any(item.name == RULES_FILE for item in entries)
                layers = rules.enter(prefix, inherited, listed=has_rules)
            for item in entries:
                name = item.name
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
                relative = f"{prefix}{name}"
                if name.startswith(NEW_PREFIX) or (not prefix and name.startswith(OWN_PREFIXES)):
                    continue
                is_dir = item.is_dir(follow_symlinks=False)
                if (layers or name in ALWAYS_EXCLUDED) and rules.ignored(relative, is_dir, layers):
                    continue
                if is_dir:
                    stack.append((f"{relative}/", f"{folder}/{name}", layers))
                elif item.is_file(follow_symlinks=False) or item.is_symlink():
                    yield relative, f"{folder}/{name}", item.stat(follow_symlinks=False)
            if not entries and prefix:
                yield prefix[:-1], folder, os.lstat(folder)
        finally:
            os.close(fd)
