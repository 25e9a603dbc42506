"""What one path of a tree holds now: nothing, a folder, a file or a symlink, with its hash."""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cleveragents.domain.models.core.change import EntryKind
from cleveragents.infrastructure.workspace.safe_paths import SafeRoot, link_target, sha256_file


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


def read_state(guard: SafeRoot, path: str) -> PathState | None:
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
