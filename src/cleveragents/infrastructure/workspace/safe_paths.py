"""Resolving workspace-relative paths under a root without ever leaving it."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from cleveragents.domain.models.core._types import check_workspace_path

_CHUNK = 1 << 20


class UnsafePathError(ValueError):
    """A path that would leave its root or pass through a symlink."""


def resolve_under(root: Path, relative: str) -> Path:
    """``root / relative`` after checking that no existing component is a symlink.

    ``relative`` must be a workspace path (no absolute path, ``..``, empty segment).
    """
    return SafeRoot(root).resolve(relative)


class SafeRoot:
    """:func:`resolve_under` for many paths under one root, each folder checked once.

    A folder's verdict (missing, or there and not a symlink) is remembered for the
    life of the object, so make a new one after changing the tree's folders. The
    last component of every path is still checked on each call.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._prefix = os.fspath(root)
        self._folders: dict[str, bool] = {"": True}  # folder -> it exists

    def resolve(self, relative: str) -> Path:
        """``root / relative``; ``UnsafePathError`` for a bad path or one through a symlink."""
        return Path(self.locate(relative)[0])

    def locate(self, relative: str) -> tuple[str, bool]:
        """:meth:`resolve` as a string, and whether anything (file, folder, link) is there now."""
        try:
            check_workspace_path(relative)
        except ValueError as exc:
            raise UnsafePathError(str(exc)) from None
        there = self._exists(relative.rpartition("/")[0], relative) and self._refuse_link(
            relative, relative
        )
        return f"{self._prefix}/{relative}", there

    def _exists(self, folder: str, requested: str) -> bool:
        known = self._folders.get(folder)
        if known is None:
            known = self._exists(folder.rpartition("/")[0], requested) and self._refuse_link(
                folder, requested
            )
            self._folders[folder] = known
        return known

    def _refuse_link(self, component: str, requested: str) -> bool:
        """True when something that is not a symlink is there, False when nothing is."""
        try:
            mode = os.lstat(f"{self._prefix}/{component}").st_mode
        except FileNotFoundError:
            return False  # nothing below a missing folder can be a symlink
        if stat.S_ISLNK(mode):
            where = self.root.joinpath(*component.split("/"))
            raise UnsafePathError(f"{requested!r} passes through the symlink {where}")
        return True


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to ``fd`` (``os.write`` may take only part of it)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def sha256_file(path: Path) -> str:
    """The sha256 hex digest of a regular file's content (never follows a symlink)."""
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def regular_file_hash(path: Path) -> str | None:
    """The hash of a regular file, None when nothing is there; ``OSError`` for anything else."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(mode):
        raise IsADirectoryError(f"{path} is not a regular file")
    return sha256_file(path)


def existing_directory(value: object, name: str) -> Path:
    """``value`` as a Path when it names an existing directory, else ``ValueError``."""
    if not isinstance(value, str | os.PathLike):
        raise ValueError(f"{name} must be a path, got {type(value).__name__}")
    path = Path(value)
    if not path.is_dir():
        raise ValueError(f"{name} is not a directory: {path}")
    return path
