"""Resolving workspace-relative paths under a root without ever leaving it."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path, PurePosixPath

from cleveragents.domain.models.core._types import check_workspace_path

_CHUNK = 1 << 20


class UnsafePathError(ValueError):
    """A path that would leave its root or pass through a symlink."""


def resolve_under(root: Path, relative: str) -> Path:
    """``root / relative`` after checking that no existing component is a symlink.

    ``relative`` must be a workspace path (no absolute path, ``..``, empty segment).
    """
    try:
        check_workspace_path(relative)
    except ValueError as exc:
        raise UnsafePathError(str(exc)) from None
    parts = PurePosixPath(relative).parts
    current = root
    for part in parts:
        current = current / part
        try:
            mode = current.lstat().st_mode
        except FileNotFoundError:
            break  # nothing below a missing folder can be a symlink
        if stat.S_ISLNK(mode):
            raise UnsafePathError(f"{relative!r} passes through the symlink {current}")
    return root.joinpath(*parts)


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
