"""Reading a scanned file's content: its hash, and its bytes while a budget lasts.

A scan for a snapshot keeps the bytes of small files (the store then needs no
second read of them) up to a total; every other file is hashed a piece at a time
and read again when it is stored, so a scan's memory does not grow with the
workspace's bytes.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from typing import Final

from cleveragents._logging import get_logger
from cleveragents.domain.models.core.checkpoint import FileKind
from cleveragents.infrastructure.workspace.safe_paths import link_target

_READ_CHUNK: Final = 1 << 20
# What a scan for a snapshot keeps of the files it reads: at most this much in all,
# and only files of at most KEEP_FILE_BYTES.
KEEP_BYTES: Final = 8 * 1024 * 1024
KEEP_FILE_BYTES: Final = 1024 * 1024

_log = get_logger(__name__)


class ContentBudget:
    """How much content a scan keeps in memory for the store; the rest is read again then.

    Small files are kept while the budget lasts (the store needs no second read of
    them); everything else is hashed a piece at a time, so a scan's memory does not
    grow with the workspace's bytes.
    """

    def __init__(self, total: int) -> None:
        self._left = total
        self._lock = threading.Lock()

    def take(self, size: int) -> bool:
        if size > KEEP_FILE_BYTES:
            return False
        with self._lock:
            if size > self._left:
                return False
            self._left -= size
            return True


def read_content(
    path: str, info: os.stat_result, limit: int, budget: ContentBudget
) -> tuple[str, bytes | None, FileKind]:
    if stat.S_ISLNK(info.st_mode):
        target = link_target(path)
        return hashlib.sha256(target).hexdigest(), target, FileKind.SYMLINK
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as handle:
        if info.st_size > limit or not budget.take(info.st_size):
            digest = hashlib.sha256()
            for chunk in iter(lambda: handle.read(_READ_CHUNK), b""):
                digest.update(chunk)
            if info.st_size <= limit:
                return digest.hexdigest(), None, FileKind.FILE  # read again when stored
            _log.warning("snapshot.large_file", path=path, size=info.st_size, limit=limit)
            return digest.hexdigest(), None, FileKind.LARGE
        content = handle.read()
    return hashlib.sha256(content).hexdigest(), content, FileKind.FILE
