"""Resolving workspace-relative paths under a root without ever leaving it."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from cleveragents.domain.models.core._types import check_workspace_path

_CHUNK = 1 << 20


class UnsafePathError(ValueError):
    """A path that would leave its root, or be reached through a symlinked folder."""


class SafeRoot:
    """Paths under one root, each checked to pass through no symlinked folder (each once).

    ``relative`` must be a workspace path (no absolute path, ``..``, empty segment).
    Its last component may be anything, a symlink included: it is what a caller
    reads, replaces or removes, never something it writes through.

    A folder's verdict (missing, or there and not a symlink) is remembered for the
    life of the object, so make a new one after changing the tree's folders. The
    last component of every path is looked at again on each call.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._prefix = os.fspath(root)
        self._folders: dict[str, bool] = {"": True}  # folder -> it exists

    def locate(self, relative: str) -> tuple[str, bool]:
        """``root / relative``, and whether anything (file, folder, link) is there now.

        ``UnsafePathError`` for a bad path or one through a symlinked folder.
        """
        try:
            check_workspace_path(relative)
        except ValueError as exc:
            raise UnsafePathError(str(exc)) from None
        absolute = f"{self._prefix}/{relative}"
        if not self._exists(relative.rpartition("/")[0], relative):
            return absolute, False
        return absolute, os.path.lexists(absolute)

    def _exists(self, folder: str, requested: str) -> bool:
        known = self._folders.get(folder)
        if known is None:
            known = self._exists(folder.rpartition("/")[0], requested) and self._refuse_link(
                folder, requested
            )
            self._folders[folder] = known
        return known

    def _refuse_link(self, folder: str, requested: str) -> bool:
        """True when something is at ``folder``, False when nothing is; a symlink raises."""
        try:
            mode = os.lstat(f"{self._prefix}/{folder}").st_mode
        except FileNotFoundError:
            return False  # nothing below a missing folder can be a symlink
        if stat.S_ISLNK(mode):
            where = self.root.joinpath(*folder.split("/"))
            raise UnsafePathError(f"{requested!r} would be reached through the symlink {where}")
        return True


def link_target(path: str) -> bytes:
    """A symlink's target, byte for byte as the kernel keeps it.

    Not ``Path.readlink``: it normalises the target, dropping a trailing ``/`` or a
    leading ``./``, and a restore must give back exactly what was there.
    """
    return os.readlink(os.fsencode(path))


def make_link(target: bytes, place: str) -> None:
    """Create the symlink ``place`` pointing at ``target`` (bytes, unchanged)."""
    os.symlink(target, os.fsencode(place))


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to ``fd`` (``os.write`` may take only part of it)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_new(place: str, data: bytes, mode: int) -> os.stat_result:
    """Create ``place`` holding ``data`` with exactly ``mode`` (whatever the umask); its stat."""
    return write_pieces(place, (data,), mode)


def write_pieces(place: str, pieces: Iterable[bytes], mode: int) -> os.stat_result:
    """Create ``place`` holding ``pieces`` one after the other, with exactly ``mode``; its stat.

    Created with ``mode`` less the umask, never more open than wanted; changed to
    ``mode`` only when the umask took bits away (a metadata write saved otherwise).
    """
    fd = os.open(place, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        for piece in pieces:
            write_all(fd, piece)
        info = os.fstat(fd)
        if stat.S_IMODE(info.st_mode) != mode:
            os.fchmod(fd, mode)
            info = os.fstat(fd)
        return info
    finally:
        os.close(fd)


class FileSource:
    """A file's content read again when it is stored, a piece at a time (``ContentSource``).

    Opened without following a symlink; the store checks what it reads against the
    hash the scan recorded.
    """

    def __init__(self, path: str, size: int) -> None:
        self._path = path
        self._size = size

    @property
    def size(self) -> int:
        return self._size

    def pieces(self, size: int) -> Iterator[bytes]:
        fd = os.open(self._path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as handle:
            while piece := handle.read(size):
                yield piece


def sha256_file(path: Path) -> str:
    """The sha256 hex digest of a regular file's content (never follows a symlink)."""
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def existing_directory(value: object, name: str) -> Path:
    """``value`` as a Path when it names an existing directory, else ``ValueError``."""
    if not isinstance(value, str | os.PathLike):
        raise ValueError(f"{name} must be a path, got {type(value).__name__}")
    path = Path(value)
    if not path.is_dir():
        raise ValueError(f"{name} is not a directory: {path}")
    return path
