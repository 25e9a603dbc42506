"""Walking a sandbox: which files it holds, their content hashes and stat data.

Like git's index, a file whose size, mtime, ctime, inode and mode match the
previous scan is not read again, unless it is *racily clean*: modified so close
to the previous scan's start that a later write could have left the same
timestamps. Those are always re-hashed.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Final

from cleveragents._logging import get_logger
from cleveragents.domain.models.core.checkpoint import FileKind, ManifestEntry
from cleveragents.infrastructure.database.trusted import from_trusted

DEFAULT_SIZE_LIMIT: Final = 100 * 1024 * 1024
ALWAYS_EXCLUDED: Final = (".git",)
# Timestamps come from a coarse kernel clock that may lag the fine one by a tick.
RACY_WINDOW_NS: Final = 50_000_000
_READ_CHUNK: Final = 1 << 20

_log = get_logger(__name__)

StatKey = tuple[int, int, int, int, int]  # size, mtime_ns, ctime_ns, inode, mode


@dataclass
class ScannedFile:
    """A file found by a scan; ``content`` is set only when it was read."""

    entry: ManifestEntry
    stat_key: StatKey
    content: bytes | None = None


@dataclass
class Scan:
    """The result of one scan of a tree."""

    files: dict[str, ScannedFile]
    started_ns: int
    skipped: list[str] = field(default_factory=list)

    def cache_bytes(self) -> bytes:
        """The stat cache to hand to the next scan of the same tree."""
        table = {
            path: [*found.stat_key, found.entry.sha256, found.entry.kind.value]
            for path, found in self.files.items()
        }
        return json.dumps(table, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class ScanSettings:
    """What a scan skips: excluded globs and the size above which content is not kept."""

    excludes: tuple[str, ...] = ()
    size_limit: int = DEFAULT_SIZE_LIMIT

    def excluded_path(self, relative: str) -> bool:
        """True when the file or any folder above it is excluded."""
        parts = relative.split("/")
        return any(self.excluded("/".join(parts[: i + 1])) for i in range(len(parts)))

    def excluded(self, relative: str) -> bool:
        """True when this path itself (a file or a folder) matches an exclude."""
        name = relative.rpartition("/")[2]
        if name in ALWAYS_EXCLUDED:
            return True
        return any(fnmatchcase(relative, p) or fnmatchcase(name, p) for p in self.excludes)


def _stat_key(info: os.stat_result) -> StatKey:
    return (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino, info.st_mode)


def load_cache(data: bytes | None) -> dict[str, tuple[StatKey, str, str]]:
    """Parse :meth:`Scan.cache_bytes` output back into (stat key, sha256, kind) by path."""
    if not data:
        return {}
    table: dict[str, list[object]] = json.loads(data)
    parsed: dict[str, tuple[StatKey, str, str]] = {}
    for path, row in table.items():
        size, mtime, ctime, inode, mode, sha256, kind = row
        key = (int(str(size)), int(str(mtime)), int(str(ctime)), int(str(inode)), int(str(mode)))
        parsed[path] = (key, str(sha256), str(kind))
    return parsed


def _walk(root: Path, settings: ScanSettings, skipped: list[str]) -> Iterable[tuple[str, Path]]:
    """(relative POSIX path, absolute path) of every regular file and symlink, not followed."""
    stack = [("", root)]
    while stack:
        prefix, folder = stack.pop()
        with os.scandir(folder) as entries:
            for item in entries:
                try:
                    item.name.encode("utf-8")
                except UnicodeEncodeError:
                    shown = os.fsencode(item.path).decode("utf-8", "backslashreplace")
                    skipped.append(shown)
                    _log.warning("snapshot.skipped_name", path=shown, reason="not valid UTF-8")
                    continue
                if "\\" in item.name:
                    # A workspace path cannot hold one: such a file could never be restored.
                    skipped.append(item.path)
                    _log.warning("snapshot.skipped_name", path=item.path, reason="backslash")
                    continue
                relative = f"{prefix}{item.name}"
                if settings.excluded(relative):
                    continue
                if item.is_dir(follow_symlinks=False):
                    stack.append((f"{relative}/", Path(item.path)))
                elif item.is_file(follow_symlinks=False) or item.is_symlink():
                    yield relative, Path(item.path)


def _read(path: Path, info: os.stat_result, limit: int) -> tuple[str, bytes | None, FileKind]:
    if stat.S_ISLNK(info.st_mode):
        target = os.fsencode(path.readlink())
        return hashlib.sha256(target).hexdigest(), target, FileKind.SYMLINK
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as handle:
        if info.st_size > limit:
            digest = hashlib.sha256()
            for chunk in iter(lambda: handle.read(_READ_CHUNK), b""):
                digest.update(chunk)
            _log.warning("snapshot.large_file", path=str(path), size=info.st_size, limit=limit)
            return digest.hexdigest(), None, FileKind.LARGE
        content = handle.read()
    return hashlib.sha256(content).hexdigest(), content, FileKind.FILE


def scan(
    root: Path,
    settings: ScanSettings,
    cache: Mapping[str, tuple[StatKey, str, str]] | None = None,
    cache_started_ns: int = 0,
) -> Scan:
    """Scan ``root``; files whose stat data match ``cache`` (and are not racy) are not read."""
    started = time.time_ns()
    skipped: list[str] = []
    known = cache or {}
    racy_from = cache_started_ns - RACY_WINDOW_NS
    files: dict[str, ScannedFile] = {}
    to_read: list[tuple[str, Path, os.stat_result]] = []
    for relative, path in _walk(root, settings, skipped):
        info = path.lstat()
        key = _stat_key(info)
        cached = known.get(relative)
        if cached and cached[0] == key and max(key[1], key[2]) < racy_from:
            files[relative] = ScannedFile(
                _entry(relative, info, cached[1], FileKind(cached[2])), key
            )
        else:
            to_read.append((relative, path, info))

    def read(item: tuple[str, Path, os.stat_result]) -> ScannedFile:
        relative, path, info = item
        digest, content, kind = _read(path, info, settings.size_limit)
        return ScannedFile(_entry(relative, info, digest, kind), _stat_key(info), content)

    # hashlib and file reads release the GIL: two threads keep both cores busy.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for found in pool.map(read, to_read):
            files[found.entry.path] = found
    return Scan(files=files, started_ns=started, skipped=skipped)


def _entry(relative: str, info: os.stat_result, digest: str, kind: FileKind) -> ManifestEntry:
    executable = kind is not FileKind.SYMLINK and bool(info.st_mode & stat.S_IXUSR)
    return from_trusted(
        ManifestEntry,
        {
            "path": relative,
            "kind": kind,
            "sha256": digest,
            "size": info.st_size,
            "executable": executable,
        },
    )
