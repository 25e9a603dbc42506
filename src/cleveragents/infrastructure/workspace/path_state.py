"""What one path of a tree holds now: nothing, a folder, a file or a symlink, with its hash."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from cleveragents.domain.models.core.change import EntryKind
from cleveragents.domain.workspace import PathState
from cleveragents.domain.workspace_ports import PathGuard
from cleveragents.infrastructure.workspace.safe_paths import link_target, sha256_file

__all__ = ["PathState", "read_state"]


def read_state(guard: PathGuard, path: str) -> PathState | None:
    """The state of ``path`` under ``guard``'s root, or None when nothing is there.

    ``UnsafePathError`` when a folder on the way is a symlink; ``OSError`` when it
    cannot be read.
    """
    absolute, there = guard.locate(path)
    if not there:
        return None
    info = os.lstat(absolute)
    if stat.S_ISLNK(info.st_mode):
        target = link_target(absolute)
        return PathState(EntryKind.SYMLINK, hashlib.sha256(target).hexdigest(), None)
    if stat.S_ISREG(info.st_mode):
        return PathState(EntryKind.FILE, sha256_file(Path(absolute)), stat.S_IMODE(info.st_mode))
    return PathState(None, None, None)
